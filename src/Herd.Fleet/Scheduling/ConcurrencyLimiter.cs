namespace Herd.Fleet.Scheduling;

/// <summary>
/// The slot limit L. Fixed for <c>-j N</c>; for <c>-j auto[:MAX]</c> an AIMD limit after Netflix concurrency-limits'
/// AIMDLimit (spec §6): a back-pressure signal sets L = max(1, min(L−1, ⌊0.9·L⌋)) at most once per 10 s; a task success
/// while inflight·2 ≥ L adds 1, up to MAX. Task failures never change L. Thread-safe.
/// </summary>
public sealed class ConcurrencyLimiter
{
    /// <summary>Minimum spacing of decreases, so one burst of 429s from many tasks counts once.</summary>
    public static readonly TimeSpan DecreaseInterval = TimeSpan.FromSeconds(10);

    private readonly Lock _gate = new();
    private readonly TimeProvider _time;
    private long? _lastDecrease;
    private int _limit;

    private ConcurrencyLimiter(int initial, int max, bool adaptive, TimeProvider time)
    {
        _limit = initial;
        Max = max;
        Adaptive = adaptive;
        _time = time;
    }

    public static ConcurrencyLimiter Fixed(int n, TimeProvider? time = null) => new(n, n, false, time ?? TimeProvider.System);

    /// <param name="initial">Start value (the ramp, spec §6 staggered start: default 4).</param>
    public static ConcurrencyLimiter Auto(int max, int initial = 4, TimeProvider? time = null) =>
        new(Math.Clamp(initial, 1, max), max, true, time ?? TimeProvider.System);

    public int Max { get; }

    public bool Adaptive { get; }

    public int Limit
    {
        get
        {
            lock (_gate)
                return _limit;
        }
    }

    /// <value>Why L last changed, for the status line (spec §6 "Status and log show L … and their reasons").</value>
    public string? LastChange { get; private set; }

    /// <summary>A 429/529 (or an inner retry of one). Returns true when L decreased.</summary>
    public bool OnBackPressure(int status)
    {
        if (!Adaptive)
            return false;
        lock (_gate)
        {
            var now = _time.GetTimestamp();
            if (_lastDecrease is { } last && _time.GetElapsedTime(last, now) < DecreaseInterval)
                return false;
            var next = Math.Max(1, Math.Min(_limit - 1, (int)Math.Floor(0.9 * _limit)));
            if (next == _limit)
                return false;
            _lastDecrease = now;
            LastChange = $"{_limit}→{next} on HTTP {status}";
            _limit = next;
            return true;
        }
    }

    /// <summary>A task succeeded with <paramref name="inflight"/> attempts running. Returns true when L grew.</summary>
    public bool OnSuccess(int inflight)
    {
        if (!Adaptive)
            return false;
        lock (_gate)
        {
            if (inflight * 2 < _limit || _limit >= Max)
                return false;
            LastChange = $"{_limit}→{_limit + 1} on success";
            _limit++;
            return true;
        }
    }
}
