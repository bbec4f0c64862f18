namespace Herd.Fleet.Store;

/// <summary>
/// The stored plan read back in bounded pieces (issue #23): the scheduler holds the running tasks and the next few
/// hundred, refilled from the store, instead of the whole plan; resume, <c>--retry-failed</c> and the progress total
/// work from counts. Both stores implement it beside <see cref="IRunStore"/>.
/// </summary>
public interface IPlanCursor
{
    /// <summary>How many tasks the run holds, by state, without reading them.</summary>
    PlanCounts CountTasks();

    /// <summary>
    /// Up to <paramref name="limit"/> unfinished tasks stored after <paramref name="after"/>, in the order they were
    /// planned, with their progress so far. Start with <see cref="PlanPage.Start"/>; pass each page's
    /// <see cref="PlanPage.Next"/> to read on. A task finished or started meanwhile is not read twice: positions only grow.
    /// </summary>
    /// <param name="attemptedOnly">Only tasks attempted before (<c>--retry-failed</c>: tasks never run stay pending).</param>
    PlanPage NextUnfinished(long after, int limit, bool attemptedOnly);
}

/// <summary>The stored plan by state.</summary>
/// <param name="UnfinishedAttempted">Unfinished tasks with at least one attempt (what <c>--retry-failed</c> runs besides the requeued).</param>
public sealed record PlanCounts(int Total, int Succeeded, int Failed, int Unfinished, int UnfinishedAttempted);

/// <summary>One page of <see cref="IPlanCursor.NextUnfinished"/>; empty at the end of the plan.</summary>
/// <param name="Next">The position to read on from.</param>
public sealed record PlanPage(IReadOnlyList<StoredTask> Tasks, long Next)
{
    /// <summary>The position before the first task.</summary>
    public const long Start = 0;
}
