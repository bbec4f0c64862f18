namespace Herd.Fleet.Scheduling;

/// <summary>
/// Run-wide retry cap (spec §5): retries started in any 5-minute window stay ≤ 20 % of first attempts started in it
/// (with a floor, so small runs can still retry). Beyond it a retry waits; it is not dropped. Not thread-safe: the
/// scheduler's loop owns it.
/// </summary>
/// <remarks>
/// The window is counted in one-second buckets (issue #23): a timestamp per attempt grew with the run — at 0 ms
/// latency a 5-minute window holds every first attempt of a million-task run — while 300 counters do not. An attempt
/// leaves the window within the second it turns five minutes old.
/// </remarks>
public sealed class RetryBudget(TimeProvider time, double ratio = 0.2, int floor = 10)
{
    public static readonly TimeSpan Window = TimeSpan.FromMinutes(5);

    private static readonly int Buckets = (int)Window.TotalSeconds;

    private readonly long _origin = time.GetTimestamp();
    private readonly long[] _second = NewSeconds();
    private readonly int[] _firsts = new int[Buckets];
    private readonly int[] _retries = new int[Buckets];

    private static long[] NewSeconds()
    {
        var seconds = new long[Buckets];
        Array.Fill(seconds, long.MinValue);
        return seconds;
    }

    public void OnFirstAttempt() => _firsts[Bucket()]++;

    public void OnRetry() => _retries[Bucket()]++;

    public bool CanRetry()
    {
        var now = Now();
        int firsts = 0, retries = 0;
        for (var i = 0; i < Buckets; i++)
        {
            if (now - _second[i] < Buckets)
            {
                firsts += _firsts[i];
                retries += _retries[i];
            }
        }
        return retries < Math.Max(floor, ratio * firsts);
    }

    private long Now() => (long)Math.Floor(time.GetElapsedTime(_origin).TotalSeconds);

    /// <summary>This second's bucket, emptied if it last counted a second that has left the window.</summary>
    private int Bucket()
    {
        var now = Now();
        var i = (int)(now % Buckets);
        if (_second[i] != now)
        {
            _second[i] = now;
            _firsts[i] = 0;
            _retries[i] = 0;
        }
        return i;
    }
}
