using System.Collections.Concurrent;

namespace Herd.Fleet.Scheduling;

/// <summary>
/// Commits the run's state transitions on a dedicated thread, one at a time, in the order they were posted, so the
/// coordinator never waits for SQLite between a task finishing and the next one starting (spec §7.1; see the
/// reasoning on <see cref="FleetRunner"/>). The first failing transition stops the writer: nothing after it is
/// applied, because a later transition may depend on it, and <see cref="Completion"/> faults with its exception.
/// </summary>
internal sealed class TransitionWriter : IDisposable
{
    private readonly BlockingCollection<Action> _queue = new(new ConcurrentQueue<Action>());
    private readonly TaskCompletionSource _done = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly Thread _thread;

    public TransitionWriter()
    {
        _thread = new Thread(Run) { IsBackground = true, Name = "herd-run-store" };
        _thread.Start();
    }

    /// <summary>Transitions posted and not yet committed.</summary>
    public int Backlog => _queue.Count;

    /// <summary>Completes when every posted transition is committed after <see cref="Complete"/>; faults on the first failure.</summary>
    public Task Completion => _done.Task;

    /// <summary>Queues one transition (one transaction, plus what must follow its commit).</summary>
    /// <exception cref="InvalidOperationException">After <see cref="Complete"/>.</exception>
    public void Post(Action transition)
    {
        try
        {
            if (!_done.Task.IsFaulted)
            {
                _queue.Add(transition);
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
            foreach (var transition in _queue.GetConsumingEnumerable())
                transition();
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
