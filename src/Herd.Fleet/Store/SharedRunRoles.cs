using Herd.Fleet.Engines;

namespace Herd.Fleet.Store;

// The roles of a store that many processes work at once (PostgreSQL): leases instead of an in-process queue, and the
// run's shared state (ledger, AIMD limit, pause, halt, liveness) in rows every worker reads.

/// <summary>
/// The task queue of a run worked by many processes: claims with fenced leases (PostgreSQL: <c>FOR UPDATE SKIP LOCKED</c>),
/// ends committed in groups, and tasks of dead workers taken back. What <see cref="Workers.WorkerLoop"/> schedules on.
/// </summary>
public interface ILeaseQueue : IStoreErrors
{
    /// <summary>Claims up to <paramref name="count"/> runnable tasks under new leases, each with its new attempt opened.</summary>
    Task<IReadOnlyList<ClaimedTask>> ClaimAsync(int count, DateTimeOffset now, CancellationToken cancellationToken = default);

    /// <summary>Ends attempts in one round trip (fenced by their leases), and claims up to <paramref name="claim"/> more in the same trip.</summary>
    Task<EndBatch> EndAsync(IReadOnlyList<LeaseEnd> ends, int claim = 0, DateTimeOffset? now = null, CancellationToken cancellationToken = default);

    /// <summary>The ended attempts before each lease's attempt, by key: what a final record lists before its last attempt.</summary>
    Task<IReadOnlyDictionary<string, IReadOnlyList<AttemptRow>>> EarlierAttemptsAsync(IReadOnlyList<TaskLease> leases, CancellationToken cancellationToken = default);

    /// <summary>Returns the tasks of workers whose leases ran out to the queue; returns how many.</summary>
    Task<int> ReapExpiredAsync(DateTimeOffset now, CancellationToken cancellationToken = default);

    /// <summary>Marks the run finished once every task is final (two workers ending the last tasks at once each miss the other's).</summary>
    Task FinishIfDoneAsync(CancellationToken cancellationToken = default);
}

/// <summary>
/// The run-wide state every worker of a shared run reads and writes: presence and heartbeats, the halt, the AIMD limit
/// and the fleet-wide pause, and the budget ledger.
/// </summary>
public interface ISharedRunState
{
    /// <summary>The heartbeat: this worker's presence and leases renewed, what it spent so far written; returns the shared state.</summary>
    SharedRunState Beat(DateTimeOffset now, TimeSpan liveWithin, IReadOnlyCollection<RunningCost>? runningCosts = null);

    /// <summary>The shared state as the workers left it; <paramref name="liveWithin"/> counts the workers alive.</summary>
    Task<SharedRunState> ReadSharedAsync(DateTimeOffset now, TimeSpan liveWithin, CancellationToken cancellationToken = default);

    /// <summary>Removes this worker's presence (a clean exit).</summary>
    Task LeaveAsync(CancellationToken cancellationToken = default);

    /// <summary>Stops the run for every worker; the first halt wins and returns true.</summary>
    Task<bool> HaltAsync(string detail, int exitCode, CancellationToken cancellationToken = default);

    /// <summary>The ceiling every worker's reservations count against; null removes it.</summary>
    void SetBudget(double? ceilingUsd);

    /// <summary>(spent, reserved, ceiling) of the run-wide ledger.</summary>
    (double Spent, double Reserved, double? Ceiling) Ledger();

    /// <summary>The run-wide ledger as a spend account for <see cref="Herd.Agent.Loop.SpendLedger"/>, retrying passing failures on <paramref name="time"/>.</summary>
    Herd.Agent.Loop.ISpendAccount SpendAccount(TimeProvider? time = null);

    /// <summary>
    /// Back-pressure: halves the shared limit (once per <paramref name="cooldown"/>) and pauses every worker until
    /// <paramref name="pauseUntil"/>. Synchronous: an engine reports back-pressure from its own (synchronous) observer.
    /// </summary>
    void OnBackPressure(DateTimeOffset now, int ceiling, DateTimeOffset? pauseUntil, TimeSpan cooldown);

    /// <summary>Additive increase of the shared limit after a success, once per <paramref name="cooldown"/>.</summary>
    Task OnSuccessAsync(DateTimeOffset now, int ceiling, TimeSpan cooldown, CancellationToken cancellationToken = default);
}

/// <summary>A run store many processes share: every role of <see cref="IRunStore"/>, leases, shared state and the watch reads.</summary>
public interface ISharedRunStore : IRunStore, ILeaseQueue, ISharedRunState, IWatchReads, IPatchStore
{
    /// <summary>The run's id in the shared database.</summary>
    string RunId { get; }
}

/// <summary>What becomes of a task when one of its attempts ends.</summary>
public enum AttemptDisposition
{
    /// <summary>The task is done: its one record is written (<see cref="LeaseEnd.Record"/>).</summary>
    Final,

    /// <summary>Back to the queue with a retry used, claimable from <see cref="LeaseEnd.NotBefore"/>.</summary>
    Retry,

    /// <summary>Back to the queue without a retry used (not a verdict on the task: cancelled, back-pressure, budget).</summary>
    Requeue,
}

/// <summary>One attempt's end as a worker reports it: the lease it was run under, the outcome, and the task's fate.</summary>
public sealed record LeaseEnd(TaskLease Lease, TaskOutcome Outcome, AttemptDisposition Disposition, DateTimeOffset? NotBefore = null, string? Record = null)
{
    public bool IsFinal => Disposition == AttemptDisposition.Final;
}

/// <summary>
/// What a batch of ends did: the task keys whose ends were accepted (the rest were fenced: their lease had been taken
/// over), the run's counts after the batch, and the tasks claimed in the same round trip.
/// </summary>
public sealed record EndBatch(IReadOnlySet<string> Accepted, int Done, int Failed, int Total, RunStatus Status, IReadOnlyList<ClaimedTask> Claimed);

/// <summary>A claimed attempt: which task, which attempt number, and the fencing token its end must present.</summary>
public sealed record TaskLease(string Key, int Number, long Epoch);

/// <summary>A task a worker claimed: the task with its progress so far, the lease, the attempt's session id and its start (the claim's time).</summary>
public sealed record ClaimedTask(StoredTask Stored, TaskLease Lease, string SessionId, DateTimeOffset Started)
{
    /// <summary>The attempt's row as the claim wrote it (open), which its end turns into the record's last attempt.</summary>
    public AttemptRow OpenRow => new(Lease.Number, Started, null, null, null, 0, SessionId, Herd.Agent.Models.Usage.Zero);
}

/// <summary>What a final commit reports: the record (null when the lease was lost and the result rejected) and the run's counts after it.</summary>
public sealed record FinalCommit(string? Record, int Done, int Failed, int Total, RunStatus Status);

/// <summary>What one open attempt has spent so far (see <see cref="ISharedRunState.Beat"/>).</summary>
public sealed record RunningCost(string Key, int N, double CostUsd);

/// <summary>The run-wide state workers share: status (and the exit code a halt set), the AIMD limit and the fleet-wide pause.</summary>
public sealed record SharedRunState(RunStatus Status, int Total, int Done, int Failed, int? RateLimit, DateTimeOffset? PauseUntil, double? BudgetUsd, int LiveWorkers, int? ExitCode = null);


/// <summary>What the run had reserved at an attempt's latest read of the shared ledger (see <see cref="Observe"/>).</summary>
public sealed class LedgerReading
{
    private static readonly AsyncLocal<LedgerReading?> Reading = new();

    private double _reserved = double.NaN;

    /// <summary>The reading of the attempt running in this async flow, if it observes one.</summary>
    internal static LedgerReading? Current => Reading.Value;

    /// <value>NaN until the attempt read the ledger.</value>
    public double Reserved => Volatile.Read(ref _reserved);

    /// <summary>
    /// Starts recording, for the attempt that runs in this async flow, what the run had reserved when its calls read
    /// the ledger. A refusal read while nothing was reserved anywhere means the ceiling itself is spent (halt); one read
    /// while other workers held reservations only means the ceiling is busy (requeue and try later).
    /// </summary>
    public static LedgerReading Observe()
    {
        var reading = new LedgerReading();
        Reading.Value = reading;
        return reading;
    }

    internal void Record(double reserved) => Volatile.Write(ref _reserved, reserved);
}
