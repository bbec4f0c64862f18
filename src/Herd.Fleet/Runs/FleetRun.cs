using System.Data.Common;
using System.Globalization;
using Herd.Agent;
using Herd.Agent.Loop;
using Herd.Fleet.Engines;
using Herd.Fleet.Isolation;
using Herd.Fleet.Reports;
using Herd.Fleet.Scheduling;
using Herd.Fleet.Store;
using Herd.Fleet.Telemetry;
using Herd.Fleet.Workers;

namespace Herd.Fleet.Runs;

/// <summary>How a run ended: what the CLI renders and what a caller checks.</summary>
/// <param name="ProjectedUsd">Spec §10 projection: spend + remaining × p50, or the full plan's cost from a --sample.</param>
public sealed record RunResult(
    string RunDirectory,
    string ResultsPath,
    RunStatus Status,
    int ExitCode,
    FleetReport Report,
    RunTotals Totals,
    double? BudgetUsd,
    double? ProjectedUsd);

/// <summary>
/// The front door of the fleet: one run's whole lifecycle from a typed <see cref="RunSpec"/> — open the store, take the
/// lock (with its heartbeat), create the run with its plan or recover an interrupted one, requeue what was asked, build
/// the engine, schedule every unfinished task, write summary.json, decide the exit code, release the lock. The CLI
/// binds flags into a spec and renders; workers, shards and tests use this same type.
/// </summary>
/// <remarks>
/// Store failures (a damaged run.db, a full or read-only disk) surface as one <see cref="HerdFatalException"/> naming
/// the file; whatever was committed before stays committed, so the run can be resumed once the cause is fixed.
/// </remarks>
public sealed partial class FleetRun(RunSpec spec)
{
    /// <summary>A lock whose heartbeat is older than this is stale (spec §7.1); heartbeats come every 5 s.</summary>
    public static readonly TimeSpan LockStaleAfter = TimeSpan.FromSeconds(30);

    private static readonly TimeSpan HeartbeatEvery = TimeSpan.FromSeconds(5);

    /// <summary>How often the live snapshot for <c>herd runs watch</c> is rewritten (one small UPDATE).</summary>
    private static readonly TimeSpan LiveEvery = TimeSpan.FromSeconds(1);

    private FleetRunner? _runner;

    /// <summary>The scheduler's latest snapshot; null before scheduling starts.</summary>
    public FleetStatus? Status => Volatile.Read(ref _runner)?.Status ?? (Volatile.Read(ref _worker) is { } worker ? worker.Loop.Status(worker.Store.SpentUsd) : null);

    /// <summary>The worker loop of an elastic run (<c>herd run --store</c>) and its store, for <see cref="Status"/>.</summary>
    private SharedWork? _worker;

    private sealed record SharedWork(WorkerLoop Loop, IRunState Store);

    /// <exception cref="HerdUsageException">The directory already holds a run (new) or holds none (resume).</exception>
    /// <exception cref="HerdFatalException">The store cannot be opened or written, or another process holds the run.</exception>
    public async Task<RunResult> ExecuteAsync(CancellationToken cancellationToken = default)
    {
        CheckStart();
        RunResult result;
        try
        {
            result = await RunInStoreAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (HerdFatalException ex) when (spec.Start == RunStart.New && !_planStored && DiskFull.Caused(ex))
        {
            // Nothing of the run exists yet, so "--resume" (the store's advice) would find no run: say how to re-plan.
            throw new HerdFatalException($"Error: the disk holding '{spec.RunDirectory}' filled before the run's plan was stored, so no run was created. Free space, then start it again with the same command (not --resume).", ex);
        }
        return AfterRun(result);
    }

    /// <summary>Set once the plan is stored (run row, tasks, plan.json): from then on the run resumes.</summary>
    private volatile bool _planStored;

    /// <summary>
    /// What to say when a run directory to resume holds no run: a run.db without a run row is a run whose creation did
    /// not finish (the disk filled, or herd was stopped, while the plan was stored); nothing of it was kept.
    /// </summary>
    public static string NoRunMessage(string runDirectory) => File.Exists(Path.Combine(runDirectory, "run.db"))
        ? $"Error: --run-dir '{runDirectory}' holds no run: its creation did not finish (the disk filled or herd stopped while the plan was stored), so there is nothing to resume. Start the run again with the same command, without --resume."
        : $"Error: --run-dir '{runDirectory}' holds no run (no run.db). Pass the directory of an earlier `herd run`; `herd runs list` shows them.";

    private async Task<RunResult> RunInStoreAsync(CancellationToken cancellationToken)
    {
        if (spec.OpenSharedStore is { } openShared)
            return await RunInSharedStoreAsync(openShared, cancellationToken).ConfigureAwait(false);
        using var store = spec.OpenStore?.Invoke(spec) ?? SqliteRunStore.Open(spec.RunDirectory, spec.Time);
        try
        {
            return await RunWithStoreAsync(store, store as IPatchStore ?? new PatchFiles(spec.RunDirectory), cancellationToken).ConfigureAwait(false);
        }
        catch (DbException ex)
        {
            throw store.Explain(ex);
        }
        catch (IOException ex) when (DiskFull.Caused(ex))
        {
            // Said as the store says a full disk, whichever file (run.db, results.ndjson, a patch) met it first.
            throw new HerdFatalException($"Error: the disk holding '{spec.RunDirectory}' is full. Free space, then continue with --resume; nothing half-written was kept.", ex);
        }
        catch (IOException ex)
        {
            throw new HerdFatalException($"Error: writing run directory '{spec.RunDirectory}' failed ({ex.Message}). Fix the cause (read-only?), then continue with --resume.", ex);
        }
    }

    /// <summary>
    /// Once the store is closed: report.html and the CI step summary (a failure there is a warning, never the run's
    /// exit code), then the gate. With a gate, its verdict replaces the failed-task count as the exit code; budget,
    /// run-fatal and interrupted runs keep theirs (issue #11: the build fails on the threshold, not on any failure).
    /// </summary>
    /// <remarks>
    /// A run kept in another store (PostgreSQL, issue #14) has no run.db in its directory: it is read through a fresh
    /// instance of its store — the store is the truth for status, planned tasks and records — and its reports still go
    /// to the run directory. The run is read once; the gate judges that same reading.
    /// </remarks>
    private RunResult AfterRun(RunResult result)
    {
        var after = spec.OpenStore is { } open
            ? RunReports.AfterRun(() => RunReader.Open(() => open(spec), spec.RunDirectory), spec.Reports)
            : RunReports.AfterRun(spec.RunDirectory, spec.Reports);
        foreach (var warning in after.Warnings)
            spec.Notice(warning.StartsWith("herd: ", StringComparison.Ordinal) ? warning["herd: ".Length..] : warning);
        if (spec.Gate is not { } gate || result.ExitCode > RunExitCodes.MoreThan100Failed)
            return result;
        // Unreadable run: read again so the gate fails with the reading's own error, as `herd gate` would.
        var run = after.Run ?? RunDigest.Build(spec.OpenStore is { } again ? RunReader.Open(() => again(spec), spec.RunDirectory) : RunReader.Open(spec.RunDirectory),
            spec.Reports.Report ?? ReportOptions.Default);
        var verdict = Gate.Evaluate(run, gate);
        foreach (var failure in verdict.Failures)
            spec.Notice("gate: " + failure);
        if (verdict.Passed)
            spec.Notice("gate passed");
        return result with { ExitCode = verdict.ExitCode };
    }

    private void CheckStart()
    {
        if (spec.OpenStore is not null)
            return; // another store decides what exists
        var exists = SqliteRunStore.Exists(spec.RunDirectory);
        if (spec.Start == RunStart.New && exists)
            throw new HerdUsageException($"Error: --run-dir '{spec.RunDirectory}' already holds a run. Continue it with --resume, or pass a new --run-dir.");
        if (spec.Start == RunStart.Resume && !exists)
            throw new HerdUsageException(NoRunMessage(spec.RunDirectory));
    }

    private async Task<RunResult> RunWithStoreAsync(IRunStore store, IPatchStore patches, CancellationToken cancellationToken)
    {
        var time = spec.Time;
        store.AcquireLock(Environment.ProcessId, Environment.MachineName, time.GetUtcNow(), LockStaleAfter, spec.IsAlive);
        using var heartbeat = time.CreateTimer(_ => Beat(store, time), null, HeartbeatEvery, HeartbeatEvery);

        var ledgerStart = store.TotalSpentUsd();
        var ledger = spec.BudgetUsd is { } ceiling ? new SpendLedger(ceiling, ledgerStart) : null;
        // Tokens count from what earlier sessions of the run used (finished attempts).
        var tokens = spec.BudgetTokens is { } tokenCeiling ? new SpendLedger(tokenCeiling, TokensOf(store.Totals().Tokens)) : null;
        var engine = spec.Engine(new EngineContext(ledger, spec.TaskBudgetUsd, time, patches, store, tokens));

        var (info, plannedAs, shard) = CreateOrOpen(store, engine.Name, engine.Version);

        var planned = PrepareQueue(store);
        // The run's root span; current for the scheduler below, so task and attempt spans go under it.
        using var runSpan = FleetTelemetry.StartRun(info.RunId, spec.RunDirectory, shard?.ToString(), planned);
        var resultsPath = Path.Combine(spec.RunDirectory, "results.ndjson");
        using var results = ResultsFile.Rebuild(resultsPath, store.StreamFinalRecords, spec.JoblogPath);
        var options = new FleetOptions
        {
            Limiter = spec.Jobs.Build(time),
            Schedule = spec.Schedule,
            Budget = ledger,
            Caps = new CapsInForce(spec.MaxTurns, spec.TaskBudgetUsd, spec.Schedule.Timeout, spec.Schedule.IdleTimeout),
            Shard = shard,
            Time = time,
            Notice = spec.Notice,
        };
        var runner = new FleetRunner(engine, store, results, options);
        Volatile.Write(ref _runner, runner);
        using var live = time.CreateTimer(_ => WriteLive(store, runner, time), null, TimeSpan.Zero, LiveEvery);
        store.SetStatus(RunStatus.Running, null);
        var report = await runner.RunAsync(store, attemptedOnly: spec.Requeue == RequeueMode.FailedOnly, cancellationToken).ConfigureAwait(false);

        return End(store, info, plannedAs, shard, report, runSpan, resultsPath);
    }

    private static double TokensOf(Herd.Agent.Models.Usage u) => u.TotalInputTokens + u.OutputTokens;

    /// <summary>The run's end, whichever way it was worked: its status and exit code, summary.json, the lock released.</summary>
    private RunResult End(IRunStore store, RunInfo info, PlanSummary? plan, Shard? shard, FleetReport report, System.Diagnostics.Activity? runSpan, string resultsPath)
    {
        var totals = store.Totals();
        var exit = ExitCode(report, totals);
        if (report.Halt == HaltReason.Interrupted)
            exit = spec.InterruptedExitCode();
        var status = report.Halt switch
        {
            HaltReason.Interrupted => RunStatus.Interrupted,
            HaltReason.None when totals.Unfinished == 0 => RunStatus.Finished,
            HaltReason.None => RunStatus.Stopped,
            _ => RunStatus.Halted,
        };
        store.SetStatus(status, exit);
        var projected = SampleProjection(totals) ?? report.ProjectedUsd;
        FleetTelemetry.EndRun(runSpan, status.Name(), exit, totals.SpentUsd, Summary.Succeeded(totals), Summary.Failed(totals));
        // Flushed before summary.json is written, so its count of dropped items is final.
        var drops = spec.FlushTelemetry?.Invoke();
        var summary = Summary.Build(info, totals, status, exit, report.Wall, spec.BudgetUsd, projected, plan, drops);
        WriteAtomically(Path.Combine(spec.RunDirectory, "summary.json"), summary);
        store.ReleaseLock();
        return new RunResult(spec.RunDirectory, resultsPath, status, exit, report, totals, spec.BudgetUsd, projected);
    }

    /// <summary>Creates the run with its plan (and definition), or opens the stored one and adds the plan's new tasks.</summary>
    /// <remarks>
    /// The plan goes from its source to the store in one pass (issue #23): a <see cref="RunSpec.PlanSource"/> is read
    /// once, each task written to the store and plan.json as it comes, and nothing of the plan is kept once it is stored.
    /// </remarks>
    private (RunInfo Info, PlanSummary? Plan, Shard? Shard) CreateOrOpen(IRunStore store, string engineName, string engineVersion)
    {
        var info = store.ReadRun();
        PlanSummary? plan;
        Shard? shard;
        if (info is null)
        {
            if (spec.Start == RunStart.Resume)
                throw new HerdFatalException($"Error: '{store.Location}' has no run row; it was not written by herd run.");
            info = new RunInfo(RunIdOf(spec.RunDirectory), spec.Time.GetUtcNow(), spec.OptionsJson, spec.Cwd, engineName, engineVersion, spec.Definition?.ToJson());
            shard = spec.Shard;
            using var manifest = new PlanManifestWriter(spec.RunDirectory);
            store.CreateRunFrom(info, ShardOf(PlanTasks() ?? [], shard, every: manifest.Add, kept: _ => { }));
            var hash = spec.PlanSource?.IdentityHash() ?? (spec.Identity ?? PlanIdentity.Of(spec.Plan, [])).Hash;
            manifest.Finish(hash, shard);
            plan = new PlanSummary(hash, shard?.ToString(), manifest.Count);
        }
        else
        {
            // A run created by a Herd before definitions gets one now, once: later workers read it instead of its argv.
            if (info.DefinitionJson is null && spec.Definition is { } definition)
                store.WriteDefinition(definition.ToJson());
            (plan, shard) = StoredShard();
            if (PlanTasks() is { } tasks)
            {
                var mine = 0;
                var added = store.AddTasksFrom(ShardOf(tasks, shard, every: _ => { }, kept: _ => mine++));
                _producedInStore = mine;
                if (added > 0)
                    spec.Notice($"{added} new task(s) added to the run.");
            }
        }
        // Stored: the run holds no list of its plan from here on, and from here on the run resumes.
        _planStored = true;
        spec = spec with { Plan = [], PlanSource = null };
        return (info, plan, shard);
    }

    /// <summary>The plan to store: the source's tasks as they are produced, else the given list; null when there is none.</summary>
    private IEnumerable<Jobs.FleetTask>? PlanTasks() => spec.PlanSource?.Tasks() ?? (spec.Plan.Count > 0 ? spec.Plan : null);

    /// <summary>The tasks of <paramref name="plan"/> in <paramref name="shard"/> (all of them without one), as they come.</summary>
    /// <param name="every">Sees every task of the plan (plan.json names the whole plan).</param>
    /// <param name="kept">Sees each task of the shard.</param>
    private static IEnumerable<Jobs.FleetTask> ShardOf(IEnumerable<Jobs.FleetTask> plan, Shard? shard, Action<Jobs.FleetTask> every, Action<Jobs.FleetTask> kept)
    {
        foreach (var task in plan)
        {
            every(task);
            if (shard is { } s && !s.Owns(task.Key))
                continue;
            kept(task);
            yield return task;
        }
    }

    /// <summary>
    /// A resumed run keeps the shard it was started as (plan.json); asking for another one is refused, because its
    /// stored tasks belong to the first. A merged run is several shards: tasks it reruns carry no shard.
    /// </summary>
    private (PlanSummary? Plan, Shard? Shard) StoredShard()
    {
        // Counted in one streaming pass, not loaded: plan.json names every task of the plan (issue #23).
        var manifest = PlanManifestHeader.Read(spec.RunDirectory);
        Shard? stored = manifest is { Sharded: true, Merged: false, Shards.Count: 1 } m ? new Shard(m.Shards[0], m.ShardTotal) : null;
        if (spec.Shard is { } asked && asked != stored)
        {
            throw new HerdUsageException(stored is { } s
                ? $"Error: --run-dir '{spec.RunDirectory}' holds shard {s}, not {asked}. Resume it without --shard, or pass the run directory of shard {asked}."
                : $"Error: --run-dir '{spec.RunDirectory}' was not started as a shard; resume it without --shard {asked}.");
        }
        return (manifest is null ? null : new PlanSummary(manifest.PlanHash, stored?.ToString(), manifest.TaskCount), stored);
    }

    /// <summary>Recover and requeue; returns how many tasks the run holds (counted, not loaded: issue #23).</summary>
    private int PrepareQueue(IRunStore store)
    {
        var recovered = store.RecoverInterrupted(spec.Time.GetUtcNow());
        if (recovered > 0)
            spec.Notice($"{recovered} attempt(s) without a terminal event were marked interrupted and requeued (no retry used).");
        switch (spec.Requeue)
        {
            case RequeueMode.Failed or RequeueMode.FailedOnly:
                spec.Notice($"{store.Requeue(c => !c.IsSuccess())} failed task(s) requeued.");
                break;
            case RequeueMode.Classes:
                var n = store.Requeue(spec.RerunClasses.Contains);
                spec.Notice($"{n} task(s) of class {string.Join(",", spec.RerunClasses.Select(c => c.Name()))} requeued.");
                break;
        }
        var counts = store.CountTasks();
        if (spec.Start == RunStart.Resume && _producedInStore is { } produced)
        {
            // Every task the inputs produce is stored by now (added if new), so the rest of the store is orphaned.
            var orphaned = counts.Total - produced;
            if (orphaned > 0)
                spec.Notice($"{orphaned} stored task(s) are no longer produced by the inputs (orphaned); they are kept and run too.");
        }
        // --retry-failed: failed keys only; tasks never run stay pending for --resume.
        return spec.Requeue == RequeueMode.FailedOnly ? counts.Succeeded + counts.Failed + counts.UnfinishedAttempted : counts.Total;
    }

    /// <summary>On resume with inputs: how many distinct tasks they produce in this run's shard (all stored by then).</summary>
    private int? _producedInStore;

    private double? SampleProjection(RunTotals totals)
    {
        if (spec.SampleOf is not { } planned || totals.CostsUsd.Count == 0)
            return null;
        var p50 = totals.CostsUsd.Percentile(0.5);
        var p90 = totals.CostsUsd.Percentile(0.9);
        spec.Notice(string.Create(CultureInfo.InvariantCulture,
            $"sample of {totals.CostsUsd.Count} task(s): p50 ${p50:0.####}, p90 ${p90:0.####} per task; projected full run of {planned} task(s): ${p50 * planned:0.##} (p90 ${p90 * planned:0.##})"));
        return p50 * planned;
    }

    /// <summary>Spec §2: 0 all ok, 1–100 failed count, 101 more; 102 budget, 103 run-fatal. Precedence 103 > 102 > count.</summary>
    public static int ExitCode(FleetReport report, RunTotals totals)
    {
        if (report.Halt == HaltReason.Interrupted)
            return RunExitCodes.Interrupted;
        if (report.Halt == HaltReason.Fatal)
            return RunExitCodes.Fatal;
        if (report.Halt == HaltReason.Budget)
            return RunExitCodes.Budget;
        var failed = Summary.Failed(totals);
        return failed > 100 ? RunExitCodes.MoreThan100Failed : failed;
    }

    private static void WriteLive(IRunStore store, FleetRunner runner, TimeProvider time)
    {
        if (runner.Status is not { } status)
            return;
        try
        {
            store.WriteLive(time.GetUtcNow(), LiveSnapshot.Write(status));
        }
        catch (Exception ex) when (ex is DbException or ObjectDisposedException or InvalidOperationException)
        {
            // A watcher sees a snapshot a second older; the run is not disturbed.
        }
    }

    private static void Beat(IRunStore store, TimeProvider time)
    {
        try
        {
            store.Heartbeat(time.GetUtcNow());
        }
        catch (Exception ex) when (ex is DbException or ObjectDisposedException or InvalidOperationException)
        {
            // A missed heartbeat only makes the lock look older; the next one catches up.
        }
    }

    /// <summary>Temp file, then rename: a reader (or a crash) never sees half a summary.</summary>
    internal static void WriteAtomically(string path, string text)
    {
        var tmp = path + ".tmp";
        File.WriteAllText(tmp, text);
        File.Move(tmp, path, overwrite: true);
    }

    private static string RunIdOf(string directory) => Path.GetFileName(Path.TrimEndingDirectorySeparator(directory));
}
