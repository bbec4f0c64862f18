using Herd.Fleet;
using Herd.Fleet.Jobs;

namespace Herd.Cli.Run;

/// <summary>
/// <c>--sample</c> taken as the plan streams past (issue #23). Each task draws the next number of
/// <c>new Random(seed)</c> in plan order and the sample is the tasks with the smallest draws (ties: the earlier task),
/// put back in plan order — the same tasks as shuffling the whole plan by those draws and taking the first N. A sample
/// of N tasks holds at most N. A percentage learns its size only at the end of the plan: it keeps each task's draw
/// (4 bytes) and writes the task to a <see cref="TaskSpool"/>, then reads the spool once to pick the sample.
/// </summary>
public sealed class PlanSampler(SampleSpec sample) : IDisposable
{
    private readonly Random _random = new(sample.Seed);
    private readonly PriorityQueue<FleetTask, Draw> _kept = new(Draw.LargestFirst);
    private readonly List<int> _draws = [];
    private TaskSpool? _spool;
    private int _index;

    public void Offer(FleetTask task)
    {
        var draw = new Draw(_random.Next(), _index++);
        if (sample.Count is { } n)
        {
            _kept.KeepBest(task, draw, n);
            return;
        }
        _draws.Add(draw.Value);
        (_spool ??= new TaskSpool()).Add(task);
    }

    /// <summary>The sample of a plan of <paramref name="planned"/> tasks, in plan order.</summary>
    public IReadOnlyList<FleetTask> Take(int planned)
    {
        var size = sample.SizeOf(planned);
        return _spool is null ? TakeKept(size) : TakeSpooled(_spool, size);
    }

    private FleetTask[] TakeKept(int size)
    {
        while (_kept.Count > size)
            _kept.Dequeue();
        var tasks = new FleetTask[_kept.Count];
        for (var i = 0; _kept.TryDequeue(out var task, out _); i++)
            tasks[i] = task;
        Array.Sort(tasks, (a, b) => a.Seq.CompareTo(b.Seq));
        return tasks;
    }

    /// <summary>The <paramref name="size"/> smallest draws, earlier tasks first among equal ones, read back in plan order.</summary>
    private List<FleetTask> TakeSpooled(TaskSpool spool, int size)
    {
        size = Math.Min(size, _draws.Count);
        var sorted = _draws.ToArray();
        Array.Sort(sorted);
        var bound = sorted[size - 1];
        // Draws equal to the bound are taken in plan order until the sample is full: what the (value, index) order gives.
        var below = 0;
        while (sorted[below] < bound)
            below++;
        var atBound = size - below;
        var tasks = new List<FleetTask>(size);
        var i = 0;
        foreach (var task in spool.Read())
        {
            var value = _draws[i++];
            if (value < bound || (value == bound && atBound-- > 0))
                tasks.Add(task);
        }
        return tasks;
    }

    public void Dispose() => _spool?.Dispose();

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
