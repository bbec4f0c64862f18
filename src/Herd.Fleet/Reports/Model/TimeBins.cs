namespace Herd.Fleet.Reports;

/// <summary>
/// Attempts over time in at most <see cref="MaxBins"/> equal bins, for a run too large to draw attempt by attempt: per
/// bin, the seconds spent running by outcome class (its average concurrency is that over the bin width) and the money
/// spent by attempts ending in it. Attempts arrive in any order and the span is not known ahead: when a new one falls
/// outside the bins, the width doubles and neighbouring bins merge (floor division keeps every bin's content exact).
/// </summary>
public sealed class TimeBins
{
    public const int MaxBins = 400;

    private readonly Dictionary<long, double[]> _busy = [];
    private readonly Dictionary<long, double> _spend = [];
    private readonly List<string> _classes = [];
    private DateTimeOffset _origin;
    private bool _started;
    private long _lo, _hi;

    /// <value>Seconds per bin: 1 ms doubled as often as the run's span needed.</value>
    public double Width { get; private set; } = 0.001;

    public IReadOnlyList<string> Classes => _classes;

    public void Add(DateTimeOffset start, DateTimeOffset end, string cls, double costUsd)
    {
        if (!_started)
        {
            _origin = start;
            _started = true;
            _lo = _hi = 0;
        }
        var s = (start - _origin).TotalSeconds;
        var e = Math.Max(s, (end - _origin).TotalSeconds);
        var first = Index(s);
        var last = Index(e);
        while (Math.Max(_hi, last) - Math.Min(_lo, first) >= MaxBins)
        {
            Double();
            first = Index(s);
            last = Index(e);
        }
        _lo = Math.Min(_lo, first);
        _hi = Math.Max(_hi, last);
        var c = _classes.IndexOf(cls);
        if (c < 0)
        {
            _classes.Add(cls);
            c = _classes.Count - 1;
        }
        for (var i = first; i <= last; i++)
        {
            var overlap = Math.Min(e, (i + 1) * Width) - Math.Max(s, i * Width);
            if (overlap <= 0)
                continue;
            var row = Row(i);
            row[c] += overlap;
        }
        _spend[last] = _spend.GetValueOrDefault(last) + costUsd;
    }

    /// <summary>The bins from the first to the last, relative to <paramref name="t0"/>: where bin 0 starts, and per bin the busy seconds by class and the spend.</summary>
    public (double Start, double[][] Busy, double[] Spend) Read(DateTimeOffset t0)
    {
        if (!_started)
            return (0, [], []);
        var n = (int)(_hi - _lo + 1);
        var busy = new double[_classes.Count][];
        for (var c = 0; c < busy.Length; c++)
            busy[c] = new double[n];
        var spend = new double[n];
        for (var i = 0; i < n; i++)
        {
            if (_busy.TryGetValue(_lo + i, out var row))
            {
                for (var c = 0; c < Math.Min(row.Length, busy.Length); c++)
                    busy[c][i] = row[c];
            }
            spend[i] = _spend.GetValueOrDefault(_lo + i);
        }
        return ((_origin - t0).TotalSeconds + _lo * Width, busy, spend);
    }

    private long Index(double seconds) => (long)Math.Floor(seconds / Width);

    private double[] Row(long i)
    {
        if (!_busy.TryGetValue(i, out var row) || row.Length < _classes.Count)
        {
            var grown = new double[Math.Max(_classes.Count, 4)];
            row?.CopyTo(grown, 0);
            _busy[i] = row = grown;
        }
        return row;
    }

    private void Double()
    {
        Width *= 2;
        var busy = _busy.ToArray();
        _busy.Clear();
        foreach (var (i, row) in busy)
        {
            var j = FloorHalf(i);
            var target = Row(j);
            if (target.Length < row.Length)
            {
                var grown = new double[row.Length];
                target.CopyTo(grown, 0);
                _busy[j] = target = grown;
            }
            for (var c = 0; c < row.Length; c++)
                target[c] += row[c];
        }
        var spend = _spend.ToArray();
        _spend.Clear();
        foreach (var (i, v) in spend)
            _spend[FloorHalf(i)] = _spend.GetValueOrDefault(FloorHalf(i)) + v;
        _lo = FloorHalf(_lo);
        _hi = FloorHalf(_hi);
    }

    private static long FloorHalf(long i) => i >= 0 ? i / 2 : -((-i + 1) / 2);
}
