namespace Herd.Fleet.Scheduling;

/// <summary>
/// Run-wide retry cap (spec §5): retries started in any 5-minute window stay ≤ 20 % of first attempts started in it
/// (with a floor, so small runs can still retry). Beyond it a retry waits; it is not dropped. Not thread-safe: the
/// scheduler's loop owns it.
/// </summary>
public sealed class RetryBudget(TimeProvider time, double ratio = 0.2, int floor = 10)
{
    public static readonly TimeSpan Window = TimeSpan.FromMinutes(5);

    private readonly Queue<long> _firsts = new();
    private readonly Queue<long> _retries = new();

    public void OnFirstAttempt() => _firsts.Enqueue(time.GetTimestamp());

    public void OnRetry() => _retries.Enqueue(time.GetTimestamp());

    public bool CanRetry()
    {
        Trim(_firsts);
        Trim(_retries);
        return _retries.Count < Math.Max(floor, ratio * _firsts.Count);
    }

    private void Trim(Queue<long> q)
    {
        while (q.Count > 0 && time.GetElapsedTime(q.Peek()) >= Window)
            q.Dequeue();
    }
}
