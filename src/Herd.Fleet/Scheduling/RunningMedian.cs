namespace Herd.Fleet.Scheduling;

/// <summary>
/// The median of a growing list in O(log n) per value and O(1) per read — the coordinator asks for it on every loop
/// turn (status, ETA, projection, <c>--timeout N%</c>), and sorting the whole list each time made a 10 000-task run
/// quadratic. Same definition as <see cref="Reports.Summary.Percentile"/> at p = 0.5: the ⌈n/2⌉-th smallest value.
/// </summary>
/// <remarks>
/// Exact for the first <see cref="ExactUpTo"/> values; beyond, the values go into 1 %-wide logarithmic bins and the
/// median is that of its bin (within 0.5 %), so memory stays a few kilobytes whatever the run's length (issue #23: two
/// exact medians held 32 bytes per task, 64 MB at a million tasks). Both ways a value costs O(1) amortized to add.
/// </remarks>
internal sealed class RunningMedian
{
    public const int ExactUpTo = 4096;

    // _low holds the ⌈n/2⌉ smallest values (largest on top); _high the rest (smallest on top).
    private PriorityQueue<double, double>? _low = new(Comparer<double>.Create((a, b) => b.CompareTo(a)));
    private PriorityQueue<double, double>? _high = new();

    // Binned: _bins[0] holds values ≤ Floor; bin b ≥ 1 holds (Floor·Step^(b-1), Floor·Step^b]. _medianBin is the bin of
    // the ⌈n/2⌉-th smallest value and _below the count of values in the bins under it.
    private const double Floor = 1e-9;
    private const int BinCount = 3800; // Floor · 1.01^3800 ≈ 2.6e7: seconds and dollars fit
    private static readonly double LogStep = Math.Log(1.01);
    private int[]? _bins;
    private int _medianBin;
    private int _below;
    private int _count;

    public int Count => _count;

    /// <value>The ⌈n/2⌉-th smallest value; 0 when empty.</value>
    public double Median => _bins is null
        ? (_low!.Count == 0 ? 0 : _low.Peek())
        : _medianBin == 0 ? 0 : Floor * Math.Exp((_medianBin - 0.5) * LogStep);

    public void Add(double value)
    {
        _count++;
        if (_bins is not null)
        {
            AddBinned(value);
            return;
        }
        if (_low!.Count == 0 || value <= _low.Peek())
            _low.Enqueue(value, value);
        else
            _high!.Enqueue(value, value);
        if (_low.Count > _high!.Count + 1)
        {
            var moved = _low.Dequeue();
            _high.Enqueue(moved, moved);
        }
        else if (_high.Count > _low.Count)
        {
            var moved = _high.Dequeue();
            _low.Enqueue(moved, moved);
        }
        if (_count > ExactUpTo)
            SwitchToBins();
    }

    private void SwitchToBins()
    {
        _bins = new int[BinCount];
        foreach (var (v, _) in _low!.UnorderedItems.Concat(_high!.UnorderedItems))
            _bins[BinOf(v)]++;
        (_low, _high) = (null, null);
        _medianBin = 0;
        _below = 0;
        Rebalance();
    }

    private void AddBinned(double value)
    {
        var b = BinOf(value);
        _bins![b]++;
        if (b < _medianBin)
            _below++;
        Rebalance();
    }

    /// <summary>Moves the median bin until it holds the ⌈n/2⌉-th value (a step or two per value).</summary>
    private void Rebalance()
    {
        var rank = (_count + 1) / 2;
        while (_below >= rank)
        {
            _medianBin--;
            _below -= _bins![_medianBin];
        }
        while (_below + _bins![_medianBin] < rank)
        {
            _below += _bins[_medianBin];
            _medianBin++;
        }
    }

    private static int BinOf(double v) => v <= Floor || double.IsNaN(v) ? 0 : Math.Clamp(1 + (int)(Math.Log(v / Floor) / LogStep), 1, BinCount - 1);
}
