using Herd.Agent.Loop;
using Herd.Fleet.Engines;
using Herd.Fleet.Jobs;
using Herd.Fleet.Scheduling;
using Herd.Fleet.Store;

namespace Herd.Fleet.Runs;

/// <summary>Whether a run is created or an earlier one is continued.</summary>
public enum RunStart
{
    /// <summary>Create the run; refused when the directory already holds one.</summary>
    New,

    /// <summary>Continue a stored run: every task without a final record (plus the plan's new tasks, if any).</summary>
    Resume,
}

/// <summary>Which finished tasks a resumed run puts back in the queue.</summary>
public enum RequeueMode
{
    None,

    /// <summary><c>--resume-failed</c>: failed tasks again, and every task never run.</summary>
    Failed,

    /// <summary><c>--retry-failed</c>: failed tasks only; tasks never run stay pending for a later --resume.</summary>
    FailedOnly,

    /// <summary><c>--rerun-class</c>: finished tasks whose final class is in <see cref="RunSpec.RerunClasses"/>.</summary>
    Classes,
}

/// <summary>Concurrency: a fixed limit, or AIMD up to <see cref="Limit"/> starting at <see cref="Ramp"/> (spec §6).</summary>
public sealed record JobsSpec(int Limit, bool Adaptive = false, int Ramp = 4)
{
    public static JobsSpec Default { get; } = new(8);

    public ConcurrencyLimiter Build(TimeProvider time) => Adaptive ? ConcurrencyLimiter.Auto(Limit, Ramp, time) : ConcurrencyLimiter.Fixed(Limit, time);
}

/// <summary>
/// What an engine factory gets: the run-wide ledger (null without <c>--budget-usd</c>), the clock, where the run's
/// store keeps task patches (<c>--isolate</c>; null = the run directory's <c>patches/</c>), and the run store's record of
/// batch rounds (null when the store keeps none).
/// </summary>
/// <param name="RunTokens">The run-wide token ceiling (<c>--budget-tokens</c>), a ledger counted in tokens; null = none.</param>
public sealed record EngineContext(SpendLedger? RunBudget, double? TaskBudgetUsd, TimeProvider Time, Store.IPatchStore? Patches = null, Batches.IBatchLedger? Batches = null, SpendLedger? RunTokens = null);

/// <summary>Builds the run's engine once the store is open (the ledger starts from what earlier sessions spent).</summary>
public delegate ITaskEngine EngineFactory(EngineContext context);

/// <summary>
/// Everything a run needs, typed and validated: what <c>herd run</c>'s flags mean once bound, and what tests and other
/// front ends (workers, CI shards) build directly. Immutable; defaults are the spec's.
/// </summary>
public sealed record RunSpec
{
    /// <value>The run directory: run.db, results.ndjson, summary.json.</value>
    public required string RunDirectory { get; init; }

    public RunStart Start { get; init; } = RunStart.New;

    /// <value>The tasks. On resume, tasks not yet stored are added; an empty plan continues the stored one.</value>
    public IReadOnlyList<FleetTask> Plan { get; init; } = [];

    /// <value>
    /// The plan as its inputs produce it (issue #23), read once while the run is created or resumed: each task goes to
    /// the store and plan.json as it comes, and no list of the plan is held. When set it replaces <see cref="Plan"/> and
    /// <see cref="Identity"/>. Null = <see cref="Plan"/>.
    /// </value>
    public PlanStream? PlanSource { get; init; }

    public required EngineFactory Engine { get; init; }

    public RequeueMode Requeue { get; init; } = RequeueMode.None;

    public IReadOnlySet<OutcomeClass> RerunClasses { get; init; } = new HashSet<OutcomeClass>();

    public JobsSpec Jobs { get; init; } = JobsSpec.Default;

    /// <value>Retries, halting, start spacing and per-attempt timeouts.</value>
    public Schedule Schedule { get; init; } = new();

    /// <value>The run-wide ceiling in US dollars, held by reservation (exit 102 when it cannot hold another call).</value>
    public double? BudgetUsd { get; init; }

    /// <value>
    /// The run-wide ceiling in tokens (input of every kind plus output), held by reservation like
    /// <see cref="BudgetUsd"/>: the cap that holds when prices are unknown (exit 102 when it cannot hold another call).
    /// </value>
    public long? BudgetTokens { get; init; }

    /// <value>Per-task cap across the task's retries; reported in each record.</value>
    public double? TaskBudgetUsd { get; init; }

    /// <value>The turn cap, reported in each record (the engine enforces it).</value>
    public int? MaxTurns { get; init; }

    /// <value>The run as created (issue #18), stored with it for every host that works it; null = none stored (tests).</value>
    public RunDefinition? Definition { get; init; }

    /// <value>What was asked (the command line, JSON), kept in the run row for display.</value>
    public string OptionsJson { get; init; } = "[]";

    /// <value>The working directory of the run, stored with it.</value>
    public string Cwd { get; init; } = Directory.GetCurrentDirectory();

    /// <value>With <c>--sample</c>: the size of the full plan, for the cost projection; null otherwise.</value>
    public int? SampleOf { get; init; }

    /// <value>The CI slice this run is (<c>--shard k/n</c>): only the plan's tasks whose key falls in it are stored and
    /// run, and every record carries <c>"shard":"k/n"</c>. Null = the whole plan; on resume, null = as the run was started.</value>
    public Shard? Shard { get; init; }

    /// <value>What the run writes beside its records when it ends: report.html, and the GitHub step summary unless <c>--ci none</c>.</value>
    public Reports.RunReportOptions Reports { get; init; } = new();

    /// <value><c>--gate</c>: thresholds checked when the run ends; their verdict (0/1) becomes the exit code. Null = none.</value>
    public Reports.GateOptions? Gate { get; init; }

    /// <value>The full plan's identity (before sharding and sampling), written to plan.json and summary.json so
    /// <c>herd merge</c> can check shards belong together. Null = computed from <see cref="Plan"/> alone.</value>
    public PlanIdentity? Identity { get; init; }

    public TimeProvider Time { get; init; } = TimeProvider.System;

    /// <value>
    /// Opens the shared store of an elastic run (<c>herd run --store</c>, issue #18): the run is then worked with task
    /// leases, like <c>herd worker</c>, and workers started meanwhile join it. Null = this process alone works it.
    /// </value>
    public Func<RunSpec, ISharedRunStore>? OpenSharedStore { get; init; }

    /// <value>Opens the run's store; default SQLite in <see cref="RunDirectory"/>.</value>
    public Func<RunSpec, IRunStore>? OpenStore { get; init; }

    /// <value>Whether a process on this host is alive (the lock's staleness test); injectable for tests.</value>
    public Func<int, bool> IsAlive { get; init; } = ProcessLiveness.IsAlive;

    /// <value>The exit code of an interrupted run: 130 after SIGINT, 143 after SIGTERM (the caller knows which).</value>
    public Func<int> InterruptedExitCode { get; init; } = () => RunExitCodes.Interrupted;

    /// <value><c>--joblog FILE</c>: GNU parallel's joblog of the finished tasks; null = none.</value>
    public string? JoblogPath { get; init; }

    /// <value>
    /// Flushes exported telemetry at the end of the run and says what was dropped (summary.json's <c>telemetry</c>);
    /// null when telemetry export is off.
    /// </value>
    public Func<Herd.Agent.Telemetry.TelemetryDrops>? FlushTelemetry { get; init; }

    /// <value>Lines for the user about what the lifecycle did (recovered attempts, requeued tasks); the caller renders them.</value>
    public Action<string> Notice { get; init; } = _ => { };
}

/// <summary>The exit codes of a run (spec §2; docs/fanout.md).</summary>
public static class RunExitCodes
{
    public const int AllSucceeded = 0;
    public const int MoreThan100Failed = 101;
    public const int Budget = 102;
    public const int Fatal = 103;
    public const int Interrupted = 130;
    public const int Terminated = 143;
    public const int Usage = 255;
}

internal static class ProcessLiveness
{
    public static bool IsAlive(int pid)
    {
        try
        {
            using var p = System.Diagnostics.Process.GetProcessById(pid);
            return !p.HasExited;
        }
        catch (Exception ex) when (ex is ArgumentException or InvalidOperationException)
        {
            return false;
        }
    }
}
