using System.Data.Common;
using Herd.Agent;
using Herd.Agent.Loop;
using Herd.Fleet.Reports;
using Herd.Fleet.Scheduling;
using Herd.Fleet.Store;
using Herd.Fleet.Telemetry;
using Herd.Fleet.Workers;

namespace Herd.Fleet.Runs;

/// <summary>
/// <c>herd run --store URL</c> (issue #18, elastic runs): the creating process is one worker among workers. It creates
/// (or resumes) the run, then works it with the same <see cref="WorkerLoop"/> as <c>herd worker</c> — tasks claimed
/// with leases, the budget held by the store's shared account — so any <c>herd worker --run RUN</c> (or <c>--all</c>)
/// started meanwhile joins and shares the work. Once every task is final, whoever ran it, the creator writes
/// results.ndjson from the store's final records, summary.json, the reports and the gate verdict, as for any run.
/// </summary>
public sealed partial class FleetRun
{
    private async Task<RunResult> RunInSharedStoreAsync(Func<RunSpec, ISharedRunStore> open, CancellationToken cancellationToken)
    {
        using var store = open(spec);
        try
        {
            return await WorkSharedAsync(store, cancellationToken).ConfigureAwait(false);
        }
        catch (DbException ex)
        {
            throw store.Explain(ex);
        }
        catch (IOException ex)
        {
            throw new HerdFatalException($"Error: writing run directory '{spec.RunDirectory}' failed ({ex.Message}). Fix the cause (disk full? read-only?), then continue with --resume.", ex);
        }
    }

    private async Task<RunResult> WorkSharedAsync(ISharedRunStore store, CancellationToken cancellationToken)
    {
        var time = spec.Time;
        var started = time.GetTimestamp();
        // The run lock keeps a second `herd run --resume` off the run; workers never take it, they hold task leases.
        store.AcquireLock(Environment.ProcessId, Environment.MachineName, time.GetUtcNow(), LockStaleAfter, spec.IsAlive);
        using var heartbeat = time.CreateTimer(_ => Beat(store, time), null, HeartbeatEvery, HeartbeatEvery);

        // The ceiling lives in the store, so every worker that joins reserves against the same account.
        var ledger = spec.BudgetUsd is { } ceiling ? new SpendLedger(ceiling, store.SpendAccount(time)) : null;
        // Patches too: whichever worker runs a task keeps its patch in the store, so herd apply --store reads it anywhere.
        var engine = spec.Engine(new EngineContext(ledger, spec.TaskBudgetUsd, time, Patches: store, Batches: store));
        var (info, plannedAs, shard) = CreateOrOpen(store, engine.Name, engine.Version);
        store.SetBudget(spec.BudgetUsd);
        var planned = PrepareQueue(store);
        using var runSpan = FleetTelemetry.StartRun(info.RunId, spec.RunDirectory, shard?.ToString(), planned);
        store.SetStatus(RunStatus.Running, null);

        var options = new WorkerOptions
        {
            Jobs = spec.Jobs.Limit,
            Schedule = spec.Schedule,
            // The timeouts in force are per attempt (a task may set its own); the loop fills them into each record.
            Caps = new CapsInForce(spec.MaxTurns, spec.TaskBudgetUsd, null, spec.Schedule.IdleTimeout),
            Shard = shard?.ToString(),
            Time = time,
            Notice = spec.Notice,
        };
        var loop = new WorkerLoop(store, store, engine, options);
        Volatile.Write(ref _worker, new SharedWork(loop, store));
        await loop.RunAsync(cancellationToken).ConfigureAwait(false);
        await store.LeaveAsync(CancellationToken.None).ConfigureAwait(false);

        // Every final record is in the store, whichever worker wrote it: results.ndjson is built from them.
        var resultsPath = Path.Combine(spec.RunDirectory, "results.ndjson");
        // Streamed from the store (issue #23): no list of every record is held.
        using (ResultsFile.Rebuild(resultsPath, store.StreamFinalRecords, spec.JoblogPath))
        {
        }
        var totals = store.Totals();
        var (status, exit) = store.ReadStatus();
        var halt = cancellationToken.IsCancellationRequested ? HaltReason.Interrupted
            : status != RunStatus.Halted ? HaltReason.None
            : exit == RunExitCodes.Budget ? HaltReason.Budget
            : exit == RunExitCodes.Fatal ? HaltReason.Fatal
            : HaltReason.Policy;
        var report = new FleetReport(Summary.Succeeded(totals), Summary.Failed(totals), totals.Unfinished, halt, null, time.GetElapsedTime(started), null);
        return End(store, info, plannedAs, shard, report, runSpan, resultsPath);
    }
}
