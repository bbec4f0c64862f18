using System.Collections.Concurrent;
using Herd.Fleet.Store;

namespace Herd.Fleet.Scheduling;

/// <summary>
/// Commits the run's state transitions on a dedicated thread, one at a time, in the order they were posted, so the
/// coordinator never waits for SQLite between a task finishing and the next one starting (spec §7.1; see the
/// reasoning on <see cref="FleetRunner"/>). The first failing transition stops the writer: nothing after it is
/// applied, because a later transition may depend on it, and <see cref="Completion"/> faults with its exception.
/// </summary>
/// <remarks>
/// With a store that can (<see cref="ITransitionBatches"/>), the transitions waiting when the writer comes round are
/// committed together as one transaction (up to <see cref="MaxBatch"/>), and what must follow a commit (a record's
/// append to results.ndjson, the committed counts) runs after that one commit, in order. Nothing waits to fill a batch:
/// under light load every transition still commits alone and at once; under heavy load a commit carries many, and the
/// pages they share are written once (issue #23).
/// </remarks>
internal sealed class TransitionWriter : IDisposable
{
    /// <summary>At most this many transitions in one transaction: a commit stays a few milliseconds of work.</summary>
    public const int MaxBatch = 256;

    private readonly BlockingCollection<(Action Transition, Action? AfterCommit)> _queue = new(new ConcurrentQueue<(Action, Action?)>());
    private readonly TaskCompletionSource _done = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly Thread _thread;
    private readonly ITransitionBatches? _batches;
    private readonly Action? _afterBatch;

    /// <param name="batches">Commits several transitions as one transaction; null = one transaction each.</param>
    /// <param name="afterBatch">
    /// Runs once after each batch's after-commit actions (results.ndjson's one write of the batch's records).
    /// </param>
    public TransitionWriter(ITransitionBatches? batches = null, Action? afterBatch = null)
    {
        _batches = batches;
        _afterBatch = afterBatch;
        _thread = new Thread(Run) { IsBackground = true, Name = "herd-run-store" };
        _thread.Start();
    }

    /// <summary>Transitions posted and not yet committed.</summary>
    public int Backlog => _queue.Count;

    /// <summary>Completes when every posted transition is committed after <see cref="Complete"/>; faults on the first failure.</summary>
    public Task Completion => _done.Task;

    /// <summary>Queues one transition (one transaction), and what must follow its commit.</summary>
    /// <exception cref="InvalidOperationException">After <see cref="Complete"/>.</exception>
    public void Post(Action transition, Action? afterCommit = null)
    {
        try
        {
            if (!_done.Task.IsFaulted)
            {
                _queue.Add((transition, afterCommit));
                return;
            }
        }
        catch (InvalidOperationException) when (_done.Task.IsFaulted)
        {
        }
        _done.Task.GetAwaiter().GetResult(); // the failure that stopped the writer
    }

    /// <summary>No more transitions; <see cref="Completion"/> finishes once the queued ones are committed.</summary>
    public void Complete() => _queue.CompleteAdding();

    private void Run()
    {
        try
        {
            var batch = new List<(Action Transition, Action? AfterCommit)>(MaxBatch);
            foreach (var first in _queue.GetConsumingEnumerable())
            {
                batch.Add(first);
                while (batch.Count < MaxBatch && _queue.TryTake(out var next))
                    batch.Add(next);
                if (_batches is not null && batch.Count > 1)
                {
                    _batches.InOneTransaction(() =>
                    {
                        foreach (var (transition, _) in batch)
                            transition();
                    });
                    foreach (var (_, after) in batch)
                        after?.Invoke();
                }
                else
                {
                    foreach (var (transition, after) in batch)
                    {
                        transition();
                        after?.Invoke();
                    }
                }
                _afterBatch?.Invoke();
                batch.Clear();
            }
            _done.TrySetResult();
        }
        catch (Exception ex)
        {
            _done.TrySetException(ex);
            _queue.CompleteAdding();
        }
    }

    public void Dispose()
    {
        _queue.CompleteAdding();
        _thread.Join();
        _queue.Dispose();
    }
}
