using Herd.Fleet;
using Herd.Fleet.Jobs;

namespace Herd.Cli.Run;

/// <summary>
/// <c>--sample</c> taken as the plan streams past (issue #23). Each task draws the next number of
/// <c>new Random(seed)</c> in plan order and the sample is the tasks with the smallest draws (ties: the earlier task),
/// put back in plan order — the same tasks as shuffling the whole plan by those draws and taking the first N. A sample
/// of N tasks holds at most N; a percentage holds the tasks it might keep until the plan's size is known.
/// </summary>
public sealed class PlanSampler(SampleSpec sample)
{
    private readonly Random _random = new(sample.Seed);
    private readonly PriorityQueue<FleetTask, Draw> _kept = new(Draw.LargestFirst);
    private int _index;

    public void Offer(FleetTask task)
    {
        var draw = new Draw(_random.Next(), _index++);
        // A percentage keeps every task until the plan's size is known (Take trims it).
        _kept.KeepBest(task, draw, sample.Count ?? int.MaxValue);
    }

    /// <summary>The sample of a plan of <paramref name="planned"/> tasks, in plan order.</summary>
    public IReadOnlyList<FleetTask> Take(int planned)
    {
        var size = sample.SizeOf(planned);
        while (_kept.Count > size)
            _kept.Dequeue();
        var tasks = new FleetTask[_kept.Count];
        for (var i = 0; _kept.TryDequeue(out var task, out _); i++)
            tasks[i] = task;
        Array.Sort(tasks, (a, b) => a.Seq.CompareTo(b.Seq));
        return tasks;
    }

    private readonly record struct Draw(int Value, int Index)
    {
        /// <summary>The queue's head is the draw a smaller one would replace: the largest value, the latest index.</summary>
        public static readonly IComparer<Draw> LargestFirst = Comparer<Draw>.Create((a, b) =>
        {
            var c = b.Value.CompareTo(a.Value);
            return c != 0 ? c : b.Index.CompareTo(a.Index);
        });
    }
}
