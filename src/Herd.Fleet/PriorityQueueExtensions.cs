namespace Herd.Fleet;

/// <summary>The N best of a stream kept in a priority queue whose top is the worst of those kept (issue #23: top-N tables, samples).</summary>
public static class PriorityQueueExtensions
{
    /// <summary>
    /// Keeps <paramref name="element"/> if fewer than <paramref name="size"/> are kept, or if it ranks above the worst
    /// kept (the queue's top, by its comparer), which it then replaces.
    /// </summary>
    public static void KeepBest<TElement, TPriority>(this PriorityQueue<TElement, TPriority> queue, TElement element, TPriority priority, int size)
    {
        if (queue.Count < size)
            queue.Enqueue(element, priority);
        else if (queue.TryPeek(out _, out var worst) && queue.Comparer.Compare(priority, worst) > 0)
            queue.EnqueueDequeue(element, priority);
    }
}
