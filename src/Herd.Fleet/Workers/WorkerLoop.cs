using System.Globalization;
using System.Threading.Channels;
using Herd.Fleet.Engines;
using Herd.Fleet.Reports;
using Herd.Fleet.Runs;
using Herd.Fleet.Scheduling;
using Herd.Fleet.Store;

namespace Herd.Fleet.Workers;

/// <summary>
/// One <c>herd worker</c> on one shared run (issue #14): claims tasks with leases, runs them on the engine, and ends
/// each attempt with a fenced write — a retry back to the queue with its backoff, or the task's one final record.
/// </summary>
/// <remarks>
/// <para>
/// Why a loop of its own rather than a task source feeding <see cref="FleetRunner"/>: FleetRunner owns a run's
/// scheduling state in memory (queues, retry delays, halt counts, the budget ledger) because it is the run's only
/// writer. With many workers that state must live in the database — the queue is the tasks table, a retry's delay is
/// <c>not_before</c>, halt counts are the run's (its row plus a counter row per writer), the ledger and the AIMD limit
/// are shared rows — so what is left for a worker is small: claim, run, end. It reuses the engine, the outcome classes, <see cref="RetryPolicy"/>,
/// <see cref="HaltPolicy"/> and <see cref="TaskRecord"/> unchanged, and FleetRunner is not touched.
/// </para>
/// <para>
/// Guarantees: a task is run by one worker at a time (the claim's row lock and lease); a worker presumed dead (no
/// heartbeat for a lease) loses its tasks to the next claimer, and its late result is rejected by the lease epoch; a
/// final record is written in the same transaction that makes the task final, once. A lost connection is retried
/// with backoff for <see cref="WorkerOptions.ReconnectFor"/>; the leases survive short outages (they are renewed on
/// the first beat after reconnecting), longer ones hand the tasks to other workers.
/// </para>
/// </remarks>
public sealed class WorkerLoop(ILeaseQueue leases, ISharedRunState runState, ITaskEngine engine, WorkerOptions options)
{
    private readonly Lock _gate = new();

    /// <summary>What each open attempt has spent so far; the heartbeat writes it (<see cref="ISharedRunState.Beat"/>), the end writes the whole.</summary>
    private readonly System.Collections.Concurrent.ConcurrentDictionary<(string Key, int N), double> _runningCosts = new();
    private SharedRunState? _shared;

    /// <summary>The attempts running in this process, for the progress display: task, attempt, slot, start, and calls so far.</summary>
    private readonly System.Collections.Concurrent.ConcurrentDictionary<(string Key, int N), (string Task, int Slot, DateTimeOffset Started, int Calls)> _running = new();
    private long _started;

    /// <summary>Cancels this worker's running attempts; the heartbeat uses it when another worker's halt ends them.</summary>
    private CancellationTokenSource? _attempts;

    private TimeProvider Time => options.Time;

    private ISharedRunState RunState => runState;

    private ILeaseQueue Leases => leases;

    private WorkerOptions Options => options;

    private TimeSpan LiveWithin => options.HeartbeatEvery * 3;

    private SharedRunState Shared
    {
        get
        {
            lock (_gate)
                return _shared!;
        }
        set
        {
            lock (_gate)
                _shared = value;
        }
    }

    public async Task<WorkerReport> RunAsync(CancellationToken cancellationToken = default)
    {
        _started = Time.GetTimestamp();
        Shared = await DbAsync(() => runState.Beat(Time.GetUtcNow(), LiveWithin)).ConfigureAwait(false);
        using var heartbeat = Time.CreateTimer(_ => Beat(), null, options.HeartbeatEvery, options.HeartbeatEvery);
        // Not SingleReader: that channel cannot count, and the group-commit window reads how many attempts have ended.
        var completions = Channel.CreateUnbounded<Done>();
        using var attemptsCts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        _attempts = attemptsCts;
        var freeSlots = new PriorityQueue<int, int>();
        var nextSlot = 1;
        var inflight = 0;
        var (attempts, finals, retries, rejected) = (0, 0, 0, 0);
        var stopping = false;
        var cancelled = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var registration = cancellationToken.Register(() => cancelled.TrySetResult());

        // How many more attempts may start now: none while stopping or paused, else up to -j (or this worker's share of
        // the shared back-pressure limit).
        int Room(DateTimeOffset now)
        {
            var shared = Shared;
            if (stopping || shared.PauseUntil is { } p && p > now)
                return 0;
            var limit = options.Jobs;
            if (shared.RateLimit is { } shareOf)
                limit = Math.Min(limit, Math.Max(1, (int)Math.Ceiling(shareOf / (double)shared.LiveWorkers)));
            return Math.Max(0, limit - inflight);
        }

        void Start(IReadOnlyList<ClaimedTask> claimed)
        {
            foreach (var c in claimed)
            {
                var slot = freeSlots.Count > 0 ? freeSlots.Dequeue() : nextSlot++;
                var task = c.Stored.Task;
                var prompt = task.Prompt.Replace("{%}", slot.ToString(CultureInfo.InvariantCulture), StringComparison.Ordinal);
                var attempt = new TaskAttempt(task, c.Lease.Number, slot, prompt, c.SessionId, task.Caps.Timeout ?? options.AttemptTimeout,
                    task.Caps.IdleTimeout ?? options.Schedule.IdleTimeout, c.Stored.SpentUsd, c.Stored.ResumeSessionId);
                _running[(task.Key, c.Lease.Number)] = (task.Name, slot, c.Started, 0);
                inflight++;
                attempts++;
                _ = RunAttemptAsync(c, attempt, completions.Writer, attemptsCts.Token);
            }
        }

        // Every attempt that ended since the last round trip is handled together and ended in ONE store round trip
        // (<see cref="ILeaseQueue.EndAsync"/>): under load completions pile up while a round trip is in flight, so the batch
        // grows exactly when the per-task cost of the database matters.
        async Task HandleAsync(List<Done> batch)
        {
            var now = Time.GetUtcNow();
            var ends = new List<LeaseEnd>(batch.Count);
            var toFinish = new List<Done>();
            HaltVerdict? budgetHalt = null;
            foreach (var done in batch)
            {
                inflight--;
                freeSlots.Enqueue(done.Attempt.Slot, done.Attempt.Slot);
                _runningCosts.TryRemove((done.Claim.Lease.Key, done.Claim.Lease.Number), out _);
                _running.TryRemove((done.Claim.Lease.Key, done.Claim.Lease.Number), out _);
                var (claim, outcome) = (done.Claim, done.Outcome);
                var cls = outcome.Class;
                if (cls.IsBackPressure())
                {
                    var after = outcome.RetryAfter is { } ra && ra > TimeSpan.Zero ? now + (ra < options.Schedule.MaxPause ? ra : options.Schedule.MaxPause) : (DateTimeOffset?)null;
                    await DbAsync(() => runState.OnBackPressure(now, Math.Min(options.RateCeiling, Math.Max(options.Jobs, 1) * Math.Max(Shared.LiveWorkers, 1)), after, options.RateCooldown)).ConfigureAwait(false);
                }
                var stored = claim.Stored;
                var verdict = AttemptDecision.Decide(outcome, new TaskHistory(stored.Retries, stored.ClassCounts.GetValueOrDefault(cls)), options.Schedule, stopping, now);
                switch (verdict)
                {
                    case AttemptVerdict.Requeue:
                        ends.Add(new LeaseEnd(claim.Lease, outcome, AttemptDisposition.Requeue, cls == OutcomeClass.RunBudget ? now + options.PollEvery : null));
                        if (cls == OutcomeClass.RunBudget)
                            budgetHalt ??= AttemptDecision.AfterBudgetRefusal(reservationsHeld: done.Ledger.Reserved > 1e-9, ceilingUsd: null);
                        break;
                    case AttemptVerdict.Retry retry:
                        ends.Add(new LeaseEnd(claim.Lease, outcome, AttemptDisposition.Retry, retry.At));
                        break;
                    default:
                        toFinish.Add(done);
                        break;
                }
            }
            if (toFinish.Count > 0)
            {
                var earlier = await DbAsync(() => leases.EarlierAttemptsAsync([.. toFinish.Select(f => f.Claim.Lease)])).ConfigureAwait(false);
                foreach (var done in toFinish)
                    ends.Add(new LeaseEnd(done.Claim.Lease, done.Outcome, AttemptDisposition.Final, Record: Record(done, earlier.GetValueOrDefault(done.Claim.Lease.Key))));
            }
            // The same round trip claims as many new tasks as there is room for (one round trip a turn in full flow).
            var room = Room(now);
            var result = await DbAsync(() => leases.EndAsync(ends, room, now)).ConfigureAwait(false);
            var fatal = (TaskOutcome?)null;
            var succeeded = false;
            foreach (var end in ends)
            {
                if (!result.Accepted.Contains(end.Lease.Key))
                {
                    rejected += Rejected(end.Lease);
                    continue;
                }
                if (end.Disposition == AttemptDisposition.Retry)
                    retries++;
                if (!end.IsFinal)
                    continue;
                finals++;
                succeeded |= end.Outcome.Class.IsSuccess();
                if (end.Outcome.Class.IsRunFatal())
                    fatal ??= end.Outcome;
            }
            await DecideAsync(result, budgetHalt, succeeded, fatal, now).ConfigureAwait(false);
            if (stopping && result.Claimed.Count > 0)
            {
                // The batch that claimed them also stopped the run (a halt, a fatal class, the budget): they do not start.
                var back = result.Claimed.Select(c => new LeaseEnd(c.Lease, NotStarted(c), AttemptDisposition.Requeue)).ToList();
                await DbAsync(() => leases.EndAsync(back)).ConfigureAwait(false);
            }
            else
            {
                Start(result.Claimed);
            }
        }

        // What a batch's results decide for the run: halts (budget, a fatal class, the --halt policy) and the shared limit.
        async Task DecideAsync(EndBatch result, HaltVerdict? budgetHalt, bool succeeded, TaskOutcome? fatal, DateTimeOffset now)
        {
            if (budgetHalt is not null)
                await HaltAsync(budgetHalt).ConfigureAwait(false);
            if (succeeded && Shared.RateLimit is not null)
                await DbAsync(async () =>
                {
                    await runState.OnSuccessAsync(now, options.RateCeiling, options.RateCooldown).ConfigureAwait(false);
                    return true;
                }).ConfigureAwait(false);
            var stop = fatal is not null
                ? AttemptDecision.HaltAfterFinal(fatal, result.Done - result.Failed, result.Failed, result.Total, options.Schedule.Halt)
                : AttemptDecision.HaltByPolicy(result.Done - result.Failed, result.Failed, result.Total, options.Schedule.Halt);
            if (stop is not null)
                await HaltAsync(stop).ConfigureAwait(false);
        }

        async Task HaltAsync(HaltVerdict stop)
        {
            await DbAsync(() => runState.HaltAsync(stop.Detail, stop.ExitCode)).ConfigureAwait(false);
            stopping = true;
            if (stop.Mode == HaltMode.Now)
                await attemptsCts.CancelAsync().ConfigureAwait(false);
        }

        while (true)
        {
            stopping |= cancellationToken.IsCancellationRequested || Shared.Status != RunStatus.Running;
            var claimedNone = true;
            var room = Room(Time.GetUtcNow());
            if (room > 0)
            {
                // Start-up, or a turn after a short claim: a claim of its own (ends carry the claims in full flow).
                var claimed = await DbAsync(() => leases.ClaimAsync(room, Time.GetUtcNow())).ConfigureAwait(false);
                claimedNone = claimed.Count == 0;
                Start(claimed);
            }
            if (inflight == 0)
            {
                if (stopping)
                    break;
                if (claimedNone)
                {
                    // Nothing to claim and nothing running here: done if the run is, else the rest is leased or backing off elsewhere.
                    await DbAsync(async () =>
                    {
                        await leases.FinishIfDoneAsync().ConfigureAwait(false);
                        return true;
                    }).ConfigureAwait(false);
                    Shared = await DbAsync(() => runState.ReadSharedAsync(Time.GetUtcNow(), LiveWithin)).ConfigureAwait(false);
                    if (Shared.Status != RunStatus.Running)
                        break;
                }
            }
            var read = completions.Reader.WaitToReadAsync(CancellationToken.None).AsTask();
            if (!read.IsCompleted)
            {
                using var delayCts = new CancellationTokenSource();
                var waits = new List<Task> { read };
                if (claimedNone || inflight == 0)
                    waits.Add(Task.Delay(options.PollEvery, Time, delayCts.Token));
                if (!cancellationToken.IsCancellationRequested)
                    waits.Add(cancelled.Task);
                await Task.WhenAny(waits).ConfigureAwait(false);
                await delayCts.CancelAsync().ConfigureAwait(false);
            }
            if (cancellationToken.IsCancellationRequested && !attemptsCts.IsCancellationRequested)
                await attemptsCts.CancelAsync().ConfigureAwait(false);
            if (!stopping && options.BatchWindow > TimeSpan.Zero && completions.Reader.Count > 0 && completions.Reader.Count * 2 < inflight)
            {
                // Group commit: let a few more attempts end so one round trip writes them all (and claims their successors).
                await Task.Delay(options.BatchWindow, Time).ConfigureAwait(false);
            }
            var ended = new List<Done>();
            while (completions.Reader.TryRead(out var done))
                ended.Add(done);
            if (ended.Count > 0)
                await HandleAsync(ended).ConfigureAwait(false);
        }
        var final = await DbAsync(() => runState.ReadSharedAsync(Time.GetUtcNow(), LiveWithin)).ConfigureAwait(false);
        return new WorkerReport(attempts, finals, retries, rejected, final.Status);
    }

    /// <summary>
    /// What the progress display of <c>herd run --store</c> shows, as <c>herd run</c>'s scheduler reports it: the run's
    /// counts as every worker left them (at the last heartbeat or end), the attempts running in this process, the shared
    /// limit, pause and ceiling. Null before the loop's first read of the run.
    /// </summary>
    /// <param name="spentUsd">What the run spent as this process knows it (<see cref="IRunState.SpentUsd"/>).</param>
    public FleetStatus? Status(double spentUsd)
    {
        SharedRunState? shared;
        lock (_gate)
            shared = _shared;
        if (shared is null)
            return null;
        var now = Time.GetUtcNow();
        var running = _running.Select(r => new RunningAttempt(r.Key.Key, r.Value.Task, r.Key.N, r.Value.Slot, r.Value.Started, r.Value.Calls,
            _runningCosts.GetValueOrDefault(r.Key))).OrderBy(r => r.Started).ToArray();
        var limit = shared.RateLimit is { } shareOf ? Math.Min(options.Jobs, Math.Max(1, (int)Math.Ceiling(shareOf / (double)shared.LiveWorkers))) : options.Jobs;
        var halt = shared.Status == RunStatus.Halted
            ? shared.ExitCode == RunExitCodes.Budget ? HaltReason.Budget : shared.ExitCode == RunExitCodes.Fatal ? HaltReason.Fatal : HaltReason.Policy
            : HaltReason.None;
        return new FleetStatus(shared.Total, shared.Done - shared.Failed, shared.Failed, running.Length, Math.Max(0, shared.Total - shared.Done - running.Length), 0,
            limit, options.Jobs, shared.RateLimit is not null, null, shared.PauseUntil is { } p && p > now ? p : null,
            spentUsd + running.Sum(r => r.SpentUsd), 0, shared.BudgetUsd, null, Time.GetElapsedTime(_started), null, halt)
        {
            RunningTasks = running,
        };
    }

    /// <summary>
    /// Whether a halt ends running attempts rather than letting them finish: a run-fatal class, or the run's own
    /// <c>--halt now</c> policy firing (every worker reads the run's stored definition alike; its exit code is the failed
    /// count, at most 101 — a budget halt, 102, lets running attempts finish as on one machine).
    /// </summary>
    private bool StopsAttempts(SharedRunState shared) =>
        shared.ExitCode == RunExitCodes.Fatal || (options.Schedule.Halt.Mode == HaltMode.Now && shared.ExitCode is { } code && code <= RunExitCodes.MoreThan100Failed);

    /// <summary>The outcome recorded for a claimed attempt that never started because the run stopped first.</summary>
    private TaskOutcome NotStarted(ClaimedTask claim)
    {
        var now = Time.GetUtcNow();
        return new TaskOutcome
        {
            Class = OutcomeClass.Cancelled, Start = claim.Started, End = now, SessionId = claim.SessionId,
            Error = "not started: the run stopped", IsError = true,
        };
    }

    private int Rejected(TaskLease lease)
    {
        options.Notice($"the lease on task {lease.Key[..12]} was taken over by another worker; this result was discarded (fencing).");
        return 1;
    }

    /// <summary>The task's one record: its earlier attempts as stored, then this one as it ended.</summary>
    private string Record(Done done, IReadOnlyList<AttemptRow>? earlier)
    {
        var stored = done.Claim.Stored;
        var caps = options.Caps with
        {
            MaxTurns = stored.Task.Caps.MaxTurns ?? options.Caps.MaxTurns,
            MaxBudgetUsd = stored.Task.Caps.MaxBudgetUsd ?? options.Caps.MaxBudgetUsd,
            Timeout = done.Attempt.Timeout,
            IdleTimeout = done.Attempt.IdleTimeout,
        };
        List<AttemptRow> rows = [.. earlier ?? [], done.Claim.OpenRow.Ended(done.Outcome)];
        return TaskRecord.Build(stored.Task, done.Outcome, rows, engine.Name, engine.Version, caps, options.Shard);
    }

    private async Task RunAttemptAsync(ClaimedTask claim, TaskAttempt attempt, ChannelWriter<Done> writer, CancellationToken ct)
    {
        TaskOutcome outcome;
        var ledger = LedgerReading.Observe(); // flows into the engine's calls (an AsyncLocal)
        try
        {
            outcome = await Task.Run(() => engine.RunAsync(attempt, new Observer(this), ct), CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            var now = Time.GetUtcNow();
            outcome = new TaskOutcome
            {
                Class = ct.IsCancellationRequested ? OutcomeClass.Cancelled : OutcomeClass.Crash,
                Start = now, End = now, SessionId = attempt.SessionId, Error = ex.Message, IsError = true,
            };
        }
        writer.TryWrite(new Done(claim, attempt, outcome, ledger));
    }

    private void Beat()
    {
        try
        {
            var shared = runState.Beat(Time.GetUtcNow(), LiveWithin, [.. _runningCosts.Select(c => new RunningCost(c.Key.Key, c.Key.N, c.Value))]);
            Shared = shared;
            if (shared.Status == RunStatus.Halted && StopsAttempts(shared))
            {
                // Another worker halted the run in a way that ends running attempts too (--halt now, a fatal class): the
                // attempts stop now, not when they end on their own; their tasks go back to the queue.
                _attempts?.Cancel();
            }
        }
        catch (Exception ex) when (IsTransient(ex) || ex is ObjectDisposedException)
        {
            // A missed beat only brings the lease closer to its end; the next one renews it.
        }
    }

    /// <summary>A store call, retried with backoff while the database is unreachable (a restart, a failover, a network blip).</summary>
    private Task<T> DbAsync<T>(Func<T> call) => DbAsync(() => Task.FromResult(call()));

    private async Task<T> DbAsync<T>(Func<Task<T>> call)
    {
        var started = Time.GetTimestamp();
        var delay = TimeSpan.FromMilliseconds(200);
        var told = false;
        while (true)
        {
            try
            {
                var result = await call().ConfigureAwait(false);
                if (told)
                    options.Notice("reconnected to the run store.");
                return result;
            }
            catch (Exception ex) when (IsTransient(ex) && Time.GetElapsedTime(started) < options.ReconnectFor)
            {
                if (!told)
                    options.Notice($"lost the run store ({ex.Message.TrimEnd('.')}); retrying for up to {options.ReconnectFor.TotalSeconds:0} s.");
                told = true;
                await Task.Delay(delay, Time).ConfigureAwait(false);
                delay = TimeSpan.FromMilliseconds(Math.Min(delay.TotalMilliseconds * 2, 5000));
            }
            catch (Exception ex) when (IsTransient(ex))
            {
                throw leases.Explain(ex);
            }
        }
    }

    private Task DbAsync(Action call) => DbAsync(() =>
    {
        call();
        return true;
    });

    private bool IsTransient(Exception ex) => leases.IsTransient(ex);

    private sealed record Done(ClaimedTask Claim, TaskAttempt Attempt, TaskOutcome Outcome, LedgerReading Ledger);

    private sealed class Observer(WorkerLoop loop) : IAttemptObserver
    {
        public void OnCallCost(TaskAttempt a, double costUsd)
        {
            if (costUsd > 0)
                loop._runningCosts.AddOrUpdate((a.Task.Key, a.Number), costUsd, (_, sum) => sum + costUsd);
            if (loop._running.TryGetValue((a.Task.Key, a.Number), out var open))
                loop._running[(a.Task.Key, a.Number)] = open with { Calls = open.Calls + 1 };
        }

        public void OnBackPressure(int status, TimeSpan? retryAfter)
        {
            var now = loop.Time.GetUtcNow();
            var until = status == 429 && retryAfter is { } ra && ra > TimeSpan.Zero ? now + ra : (DateTimeOffset?)null;
            try
            {
                loop.RunState.OnBackPressure(now, loop.Options.RateCeiling, until, loop.Options.RateCooldown);
            }
            catch (Exception ex) when (loop.Leases.IsTransient(ex))
            {
                // Back-pressure is advisory; the attempt's own retry handles the call.
            }
        }
    }
}
