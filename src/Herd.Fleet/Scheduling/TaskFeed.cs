using Herd.Fleet.Store;

namespace Herd.Fleet.Scheduling;

/// <summary>
/// The unfinished tasks of the stored plan, read a page at a time as the scheduler takes them (issue #23): memory holds
/// the running tasks and at most one page ahead, not the plan. Owned by the coordinator loop.
/// </summary>
/// <param name="remaining">How many the store holds to run (from <see cref="IPlanCursor.CountTasks"/>), for the progress display.</param>
/// <param name="attemptedOnly">Only tasks attempted before (<c>--retry-failed</c>).</param>
internal sealed class TaskFeed(IPlanCursor plan, int remaining, bool attemptedOnly, int pageSize = TaskFeed.DefaultPageSize)
{
    /// <summary>A few hundred: one store query per page keeps its cost per task small, and the page is all that waits in memory.</summary>
    public const int DefaultPageSize = 256;

    private readonly Queue<StoredTask> _page = new(pageSize);
    private long _position = PlanPage.Start;
    private bool _ended;

    /// <value>Tasks not yet taken.</value>
    public int Remaining { get; private set; } = remaining;

    public bool TryTake(out StoredTask task)
    {
        if (_page.Count == 0 && !_ended)
            Read();
        if (_page.TryDequeue(out task!))
        {
            Remaining = Math.Max(0, Remaining - 1);
            return true;
        }
        Remaining = 0;
        return false;
    }

    private void Read()
    {
        var page = plan.NextUnfinished(_position, pageSize, attemptedOnly);
        _position = page.Next;
        foreach (var t in page.Tasks)
            _page.Enqueue(t);
        _ended = page.Tasks.Count < pageSize;
    }
}
