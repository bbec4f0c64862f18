using Herd.Fleet.Reports;
using Herd.Fleet.Scheduling;

namespace Herd.Fleet.Workers;

/// <summary>How one <c>herd worker</c> works a shared run; the run's own options (retries, halt, caps) come from its stored definition (RunDefinition).</summary>
public sealed record WorkerOptions
{
    /// <value>Concurrent attempts of this worker (<c>-j</c>); the shared AIMD limit, once back-pressure set one, divides among live workers.</value>
    public int Jobs { get; init; } = 8;

    /// <value>The run's retries, halt policy, timeouts and pause cap, as the run's stored definition holds them.</value>
    public Schedule Schedule { get; init; } = new();

    /// <value>
    /// The wall-clock limit of one attempt: <c>--timeout D</c>, or for <c>--timeout N%</c> its floor — a worker sees
    /// only its own share of the run, not the run-wide median the percentage is of.
    /// </value>
    public TimeSpan? AttemptTimeout => Schedule.Timeout ?? (Schedule.TimeoutPercent is null ? null : Schedule.TimeoutFloor);

    public CapsInForce Caps { get; init; } = new(null, null, null, null);

    public string? Shard { get; init; }

    /// <value>How often the worker renews its leases and reads the shared state; a third of the lease, so two missed beats still hold it.</value>
    public TimeSpan HeartbeatEvery { get; init; } = TimeSpan.FromSeconds(10);

    /// <value>How long to wait before looking again when nothing could be claimed (tasks leased elsewhere, retries backing off).</value>
    public TimeSpan PollEvery { get; init; } = TimeSpan.FromSeconds(1);

    /// <value>
    /// How long ended attempts may gather before the worker writes them (group commit): when fewer than half of the
    /// running attempts have ended, the worker waits this long once, so one round trip ends — and replaces — several.
    /// Two milliseconds are nothing beside a model call and, at a thousand tasks a second, halve the database's work.
    /// Zero writes every turn at once.
    /// </value>
    public TimeSpan BatchWindow { get; init; } = TimeSpan.FromMilliseconds(2);

    /// <value>The shared AIMD limit's ceiling, and how often it may move (spec §6: at most once per 10 s).</value>
    public int RateCeiling { get; init; } = 64;

    public TimeSpan RateCooldown { get; init; } = TimeSpan.FromSeconds(10);

    /// <value>How long the worker keeps retrying a lost database connection before it gives up (exit 1).</value>
    public TimeSpan ReconnectFor { get; init; } = TimeSpan.FromMinutes(5);

    public TimeProvider Time { get; init; } = TimeProvider.System;

    /// <value>Lines for the user (reconnects, rejected late results); the caller renders them.</value>
    public Action<string> Notice { get; init; } = _ => { };
}

/// <summary>What one worker did on one run.</summary>
/// <param name="Rejected">Results discarded by fencing: this worker's lease had been taken over (it was presumed dead).</param>
public sealed record WorkerReport(int Attempts, int Finals, int Retries, int Rejected, Store.RunStatus RunStatus);
