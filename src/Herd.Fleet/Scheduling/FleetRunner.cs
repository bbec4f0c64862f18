using System.Diagnostics;
using System.Threading.Channels;
using Herd.Fleet.Engines;
using Herd.Fleet.Jobs;
using Herd.Fleet.Reports;
using Herd.Fleet.Store;
using Herd.Fleet.Telemetry;

namespace Herd.Fleet.Scheduling;

/// <summary>
/// The worker pool (spec §4–6). One coordinator loop owns all scheduling state: it starts attempts while slots are
/// free (limit L, start spacing, fleet-wide pause, run-wide retry budget), and handles each finished attempt — record
/// it, classify it into retry / final / halt, adjust L. Attempts run concurrently on the thread pool and report back
/// through a channel, so no lock guards the queues. Outcomes are values; an engine exception is that task's crash.
/// </summary>
/// <remarks>
/// <para>
/// <b>Persistence off the critical path.</b> The coordinator decides; a <see cref="TransitionWriter"/> thread commits.
/// Each transition (attempt started; attempt ended → requeued, retry, or final) is posted as one closure that runs one
/// <see cref="IRunStore"/> transaction, and for a final state then appends the task's results.ndjson record. The
/// coordinator therefore starts the next attempt as soon as a slot frees, instead of after two SQLite commits and a
/// file append; at 10 000 tasks × 0.2 s on -j 64 that wait was most of the idle time between one task and the next.
/// </para>
/// <para>
/// Why the guarantees still hold:
/// (1) Every transition still lands whole in one committed transaction — only the thread that runs it changed, and
/// under load consecutive transitions share one commit (<see cref="TransitionWriter"/>), which changes no order.
/// (2) Order: one writer, FIFO. A task's start is posted before its attempt runs, its end only after the attempt
/// reported back, and a retry's start only after that end; so per task (and globally) transactions commit in the
/// order the coordinator made the decisions, and a final state's record is built from rows already committed.
/// (3) A task is never reported finished before its final state is committed: the record is appended by the writer
/// right after that commit (ResultsFile's rule), the status display counts a task done only then
/// (<see cref="FleetStatus.Succeeded"/>/<see cref="FleetStatus.Failed"/> are the committed counts), and
/// <see cref="RunAsync"/> drains the writer before it returns its report, so the summary, the final line and the exit
/// code all read a database that holds every decision.
/// (4) kill -9 at any point leaves a prefix of the decisions committed. A task whose start was not yet committed is
/// still pending in the database; one whose end was not yet committed has an open attempt, which RecoverInterrupted
/// marks interrupted and requeues; one whose final commit landed but whose append did not is restored when
/// results.ndjson is rebuilt from the database at open. So resume redoes exactly the tasks without a committed final
/// state, as before — the only difference is that the window between an attempt's real end and its commit is a few
/// hundred microseconds longer, and an attempt cut off in it is redone (as one cut off mid-run always was).
/// (5) Scheduling state (queues, retry counts, halt, AIMD, medians) stays in memory on the coordinator, which never
/// read it back from the database, so deciding ahead of the commits changes no decision.
/// (6) A failed commit stops the writer (nothing after it is applied); the coordinator sees the fault on its next turn,
/// cancels the attempts and throws, as a failed synchronous commit did before.
/// </para>
/// </remarks>
public sealed class FleetRunner(ITaskEngine engine, IRunStore store, ResultsFile results, FleetOptions options)
{
    /// <summary>The engine a task ran on (its own from --tasks, else the run's); the run's when the task's could not be built.</summary>
    private ITaskEngine TaskEngineOf(FleetTask task)
    {
        try
        {
            return engine.EngineFor(task);
        }
        catch (EngineUnavailableException)
        {
            return engine;
        }
    }

    private readonly Lock _statusGate = new();
    private readonly RunningMedian _successRuntimes = new();
    private readonly RunningMedian _finalCosts = new();
    private readonly HashSet<OutcomeClass> _reportedClasses = [];
    private readonly System.Collections.Concurrent.ConcurrentDictionary<TaskAttempt, AttemptProgress> _running = new(ReferenceEqualityComparer.Instance);
    private DateTimeOffset _pausedUntil = DateTimeOffset.MinValue;
    private int _committedSucceeded;
    private int _committedFailed;
    private FleetStatus? _status;
    private long _started;

    /// <summary>The latest snapshot; null before the run starts.</summary>
    public FleetStatus? Status
    {
        get
        {
            lock (_statusGate)
                return _status;
        }
    }

    private TimeProvider Time => options.Time;

    private FleetOptions Options => options;

    /// <summary>Transitions waiting for the store beyond which no attempt starts (a few seconds of writes at full speed).</summary>
    private const int MaxStoreBacklog = 4096;

    /// <summary>How often a start held back by <see cref="MaxStoreBacklog"/> looks again.</summary>
    private static readonly TimeSpan StoreBacklogPoll = TimeSpan.FromMilliseconds(20);

    /// <summary>Runs every stored task that has no final record. Returns when all are final, or the run halts.</summary>
    /// <param name="plan">The stored plan: counted once, then read a page at a time as slots free (issue #23).</param>
    /// <param name="attemptedOnly">Only unfinished tasks attempted before run (<c>--retry-failed</c>); the others stay pending.</param>
    public async Task<FleetReport> RunAsync(IPlanCursor plan, bool attemptedOnly = false, CancellationToken cancellationToken = default)
    {
        _started = Time.GetTimestamp();
        var counts = plan.CountTasks();
        var succeeded = counts.Succeeded;
        var failed = counts.Failed;
        var unfinished = attemptedOnly ? counts.UnfinishedAttempted : counts.Unfinished;
        var total = succeeded + failed + unfinished;
        // Fresh tasks come from the store a page at a time; `ready` holds only tasks put back this session (a retry
        // that is due, an attempt cancelled or refused by the budget), which go before fresh ones.
        var feed = new TaskFeed(plan, unfinished, attemptedOnly);
        var ready = new Queue<TaskState>();
        var delayed = new PriorityQueue<TaskState, DateTimeOffset>();
        var budgetWait = new List<TaskState>();
        var freeSlots = new PriorityQueue<int, int>();
        var nextSlot = 1;
        var inflight = 0;
        var halt = HaltMode.None;
        var haltReason = HaltReason.None;
        string? haltDetail = null;
        var retryBudget = new RetryBudget(Time);
        var nextStart = DateTimeOffset.MinValue;
        var completions = Channel.CreateUnbounded<Completion>(new UnboundedChannelOptions { SingleReader = true });
        using var attemptsCts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var cancelled = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var registration = cancellationToken.Register(() => cancelled.TrySetResult());
        _committedSucceeded = succeeded;
        _committedFailed = failed;
        using var writer = new TransitionWriter(store as ITransitionBatches, results.Flush);
        var observer = new Observer(this, writer, store);
        // Task spans go under the run's span (the caller's current activity); null and free when nobody listens.
        var runSpan = Activity.Current?.Context ?? default;
        var spanned = new HashSet<TaskState>();

        void Publish()
        {
            var spent = options.Budget?.SpentUsd ?? store.SpentUsd;
            var projected = Projection(spent, feed.Remaining + ready.Count + delayed.Count + inflight);
            var elapsed = Time.GetElapsedTime(_started);
            TimeSpan? eta = null;
            var p50 = _successRuntimes.Median;
            var remaining = feed.Remaining + ready.Count + delayed.Count + inflight;
            if (p50 > 0 && remaining > 0)
                eta = TimeSpan.FromSeconds(p50 * remaining / Math.Max(1, options.Limiter.Limit));
            // Done means committed (see remarks): the coordinator's own counts may run a few transitions ahead.
            FleetTelemetry.ConcurrencyLimit.Record(options.Limiter.Limit);
            var status = new FleetStatus(total, Volatile.Read(ref _committedSucceeded), Volatile.Read(ref _committedFailed), inflight, feed.Remaining + ready.Count, delayed.Count, options.Limiter.Limit,
                options.Limiter.Max, options.Limiter.Adaptive, options.Limiter.LastChange,
                PausedUntil() is { } p && p > Time.GetUtcNow() ? p : null,
                spent, options.Budget?.ReservedUsd ?? 0, options.Budget?.CeilingUsd, projected, elapsed, eta, haltReason)
            {
                RunningTasks = _running.Select(kv => kv.Value.Snapshot(kv.Key)).OrderBy(r => r.Started).ToArray(),
            };
            lock (_statusGate)
                _status = status;
        }

        void Start(TaskState ts, DateTimeOffset now)
        {
            ts.Attempts++;
            var slot = freeSlots.Count > 0 ? freeSlots.Dequeue() : nextSlot++;
            var sessionId = Guid.NewGuid().ToString();
            var prompt = ts.Task.Prompt.Contains("{%}", StringComparison.Ordinal)
                ? ts.Task.Prompt.Replace("{%}", slot.ToString(System.Globalization.CultureInfo.InvariantCulture), StringComparison.Ordinal)
                : ts.Task.Prompt;
            // issue #13: a task whose last attempt was cut off continues that session where its engine can resume one.
            var attempt = new TaskAttempt(ts.Task, ts.Attempts, slot, prompt, sessionId, TimeoutFor(ts.Task), ts.Task.Caps.IdleTimeout ?? options.Schedule.IdleTimeout, ts.SpentUsd, ts.ResumeSessionId);
            ts.ResumeSessionId = null;
            var (key, number) = (ts.Task.Key, ts.Attempts);
            writer.Post(() => store.StartAttempt(key, number, slot, now, sessionId));
            if (ts.IsRetry)
                retryBudget.OnRetry();
            else
                retryBudget.OnFirstAttempt();
            inflight++;
            if (ts.Span is null && FleetTelemetry.StartTask(runSpan, ts.Task, options.Shard?.ToString()) is { } taskSpan)
            {
                ts.Span = taskSpan;
                spanned.Add(ts);
            }
            FleetTelemetry.Running.Add(1);
            _running[attempt] = new AttemptProgress(now);
            _ = RunAttemptAsync(ts, attempt, observer, completions.Writer, attemptsCts.Token);
        }

        void Handle(Completion done)
        {
            inflight--;
            FleetTelemetry.Running.Add(-1);
            _running.TryRemove(done.Attempt, out _);
            foreach (var waiting in budgetWait)
                ready.Enqueue(waiting);
            budgetWait.Clear();
            freeSlots.Enqueue(done.Attempt.Slot, done.Attempt.Slot);
            var ts = done.State;
            var outcome = done.Outcome;
            var cls = outcome.Class;
            ts.SpentUsd += outcome.CostUsd;
            if (cls.IsBackPressure())
                observer.OnBackPressure(outcome.ApiErrorStatus ?? (cls == OutcomeClass.RateLimited ? 429 : 529), outcome.RetryAfter);

            var stopping = halt != HaltMode.None || cancellationToken.IsCancellationRequested;
            var verdict = AttemptDecision.Decide(outcome, new TaskHistory(ts.Retries, ts.CountClass(cls) - 1), options.Schedule, stopping, Time.GetUtcNow());
            if (verdict is AttemptVerdict.Requeue)
            {
                // Not a verdict on the task: it stays pending (resumable) and costs no retry.
                writer.Post(() => store.FinishAttempt(ts.Task.Key, done.Attempt.Number, outcome, usedRetry: false, buildRecord: null));
                if (cls == OutcomeClass.RunBudget)
                {
                    // Other attempts hold reservations: the ceiling is busy, not spent. Try again once one of them settles.
                    if (AttemptDecision.AfterBudgetRefusal(reservationsHeld: inflight > 0 && halt == HaltMode.None, options.Budget?.CeilingUsd) is not { } budgetHalt)
                        budgetWait.Add(ts);
                    else
                        HaltWith(budgetHalt);
                }
                else if (cls == OutcomeClass.Cancelled && !attemptsCts.IsCancellationRequested)
                {
                    ts.ResumeSessionId = outcome.SessionId;
                    ready.Enqueue(ts);
                }
                return;
            }

            if (!cls.IsSuccess() && options.Notice is { } notice && _reportedClasses.Add(cls))
                notice($"first {cls.Name()} in this run (task {ts.Task.Name}): {outcome.Error ?? "no detail"}");
            if (verdict is AttemptVerdict.Retry retry)
            {
                ts.Retries = retry.RetryNumber;
                ts.IsRetry = true;
                writer.Post(() => store.FinishAttempt(ts.Task.Key, done.Attempt.Number, outcome, usedRetry: true, buildRecord: null));
                FleetTelemetry.Retrying(ts.Span, cls, ts.Retries, retry.At - Time.GetUtcNow());
                delayed.Enqueue(ts, retry.At);
                return;
            }

            var caps = new CapsInForce(
                ts.Task.Caps.MaxTurns ?? options.Caps.MaxTurns,
                ts.Task.Caps.MaxBudgetUsd ?? options.Caps.MaxBudgetUsd,
                done.Attempt.Timeout,
                done.Attempt.IdleTimeout);
            var success = cls.IsSuccess();
            var taskEngine = TaskEngineOf(ts.Task);
            string? record = null;
            writer.Post(
                () => record = store.FinishAttempt(ts.Task.Key, done.Attempt.Number, outcome, usedRetry: false,
                    rows => TaskRecord.Build(ts.Task, outcome, rows, taskEngine.Name, taskEngine.Version, caps, options.Shard?.ToString())),
                () =>
                {
                    // Appended only after the final state is committed; see ResultsFile for why this cannot duplicate.
                    results.Append(record!);
                    Interlocked.Increment(ref success ? ref _committedSucceeded : ref _committedFailed);
                });
            _finalCosts.Add(outcome.CostUsd);
            FleetTelemetry.EndTask(ts.Span, cls, ts.SpentUsd, ts.Retries, ts.Attempts);
            ts.Span = null;
            spanned.Remove(ts);
            if (cls.IsSuccess())
            {
                succeeded++;
                _successRuntimes.Add((outcome.End - outcome.Start).TotalSeconds);
                options.Limiter.OnSuccess(inflight);
            }
            else
            {
                failed++;
            }

            if (AttemptDecision.HaltAfterFinal(outcome, succeeded, failed, total, options.Schedule.Halt) is { } stop)
                HaltWith(stop);
        }

        // The first reason stays the run's; a later, harder mode (now after soon) still takes effect.
        void HaltWith(HaltVerdict stop)
        {
            if (haltReason == HaltReason.None || stop.Reason == HaltReason.Fatal)
                (haltReason, haltDetail) = (stop.Reason, stop.Detail);
            if (stop.Mode > halt)
                halt = stop.Mode;
            if (halt == HaltMode.Now)
                attemptsCts.Cancel();
        }

        Publish();
        while (true)
        {
            var now = Time.GetUtcNow();
            while (delayed.TryPeek(out _, out var due) && due <= now)
                ready.Enqueue(delayed.Dequeue());

            DateTimeOffset? wake = null;
            if (halt == HaltMode.None && !cancellationToken.IsCancellationRequested)
            {
                while (inflight < options.Limiter.Limit && (ready.Count > 0 || feed.Remaining > 0))
                {
                    var pausedUntil = PausedUntil();
                    var notBefore = pausedUntil > nextStart ? pausedUntil : nextStart;
                    if (now < notBefore)
                    {
                        wake = notBefore;
                        break;
                    }
                    if (writer.Backlog >= MaxStoreBacklog)
                    {
                        // The store is behind (a million-task run.db outgrows SQLite's page cache): start nothing until
                        // it catches up, so memory stays bounded and what is durable stays close to what happened — the
                        // queue of a 1M-task run once grew to 2 GB and took minutes to drain after SIGTERM.
                        wake = now + StoreBacklogPoll;
                        break;
                    }
                    // A retry held back by the run-wide retry budget lets fresh tasks go first.
                    var retryHeld = ready.Count > 0 && ready.Peek().IsRetry && !retryBudget.CanRetry();
                    var next = ready.Count > 0 && !retryHeld ? ready.Dequeue() : feed.TryTake(out var stored) ? new TaskState(stored) : null;
                    if (next is null)
                    {
                        if (retryHeld)
                            wake = now + TimeSpan.FromSeconds(1);
                        break;
                    }
                    Start(next, now);
                    if (options.Schedule.Delay > TimeSpan.Zero)
                        nextStart = now + options.Schedule.Delay;
                }
            }

            var idle = inflight == 0;
            if (idle && (halt != HaltMode.None || cancellationToken.IsCancellationRequested || (ready.Count == 0 && delayed.Count == 0 && feed.Remaining == 0)))
                break;
            if (halt == HaltMode.None && delayed.TryPeek(out _, out var nextDue) && (wake is null || nextDue < wake))
                wake = nextDue;
            Publish();

            var readTask = completions.Reader.WaitToReadAsync(CancellationToken.None).AsTask();
            if (!readTask.IsCompleted)
            {
                using var delayCts = new CancellationTokenSource();
                var waits = new List<Task> { readTask };
                if (wake is { } w)
                    waits.Add(Task.Delay(Max(w - Time.GetUtcNow(), TimeSpan.Zero), Time, delayCts.Token));
                if (!cancellationToken.IsCancellationRequested)
                    waits.Add(cancelled.Task);
                waits.Add(writer.Completion);
                await Task.WhenAny(waits).ConfigureAwait(false);
                delayCts.Cancel();
            }
            if (writer.Completion.IsFaulted)
            {
                // A transition could not be committed: stop everything, as a failed synchronous commit did.
                attemptsCts.Cancel();
                await writer.Completion.ConfigureAwait(false);
            }
            while (completions.Reader.TryRead(out var done))
                Handle(done);
            if (cancellationToken.IsCancellationRequested && haltReason == HaltReason.None)
            {
                haltReason = HaltReason.Interrupted;
                haltDetail = "interrupted";
            }
        }
        if (cancellationToken.IsCancellationRequested && haltReason == HaltReason.None)
            haltReason = HaltReason.Interrupted;
        // Nothing is reported until every decision is in the database.
        writer.Complete();
        await writer.Completion.ConfigureAwait(false);
        Publish();
        // Tasks the session leaves unfinished (halt, interrupt, budget): their spans close as such.
        foreach (var open in spanned)
            FleetTelemetry.AbandonTask(open.Span);
        var left = feed.Remaining + ready.Count + delayed.Count + budgetWait.Count;
        var spentNow = options.Budget?.SpentUsd ?? store.TotalSpentUsd();
        return new FleetReport(succeeded, failed, left, haltReason, haltDetail, Time.GetElapsedTime(_started), Projection(spentNow, left));
    }

    private async Task RunAttemptAsync(TaskState ts, TaskAttempt attempt, IAttemptObserver observer, ChannelWriter<Completion> writer, CancellationToken ct)
    {
        TaskOutcome outcome;
        // Current for this attempt's async flow only (this method's context is restored for the coordinator).
        var span = FleetTelemetry.StartAttempt(ts.Span, attempt, engine.EngineFor(attempt.Task).Name);
        try
        {
            // Off the coordinator: the engine's synchronous prelude (building tools, options) must not stall scheduling.
            outcome = await Task.Run(() => engine.RunAsync(attempt, observer, ct), CancellationToken.None).ConfigureAwait(false);
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
        FleetTelemetry.EndAttempt(span, outcome);
        writer.TryWrite(new Completion(ts, attempt, outcome));
    }

    private TimeSpan? TimeoutFor(FleetTask task)
    {
        if (task.Caps.Timeout is { } own)
            return own;
        if (options.Schedule.TimeoutPercent is { } pct)
        {
            // Spec §2: N % of the median runtime of successful tasks, once 5 succeeded; the floor before that.
            return _successRuntimes.Count >= 5 ? TimeSpan.FromSeconds(_successRuntimes.Median * pct / 100) : options.Schedule.TimeoutFloor;
        }
        return options.Schedule.Timeout;
    }

    /// <summary>Spec §10: spent + remaining × p50 of finished tasks' costs; null before any task finished.</summary>
    private double? Projection(double spent, int remaining) => _finalCosts.Count == 0 ? null : spent + remaining * _finalCosts.Median;

    private DateTimeOffset PausedUntil()
    {
        lock (_statusGate)
            return _pausedUntil;
    }

    /// <summary>Extends the fleet-wide pause; returns by how much it grew (for the pause-time metric).</summary>
    private TimeSpan PauseUntil(DateTimeOffset until)
    {
        lock (_statusGate)
        {
            if (until <= _pausedUntil)
                return TimeSpan.Zero;
            var from = _pausedUntil > Time.GetUtcNow() ? _pausedUntil : Time.GetUtcNow();
            _pausedUntil = until;
            return until - from;
        }
    }

    private static TimeSpan Max(TimeSpan a, TimeSpan b) => a > b ? a : b;

    private sealed record Completion(TaskState State, TaskAttempt Attempt, TaskOutcome Outcome);

    /// <summary>Back-pressure from running attempts: AIMD decrease and, with retry-after, a fleet-wide pause (spec §6).</summary>
    private sealed class Observer(FleetRunner runner, TransitionWriter writer, IRunStore store) : IAttemptObserver
    {
        public void OnCallCost(TaskAttempt attempt, double costUsd)
        {
            if (runner._running.TryGetValue(attempt, out var progress))
                progress.OnCall(costUsd);
            if (costUsd <= 0)
                return;
            var (key, n) = (attempt.Task.Key, attempt.Number);
            try
            {
                // Ordered after the attempt's start and before its end, which then writes the same total.
                writer.Post(() => store.AddAttemptCost(key, n, costUsd));
            }
            catch (InvalidOperationException)
            {
                // The writer already stopped (the run is ending on a store failure); the end of the run reports that.
            }
        }

        public void OnBackPressure(int status, TimeSpan? retryAfter)
        {
            runner.Options.Limiter.OnBackPressure(status);
            var grew = TimeSpan.Zero;
            if (status == 429 && retryAfter is { } after && after > TimeSpan.Zero)
            {
                var pause = after < runner.Options.Schedule.MaxPause ? after : runner.Options.Schedule.MaxPause;
                var now = runner.Time.GetUtcNow();
                grew = runner.PauseUntil(now + pause);
                if (grew > TimeSpan.Zero)
                {
                    try
                    {
                        // In order with the transitions, off the scheduling path; the report's timeline draws it.
                        writer.Post(() => store.RecordPause(now, now + pause, $"retry-after {status}"));
                    }
                    catch (InvalidOperationException)
                    {
                        // The writer already stopped (the run is ending on a store failure).
                    }
                }
            }
            FleetTelemetry.OnBackPressure(status, grew);
        }
    }

    /// <summary>Turns and spend of one running attempt, counted from its calls (engine threads write, Publish reads).</summary>
    private sealed class AttemptProgress(DateTimeOffset started)
    {
        private readonly Lock _gate = new();
        private int _calls;
        private double _spent;

        public void OnCall(double costUsd)
        {
            lock (_gate)
            {
                _calls++;
                _spent += costUsd;
            }
        }

        public RunningAttempt Snapshot(TaskAttempt a)
        {
            lock (_gate)
                return new RunningAttempt(a.Task.Key, a.Task.Name, a.Number, a.Slot, started, _calls, _spent);
        }
    }

    /// <summary>Scheduling state of one unfinished task; owned by the coordinator loop.</summary>
    private sealed class TaskState(StoredTask stored)
    {
        private readonly Dictionary<OutcomeClass, int> _classCounts = new(stored.ClassCounts);

        public FleetTask Task { get; } = stored.Task;
        public int Attempts { get; set; } = stored.Attempts;
        public int Retries { get; set; } = stored.Retries;
        public bool IsRetry { get; set; } = stored.Retries > 0;
        public double SpentUsd { get; set; } = stored.SpentUsd;

        /// <value>The session to continue on the next attempt (issue #13); used once.</value>
        public string? ResumeSessionId { get; set; } = stored.ResumeSessionId;
        /// <summary>The task's <c>herd.task</c> span while it is open; null when nobody listens.</summary>
        public Activity? Span { get; set; }

        public int CountClass(OutcomeClass c)
        {
            _classCounts[c] = _classCounts.GetValueOrDefault(c) + 1;
            return _classCounts[c];
        }
    }
}
