using Herd.Agent.Models;

namespace Herd.Fleet.Batches;

/// <summary>What Ctrl-C or SIGTERM does to a Message Batch in flight (<c>--on-interrupt</c>).</summary>
public enum InterruptPolicy
{
    /// <summary>The batch keeps running at the API; <c>--resume</c> collects its results (the default: nothing paid for is thrown away).</summary>
    Leave,

    /// <summary>The batch is cancelled: requests not yet processed are not billed, and go again on resume.</summary>
    Cancel,
}

/// <summary>How a batch run polls, gathers and retries. Documented defaults.</summary>
public sealed record BatchRunOptions
{
    /// <value>The first wait before asking whether a batch has ended; doubled after each ask. Default 5 s.</value>
    public TimeSpan PollInitial { get; init; } = TimeSpan.FromSeconds(5);

    /// <value>The longest wait between asks. Default 60 s.</value>
    public TimeSpan PollMax { get; init; } = TimeSpan.FromSeconds(60);

    /// <value>
    /// How long every running task must have been waiting for the model, with no task starting or asking meanwhile,
    /// before a round is submitted: tasks still being started join the round instead of making a second, smaller one.
    /// Default 1 s: nothing beside a batch's minutes, and long enough that a busy machine starting thousands of
    /// sessions does not split the first round.
    /// </value>
    public TimeSpan Settle { get; init; } = TimeSpan.FromSeconds(1);

    /// <value>Rounds a task's request may be sent again after a retryable error, an expiry or a cancellation. Default 3.</value>
    public int MaxRetries { get; init; } = 3;

    public InterruptPolicy OnInterrupt { get; init; } = InterruptPolicy.Leave;
}

/// <summary>Where the batch run stands, for the progress display.</summary>
public sealed record BatchProgress(int Round, string BatchId, BatchStatus Status, BatchRequestCounts Counts, int Waiting, int Active);

/// <summary>
/// Turn-synchronous rounds for <c>herd run --batch</c>: every task of the run drives its own conversation and asks
/// <see cref="CallAsync"/> for each model call; once every running task is waiting for the model, their requests go to
/// the API as one Message Batch (split beyond 100 000 requests or 256 MB), polled with backoff, and each result goes back
/// to its task, which runs its tools and asks again. Each request is claimed in the run store before it is submitted and
/// its batch id recorded as soon as the API returns it (<see cref="IBatchLedger"/>), so a request found claimed — by a
/// run killed before it could collect the answer, or by another worker — is collected from its batch, never submitted
/// twice.
/// </summary>
public sealed class BatchRoundCoordinator
{
    private readonly AnthropicBatchClient _client;
    private readonly TimeProvider _time;
    private readonly Lock _gate = new();
    private readonly Dictionary<string, Collection> _collections = new(StringComparer.Ordinal);
    private List<Waiter> _queue = [];
    private int _active;
    private int _waiting;
    private int _round;
    private ITimer? _settle;
    private long _lastArrival;
    private BatchProgress? _progress;

    public BatchRoundCoordinator(AnthropicBatchClient client, IBatchLedger ledger, TimeProvider time, BatchRunOptions? options = null)
    {
        _client = client;
        Ledger = ledger;
        _time = time;
        Options = options ?? new BatchRunOptions();
        // A resumed run numbers its rounds after the ones it already made.
        _round = ledger.Batches().Select(b => b.Round).DefaultIfEmpty(0).Max();
    }

    public IBatchLedger Ledger { get; }

    public BatchRunOptions Options { get; }

    /// <value>The latest round's state; null before the first batch.</value>
    public BatchProgress? Progress
    {
        get
        {
            lock (_gate)
                return _progress is null ? null : _progress with { Waiting = _waiting, Active = _active };
        }
    }

    /// <summary>A task starts driving its conversation: a round waits for it. Dispose when the task's attempt ends.</summary>
    public IDisposable Enter()
    {
        lock (_gate)
        {
            _active++;
            _lastArrival = _time.GetTimestamp();
        }
        return new Exit(this);
    }

    /// <summary>One model call of a task, answered by the next round (or, when it was already submitted, by its batch).</summary>
    /// <param name="customId">Unique in the run: the same request always has the same id, which is what makes a resubmission detectable.</param>
    /// <exception cref="OperationCanceledException">The task's attempt was cancelled; the batch is left or cancelled as <see cref="BatchRunOptions.OnInterrupt"/> says.</exception>
    public async Task<BatchResult> CallAsync(string customId, string taskKey, ModelRequest request, CancellationToken cancellationToken = default)
    {
        var waiter = new Waiter(customId, taskKey, request);
        lock (_gate)
        {
            _queue.Add(waiter);
            _waiting++;
            _lastArrival = _time.GetTimestamp();
        }
        Poke();
        try
        {
            return await waiter.Answer.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            lock (_gate)
            {
                if (!waiter.Done)
                {
                    waiter.Done = true;
                    _waiting--;
                }
            }
            await AbandonAsync(waiter).ConfigureAwait(false);
            Poke();
            throw;
        }
    }

    /// <summary>
    /// Answers a waiter. It stops counting as waiting now, not when its task next runs: a task whose answer is on its way
    /// must not let a round start without it.
    /// </summary>
    private void Complete(Waiter waiter, BatchResult result)
    {
        lock (_gate)
        {
            if (waiter.Done)
                return;
            waiter.Done = true;
            _waiting--;
        }
        waiter.Answer.TrySetResult(result);
    }

    /// <summary>
    /// A waiter gave up (Ctrl-C, SIGTERM, its timeout). Still queued: it just leaves. In a batch that no one else waits
    /// for any more: with <see cref="InterruptPolicy.Cancel"/> the batch is cancelled before the attempt ends.
    /// </summary>
    private async Task AbandonAsync(Waiter waiter)
    {
        Collection? orphan = null;
        lock (_gate)
        {
            if (_queue.Remove(waiter))
                return;
            waiter.Abandoned = true;
            if (Options.OnInterrupt == InterruptPolicy.Cancel && waiter.BatchId is { } id && _collections.TryGetValue(id, out var collection)
                && !collection.CancelSent && collection.Waiters.All(w => w.Abandoned))
            {
                // Claimed under the lock, so the poller writes no state of its own from now on (see Record).
                collection.CancelSent = true;
                orphan = collection;
            }
        }
        if (orphan is null)
            return;
        try
        {
            using var limit = new CancellationTokenSource(TimeSpan.FromSeconds(30), _time);
            var batch = await _client.CancelAsync(orphan.BatchId, limit.Token).ConfigureAwait(false);
            Record(orphan, batch, BatchState.Canceled);
        }
        catch (Exception ex) when (ex is ModelApiException or OperationCanceledException)
        {
            // The batch could not be cancelled: it stays recorded in progress, and a resume collects it.
        }
    }

    /// <summary>Submits the queued requests once every running task waits for the model and none has joined for a moment.</summary>
    private void Poke()
    {
        lock (_gate)
        {
            if (_settle is not null || _queue.Count == 0 || _waiting < _active)
                return;
            _settle = _time.CreateTimer(_ => Settled(), null, Options.Settle, Timeout.InfiniteTimeSpan);
        }
    }

    private void Settled()
    {
        List<Waiter> round;
        int number;
        lock (_gate)
        {
            _settle?.Dispose();
            _settle = null;
            if (_queue.Count == 0)
                return;
            if (_waiting < _active)
                return; // a task went back to work (or a new one started): the next Poke settles again
            // Tasks are still arriving (a large run is being started): wait until they have been quiet for a while.
            var quiet = _time.GetElapsedTime(_lastArrival);
            if (quiet < Options.Settle)
            {
                _settle = _time.CreateTimer(_ => Settled(), null, Options.Settle - quiet, Timeout.InfiniteTimeSpan);
                return;
            }
            round = _queue;
            _queue = [];
            number = ++_round;
        }
        _ = RunRoundAsync(number, round);
    }

    private async Task RunRoundAsync(int round, List<Waiter> waiters)
    {
        try
        {
            var claimed = Ledger.ClaimRequests(round, waiters.Select(w => (w.CustomId, w.TaskKey)).ToArray());
            // Submitted before (a run killed before it collected them, or another worker): collected, never sent twice.
            foreach (var group in waiters.Where(w => claimed.GetValueOrDefault(w.CustomId) is not null).GroupBy(w => claimed[w.CustomId]!))
                _ = DeliverAsync(Attach(group.Key, round, group.ToArray()));
            var fresh = waiters.Where(w => claimed.GetValueOrDefault(w.CustomId) is null).ToList();
            var requests = fresh.Select(w => new BatchRequest(w.CustomId, w.Request)).ToArray();
            var byId = fresh.ToDictionary(w => w.CustomId, StringComparer.Ordinal);
            foreach (var chunk in AnthropicBatchClient.Split(requests))
            {
                var members = chunk.Select(r => byId[r.CustomId]).ToArray();
                MessageBatch batch;
                try
                {
                    batch = await _client.CreateAsync(chunk).ConfigureAwait(false);
                }
                catch (ModelApiException ex)
                {
                    // Not submitted: each request fails with the API's error, and its task's usual retry rule decides.
                    foreach (var member in members)
                        Complete(member, new BatchResult(member.CustomId, BatchResultKind.Errored, null, ex));
                    continue;
                }
                Ledger.RecordBatch(batch.Id, round, members.Select(m => m.CustomId).ToArray());
                var collection = Attach(batch.Id, round, members);
                Report(collection, batch);
                _ = DeliverAsync(collection);
            }
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            // The store failed (disk full, connection lost): every task of the round fails with it rather than hang.
            var error = new ModelApiException(ModelErrorKind.InvalidRequest, $"The batch round could not be recorded ({ex.Message})", inner: ex);
            foreach (var waiter in waiters)
                Complete(waiter, new BatchResult(waiter.CustomId, BatchResultKind.Errored, null, error));
        }
    }

    /// <summary>The waiters of one batch; one collection per batch id, however many rounds find it.</summary>
    private Collection Attach(string batchId, int round, IReadOnlyList<Waiter> waiters)
    {
        lock (_gate)
        {
            if (!_collections.TryGetValue(batchId, out var collection))
                _collections[batchId] = collection = new Collection(batchId, round);
            foreach (var waiter in waiters)
            {
                waiter.BatchId = batchId;
                collection.Waiters.Add(waiter);
            }
            return collection;
        }
    }

    /// <summary>Polls the batch until it ends (while anyone waits for it), then answers each waiter by custom_id.</summary>
    private async Task DeliverAsync(Collection collection)
    {
        lock (_gate)
        {
            if (collection.Delivering)
                return;
            collection.Delivering = true;
        }
        try
        {
            var wait = Options.PollInitial;
            while (true)
            {
                var batch = await AskAsync(() => _client.GetAsync(collection.BatchId)).ConfigureAwait(false);
                Report(collection, batch);
                lock (_gate)
                {
                    if (collection.Waiters.All(w => w.Abandoned))
                        return; // left in flight (--on-interrupt leave) or cancelled: no one waits, a resume collects it
                }
                if (batch.Status == BatchStatus.Ended)
                    break;
                await Task.Delay(wait, _time).ConfigureAwait(false);
                wait = wait * 2 < Options.PollMax ? wait * 2 : Options.PollMax;
            }
            var results = (await AskAsync(() => _client.ResultsAsync(collection.BatchId)).ConfigureAwait(false)).ToDictionary(r => r.CustomId, StringComparer.Ordinal);
            var final = await AskAsync(() => _client.GetAsync(collection.BatchId)).ConfigureAwait(false);
            Record(collection, final, BatchState.Collected);
            foreach (var waiter in TakeWaiters(collection))
            {
                // A request the results do not mention is as good as expired: it goes again.
                Complete(waiter, results.GetValueOrDefault(waiter.CustomId) ?? new BatchResult(waiter.CustomId, BatchResultKind.Expired, null,
                    new ModelApiException(ModelErrorKind.ServerError, "The batch returned no result for this request", errorType: "expired")));
            }
        }
        catch (Exception ex) when (ex is ModelApiException or HttpRequestException or IOException)
        {
            // Polling failed for good. The batch may still be running and billed: the waiters fail with an error that is
            // not retried (a retry would submit their requests again); a resume collects the batch from the store.
            var error = new ModelApiException(ModelErrorKind.InvalidRequest,
                $"Lost track of Message Batch {collection.BatchId} ({ex.Message.TrimEnd('.')}); continue with --resume to collect it", inner: ex);
            foreach (var waiter in TakeWaiters(collection))
                Complete(waiter, new BatchResult(waiter.CustomId, BatchResultKind.Errored, null, error));
        }
    }

    /// <summary>
    /// One question about a batch, asked again after a retryable failure (a network blip, a 5xx, a 429) with the poll's
    /// backoff, up to 10 times: giving up on a batch in flight would mean paying for its requests twice.
    /// </summary>
    private async Task<T> AskAsync<T>(Func<Task<T>> ask)
    {
        var wait = Options.PollInitial;
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                return await ask().ConfigureAwait(false);
            }
            catch (ModelApiException ex) when (ex.IsRetryable && attempt < 10)
            {
                await Task.Delay(ex.RetryAfter ?? wait, _time).ConfigureAwait(false);
                wait = wait * 2 < Options.PollMax ? wait * 2 : Options.PollMax;
            }
        }
    }

    /// <summary>The batch's waiters, to be answered; a waiter attached later starts a new delivery.</summary>
    private Waiter[] TakeWaiters(Collection collection)
    {
        lock (_gate)
        {
            Waiter[] waiters = [.. collection.Waiters];
            collection.Waiters.Clear();
            collection.Delivering = false;
            return waiters;
        }
    }

    private void Report(Collection collection, MessageBatch batch)
    {
        lock (_gate)
        {
            if (_progress is null || collection.Round >= _progress.Round)
                _progress = new BatchProgress(collection.Round, batch.Id, batch.Status, batch.Counts, _waiting, _active);
        }
        if (batch.Status != BatchStatus.Ended)
            Record(collection, batch, BatchState.InProgress);
    }

    /// <summary>
    /// Writes the batch's state to the ledger, unless a cancel has claimed the batch: then its <c>Canceled</c> is the last
    /// word, and a poll answered around the cancel (which sees the batch in progress, or ended by the cancel) must not
    /// overwrite it, or a resume would take the cancelled requests for collected ones.
    /// </summary>
    private void Record(Collection collection, MessageBatch batch, BatchState state)
    {
        lock (_gate)
        {
            if (collection.CancelSent && state != BatchState.Canceled)
                return;
            Ledger.UpdateBatch(Row(collection, batch, state));
        }
    }

    private static BatchRow Row(Collection collection, MessageBatch batch, BatchState state)
    {
        var c = batch.Counts;
        return new BatchRow(batch.Id, collection.Round, c.Processing + c.Succeeded + c.Errored + c.Canceled + c.Expired, state,
            c.Processing, c.Succeeded, c.Errored, c.Canceled, c.Expired);
    }

    private sealed class Waiter(string customId, string taskKey, ModelRequest request)
    {
        public string CustomId { get; } = customId;
        public string TaskKey { get; } = taskKey;
        public ModelRequest Request { get; } = request;
        public TaskCompletionSource<BatchResult> Answer { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
        public string? BatchId { get; set; }
        public bool Abandoned { get; set; }

        /// <value>Answered or given up: no longer counted as waiting. Guarded by the coordinator's lock.</value>
        public bool Done { get; set; }
    }

    private sealed class Collection(string batchId, int round)
    {
        public string BatchId { get; } = batchId;
        public int Round { get; } = round;
        public List<Waiter> Waiters { get; } = [];
        public bool Delivering { get; set; }
        public bool CancelSent { get; set; }
    }

    private sealed class Exit(BatchRoundCoordinator owner) : IDisposable
    {
        private int _done;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _done, 1) == 1)
                return;
            lock (owner._gate)
                owner._active--;
            owner.Poke();
        }
    }
}

/// <summary>The batch rounds of the run this host works, once its engine is built: what a progress display reads.</summary>
public sealed class BatchWatch
{
    private BatchRoundCoordinator? _coordinator;

    public BatchRoundCoordinator? Coordinator
    {
        get => Volatile.Read(ref _coordinator);
        set => Volatile.Write(ref _coordinator, value);
    }

    public BatchProgress? Progress => Coordinator?.Progress;
}
