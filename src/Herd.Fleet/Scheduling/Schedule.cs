namespace Herd.Fleet.Scheduling;

/// <summary>
/// How attempts are paced, retried, halted and timed out (spec §2, §5). One record, built once from the flags
/// (<c>RunArguments.Schedule</c>), carried by <see cref="Runs.RunSpec"/> and handed to <see cref="FleetRunner"/> as it is.
/// Immutable; defaults are the spec's unless noted.
/// </summary>
public sealed record Schedule
{
    public RetryPolicy Retry { get; init; } = new();

    public HaltPolicy Halt { get; init; } = HaltPolicy.Never;

    /// <value>
    /// Spacing between attempt starts (<c>--delay</c>). Default 0, not the spec's 1 s: with a fixed <c>-j N</c> a 1 s
    /// spacing alone makes 40 tasks at -j 8 take 40 s against an ideal of 1.5 s. <c>-j auto</c> gets its gentle start
    /// from the ramp (L starts at <c>--ramp</c>, default 4, and grows one per success) instead.
    /// </value>
    public TimeSpan Delay { get; init; } = TimeSpan.Zero;

    /// <value>Wall-clock limit per attempt (<c>--timeout D</c>); null = none.</value>
    public TimeSpan? Timeout { get; init; }

    /// <value><c>--timeout N%</c>: N % of the median runtime of successful tasks, once 5 succeeded.</value>
    public double? TimeoutPercent { get; init; }

    /// <value>Timeout before 5 successes when <see cref="TimeoutPercent"/> is used (<c>--timeout-floor</c>). Default 30 min.</value>
    public TimeSpan TimeoutFloor { get; init; } = TimeSpan.FromMinutes(30);

    /// <value>No engine event for this long ends the attempt as <c>hang</c> (<c>--idle-timeout</c>); null = none.</value>
    public TimeSpan? IdleTimeout { get; init; }

    /// <value>Longest fleet-wide pause a single retry-after may impose. Default 5 min (the backoff cap).</value>
    public TimeSpan MaxPause { get; init; } = TimeSpan.FromMinutes(5);

}
