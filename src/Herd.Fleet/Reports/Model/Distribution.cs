namespace Herd.Fleet.Reports;

/// <summary>
/// A distribution of non-negative values (task durations, task costs) in bounded memory: every value up to
/// <see cref="ExactLimit"/>, so percentiles of an ordinary run are exact; past it, log-spaced buckets 1 % wide, so a
/// million-task run's p50/p90 are within 1 % and its memory does not grow.
/// </summary>
public sealed class Distribution
{
    public const int ExactLimit = 100_000;

    private const double Smallest = 1e-9;
    private static readonly double Step = Math.Log(1.01);
    private static readonly int BucketCount = (int)Math.Ceiling(Math.Log(1e18) / Step) + 1;

    private List<double>? _values = [];
    private long[]? _buckets;
    private long _zeros;

    public long Count { get; private set; }

    public double Max { get; private set; }

    public double Sum { get; private set; }

    public bool IsExact => _values is not null;

    public void Add(double value)
    {
        var v = double.IsFinite(value) && value > 0 ? value : 0;
        Count++;
        Sum += v;
        Max = Math.Max(Max, v);
        if (_values is { } values)
        {
            values.Add(v);
            if (values.Count <= ExactLimit)
                return;
            _values = null;
            _buckets = new long[BucketCount];
            foreach (var x in values)
                AddBucket(x);
            return;
        }
        AddBucket(v);
    }

    private void AddBucket(double v)
    {
        if (v <= Smallest)
            _zeros++;
        else
            _buckets![Math.Clamp((int)(Math.Log(v / Smallest) / Step), 0, BucketCount - 1)]++;
    }

    /// <summary>The value at or below which a share <paramref name="p"/> of the values lie (nearest rank, as <see cref="Summary.Percentile"/>).</summary>
    public double Percentile(double p)
    {
        if (Count == 0)
            return 0;
        if (_values is { } values)
            return Summary.Percentile(values, p);
        var rank = Math.Clamp((long)Math.Ceiling(p * Count), 1, Count);
        var seen = _zeros;
        if (seen >= rank)
            return 0;
        for (var i = 0; i < _buckets!.Length; i++)
        {
            seen += _buckets[i];
            if (seen >= rank)
                return Math.Min(Max, Smallest * Math.Exp((i + 0.5) * Step));
        }
        return Max;
    }

    /// <summary><paramref name="bins"/> equal bins from 0 to <see cref="Max"/>: how many values fall in each.</summary>
    public long[] Histogram(int bins)
    {
        var counts = new long[bins];
        var top = Max > 0 ? Max : 1;
        int Bin(double v) => Math.Clamp((int)Math.Floor(v / top * bins), 0, bins - 1);
        if (_values is { } values)
        {
            foreach (var v in values)
                counts[Bin(v)]++;
            return counts;
        }
        counts[0] += _zeros;
        for (var i = 0; i < _buckets!.Length; i++)
        {
            if (_buckets[i] > 0)
                counts[Bin(Math.Min(Max, Smallest * Math.Exp((i + 0.5) * Step)))] += _buckets[i];
        }
        return counts;
    }
}
