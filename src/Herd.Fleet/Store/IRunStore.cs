using Herd.Fleet.Engines;
using Herd.Fleet.Jobs;

namespace Herd.Fleet.Store;

/// <summary>
/// The canonical state of one run (spec §7.1): the run row, the plan, every attempt and the lock. Every state
/// transition is one committed transaction, so a crash or <c>kill -9</c> leaves the state before or after it, never
/// between. SQLite (<see cref="SqliteRunStore"/>) is the embedded default; a shared store for many machines implements
/// the same contract.
/// </summary>
public interface IRunStore : IDisposable
{
    /// <summary>Where the run lives, for messages: a directory, or a redacted connection string.</summary>
    string Location { get; }

    /// <summary>The run row; null while no run was created here.</summary>
    RunInfo? ReadRun();

    /// <summary>Creates the run and stores its whole plan in one transaction: the run exists with every task, or not at all.</summary>
    void CreateRun(RunInfo info, IReadOnlyList<FleetTask> plan);

    /// <summary>Stores the run's definition (issue #18): once for a run an older Herd created, which had none.</summary>
    void WriteDefinition(string json);

    /// <summary>Adds tasks not yet stored (by key); returns how many were new. One transaction.</summary>
    int AddTasks(IReadOnlyList<FleetTask> tasks);

    void SetStatus(RunStatus status, int? exitCode);

    (RunStatus Status, int? ExitCode) ReadStatus();

    /// <summary>Takes the run, unless a live orchestrator holds it.</summary>
    /// <param name="isAlive">Whether a pid on this host is running (injected for tests).</param>
    /// <exception cref="Herd.Agent.HerdFatalException">The holder's heartbeat is fresh and its process is alive.</exception>
    void AcquireLock(int pid, string host, DateTimeOffset now, TimeSpan staleAfter, Func<int, bool> isAlive);

    void Heartbeat(DateTimeOffset now);

    void ReleaseLock();

    IReadOnlyList<StoredTask> LoadTasks();

    /// <summary>Spec §7.1: attempts without a terminal event become <c>interrupted</c>; their tasks go back to pending without using a retry.</summary>
    int RecoverInterrupted(DateTimeOffset now);

    /// <summary>Finished tasks whose class matches go back to pending with a fresh retry allowance; their records are withdrawn.</summary>
    int Requeue(Func<OutcomeClass, bool> classMatches);

    void StartAttempt(string key, int n, int slot, DateTimeOffset start, string sessionId);

    /// <summary>Adds a finished API call's cost to a running attempt, so a killed attempt keeps what it spent.</summary>
    void AddAttemptCost(string key, int n, double costUsd);

    /// <summary>
    /// Ends an attempt. With <paramref name="buildRecord"/> the task becomes final and its one record is saved in the
    /// same transaction; returns that record, or null when the task was requeued.
    /// </summary>
    string? FinishAttempt(string key, int n, TaskOutcome outcome, bool usedRetry, Func<IReadOnlyList<AttemptRow>, string>? buildRecord);

    IReadOnlyList<AttemptRow> Attempts(string key);

    /// <summary>Every final record in the order tasks finished: what results.ndjson is rebuilt from.</summary>
    IReadOnlyList<string> FinalRecords();

    /// <summary>
    /// <see cref="FinalRecords"/> read one at a time, for rewriting results.ndjson without holding every record (issue #23).
    /// The default reads them all first.
    /// </summary>
    IEnumerable<string> StreamFinalRecords() => FinalRecords();

    /// <summary>Everything spent so far, kept in memory and readable without waiting for a transaction.</summary>
    double SpentUsd { get; }

    double TotalSpentUsd();

    /// <summary>
    /// Rewrites the run's live snapshot (limit, pause, budget, running attempts' turns) for watchers in other processes
    /// (<c>herd runs watch</c>). Optional: a store without it keeps nothing, and watchers show what the other tables hold.
    /// </summary>
    void WriteLive(DateTimeOffset now, string snapshotJson)
    {
    }

    /// <summary>
    /// A fleet-wide pause began (a 429 with <c>retry-after</c>): an <c>events</c> row of kind <c>pause</c> whose detail is
    /// <c>"&lt;until, ISO 8601&gt; &lt;reason&gt;"</c>, which the HTML report's timeline draws. Optional, like <see cref="WriteLive"/>.
    /// </summary>
    void RecordPause(DateTimeOffset at, DateTimeOffset until, string reason)
    {
    }

    RunTotals Totals();

    /// <summary>
    /// Every attempt of every task in one read, for the reports' timeline. Optional: null when the store has none, and
    /// the reports use the attempts inside each record (the SQLite run directory is read by <c>RunReader</c> directly).
    /// </summary>
    IReadOnlyDictionary<string, IReadOnlyList<AttemptRow>>? AllAttempts() => null;

    /// <summary>
    /// Every final record in finishing order with its attempts, for reports of any size (issue #23). The default reads
    /// everything first; a store that can stream (PostgreSQL) holds one task at a time.
    /// </summary>
    IEnumerable<(string Record, IReadOnlyList<AttemptRow> Attempts)> StreamFinal()
    {
        var all = AllAttempts();
        foreach (var record in FinalRecords())
        {
            var key = StoreJson.KeyOf(record);
            yield return (record, all is not null && all.TryGetValue(key, out var list) ? list : Attempts(key));
        }
    }

    /// <summary>The run's budget ceiling when the store keeps it (the shared store's ledger); optional, like <see cref="AllAttempts"/>.</summary>
    double? StoredCeilingUsd() => null;
}

/// <summary>Where a task is in its life. Stored as text at the SQL edge only.</summary>
public enum TaskState
{
    Pending,
    Running,
    Done,
}

/// <summary>Where a run is in its life (run row, summary.json, <c>herd runs</c>).</summary>
public enum RunStatus
{
    Running,

    /// <summary>Every task has a final record.</summary>
    Finished,

    /// <summary>Ended with tasks left unfinished, without a halt (e.g. --retry-failed left never-run tasks).</summary>
    Stopped,

    /// <summary>A --halt policy, the budget or a run-fatal class stopped it.</summary>
    Halted,

    /// <summary>Ctrl-C or SIGTERM; resumable.</summary>
    Interrupted,
}

/// <summary>The text of the state enums at the SQL and JSON edges.</summary>
public static class StoreNames
{
    /// <summary>Timestamps as stored and reported: UTC, milliseconds, ISO 8601.</summary>
    public static string Iso(DateTimeOffset t) => t.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", System.Globalization.CultureInfo.InvariantCulture);

    public static string Name(this TaskState s) => s switch
    {
        TaskState.Pending => "pending",
        TaskState.Running => "running",
        _ => "done",
    };

    public static string Name(this RunStatus s) => s switch
    {
        RunStatus.Running => "running",
        RunStatus.Finished => "finished",
        RunStatus.Stopped => "stopped",
        RunStatus.Halted => "halted",
        _ => "interrupted",
    };

    public static TaskState ParseTaskState(string text) => text switch
    {
        "pending" => TaskState.Pending,
        "running" => TaskState.Running,
        "done" => TaskState.Done,
        _ => throw new FormatException($"unknown task state '{text}'"),
    };

    public static RunStatus ParseRunStatus(string text) => text switch
    {
        "running" => RunStatus.Running,
        "finished" => RunStatus.Finished,
        "stopped" => RunStatus.Stopped,
        "halted" => RunStatus.Halted,
        "interrupted" => RunStatus.Interrupted,
        _ => throw new FormatException($"unknown run status '{text}'"),
    };
}
