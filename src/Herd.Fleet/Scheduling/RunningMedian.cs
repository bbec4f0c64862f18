namespace Herd.Fleet.Scheduling;

/// <summary>
/// The median of a growing list in O(log n) per value and O(1) per read — the coordinator asks for it on every loop
/// turn (status, ETA, projection, <c>--timeout N%</c>), and sorting the whole list each time made a 10 000-task run
/// quadratic. Same definition as <see cref="Reports.Summary.Percentile"/> at p = 0.5: the ⌈n/2⌉-th smallest value.
/// </summary>
internal sealed class RunningMedian
{
    // _low holds the ⌈n/2⌉ smallest values (largest on top); _high the rest (smallest on top).
    private readonly PriorityQueue<double, double> _low = new(Comparer<double>.Create((a, b) => b.CompareTo(a)));
    private readonly PriorityQueue<double, double> _high = new();

    public int Count => _low.Count + _high.Count;

    /// <value>The ⌈n/2⌉-th smallest value; 0 when empty.</value>
    public double Median => _low.Count == 0 ? 0 : _low.Peek();

    public void Add(double value)
    {
        if (_low.Count == 0 || value <= _low.Peek())
            _low.Enqueue(value, value);
        else
            _high.Enqueue(value, value);
        if (_low.Count > _high.Count + 1)
        {
            var moved = _low.Dequeue();
            _high.Enqueue(moved, moved);
        }
        else if (_high.Count > _low.Count)
        {
            var moved = _high.Dequeue();
            _low.Enqueue(moved, moved);
        }
    }
}
