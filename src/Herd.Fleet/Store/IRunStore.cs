using Herd.Fleet.Engines;
using Herd.Fleet.Jobs;

namespace Herd.Fleet.Store;

/// <summary>
/// The canonical state of one run (spec §7.1): the run row, the plan, every attempt and the lock. Every state
/// transition is one committed transaction, so a crash or <c>kill -9</c> leaves the state before or after it, never
/// between. SQLite (<see cref="SqliteRunStore"/>) is the embedded default; PostgreSQL
/// (<see cref="Postgres.PostgresRunStore"/>) shares a run among many machines. A store is these roles together; a caller
/// takes the role it uses (docs/architecture.md, "The store by role"), never a concrete store.
/// </summary>
public interface IRunStore : IRunCatalog, ITaskQueue, IRunState, IRunReads, IPlanWriter, IPlanCursor, Batches.IBatchLedger, IDisposable
{
}

/// <summary>How a store names its own failures: one line for the user, and whether a retry may help.</summary>
public interface IStoreErrors
{
    /// <summary>Where the run lives, for messages: a directory, or a redacted connection string.</summary>
    string Location { get; }

    /// <summary>A database failure of this store as one line naming the store and the fix.</summary>
    Herd.Agent.HerdFatalException Explain(Exception ex);

    /// <summary>Whether <paramref name="ex"/> is a passing failure (a dropped connection, a restarting server) worth retrying.</summary>
    bool IsTransient(Exception ex);
}

/// <summary>The catalog and the lock: the run row, its definition and plan, its status, and the orchestrator's lock.</summary>
public interface IRunCatalog : IStoreErrors
{
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
}

/// <summary>
/// The task queue of one scheduling process (<c>herd run</c>'s <see cref="Scheduling.FleetRunner"/>): tasks with their
/// progress, attempts started and ended, recovery after a crash and requeues. Many processes on one run use
/// <see cref="ILeaseQueue"/> instead.
/// </summary>
public interface ITaskQueue
{
    /// <summary>Every task with its progress; an unfinished task whose last attempt was cut off carries that attempt's session id to resume.</summary>
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
}

/// <summary>The run's state beside its tasks: what it spent, its budget ceiling, its pauses and the live snapshot watchers read.</summary>
public interface IRunState
{
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

    /// <summary>The run's budget ceiling when the store keeps it (the shared store's ledger); null otherwise.</summary>
    double? StoredCeilingUsd() => null;
}

/// <summary>The reads of the reports, <c>herd merge</c> and the end of a run: records, attempts and totals.</summary>
public interface IRunReads
{
    IReadOnlyList<AttemptRow> Attempts(string key);

    /// <summary>Every final record in the order tasks finished: what results.ndjson is rebuilt from.</summary>
    IReadOnlyList<string> FinalRecords();

    /// <summary>
    /// <see cref="FinalRecords"/> read one at a time, for rewriting results.ndjson without holding every record (issue #23).
    /// The default reads them all first.
    /// </summary>
    IEnumerable<string> StreamFinalRecords() => FinalRecords();

    RunTotals Totals();

    /// <summary>
    /// Every final record in finishing order with its attempts, for reports of any size (issue #23). The default reads
    /// a record's attempts as it goes; a store that can stream in one query (PostgreSQL) does so.
    /// </summary>
    IEnumerable<(string Record, IReadOnlyList<AttemptRow> Attempts)> StreamFinal()
    {
        foreach (var record in StreamFinalRecords())
            yield return (record, Attempts(StoreJson.KeyOf(record)));
    }
}

/// <summary>What <c>herd runs watch</c> reads of a run in progress.</summary>
public interface IWatchReads
{
    /// <summary>The attempts open now, recent failures and the completion rate over <paramref name="window"/>.</summary>
    WatchData ReadWatch(DateTimeOffset now, TimeSpan window, int failures = 5);

    /// <summary>The run's totals, as cheaply as the store can count them while the run goes on.</summary>
    RunTotals WatchTotals();
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
