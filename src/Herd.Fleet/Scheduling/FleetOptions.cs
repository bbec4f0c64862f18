using Herd.Agent.Loop;
using Herd.Fleet.Reports;

namespace Herd.Fleet.Scheduling;

/// <summary>How a run is scheduled. Immutable; defaults are the spec's unless noted.</summary>
public sealed record FleetOptions
{
    public required ConcurrencyLimiter Limiter { get; init; }

    /// <value>Retries, halting, spacing and timeouts: the same policy whatever front end built the run.</value>
    public Schedule Schedule { get; init; } = new();

    /// <value>The run-wide ceiling (<c>--budget-usd</c>); the engine reserves every call on it.</value>
    public SpendLedger? Budget { get; init; }

    /// <value>The caps reported in each record (per-task caps override).</value>
    public CapsInForce Caps { get; init; } = new(null, null, null, null);

    /// <value>The shard every record names (<c>"shard":"k/n"</c>); null = not sharded.</value>
    public Runs.Shard? Shard { get; init; }

    public TimeProvider Time { get; init; } = TimeProvider.System;

    /// <value>
    /// Receives a line the first time each failure class occurs in this session (then the status lines count them), so
    /// a run against a closed port or a bad key says so within seconds instead of after every retry.
    /// </value>
    public Action<string>? Notice { get; init; }
}
