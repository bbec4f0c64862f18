namespace Herd.Fleet.Scheduling;

/// <summary>Why a run stopped early.</summary>
public enum HaltReason
{
    None,

    /// <summary><c>--halt</c> condition met.</summary>
    Policy,

    /// <summary>The run-wide budget cannot hold the next call (exit 102).</summary>
    Budget,

    /// <summary>A run-fatal class: auth, spend cap (exit 103).</summary>
    Fatal,

    /// <summary>SIGINT/SIGTERM (exit 130); state left resumable.</summary>
    Interrupted,
}

/// <summary>A snapshot for the progress display (spec §9). Cheap to take; taken a few times a second at most.</summary>
public sealed record FleetStatus(
    int Total,
    int Succeeded,
    int Failed,
    int Running,
    int Queued,
    int Retrying,
    int Limit,
    int MaxLimit,
    bool Adaptive,
    string? LimitChange,
    DateTimeOffset? PausedUntil,
    double SpentUsd,
    double ReservedUsd,
    double? CeilingUsd,
    double? ProjectedUsd,
    TimeSpan Elapsed,
    TimeSpan? Eta,
    HaltReason Halt)
{
    public int Done => Succeeded + Failed;

    /// <value>The attempts running now, oldest first: what the per-task lines of the displays show.</value>
    public IReadOnlyList<RunningAttempt> RunningTasks { get; init; } = [];
}

/// <summary>One running attempt as the scheduler sees it: its model calls so far are its turns.</summary>
public sealed record RunningAttempt(string Key, string Task, int Attempt, int Slot, DateTimeOffset Started, int Turns, double SpentUsd);

/// <summary>What a scheduling session did.</summary>
public sealed record FleetReport(int Succeeded, int Failed, int Unfinished, HaltReason Halt, string? HaltDetail, TimeSpan Wall, double? ProjectedUsd);
