using Herd.Fleet.Engines;

namespace Herd.Fleet.Scheduling;

/// <summary>
/// Spec §5: which failures are retried, how often, and how long to wait — <c>retry-after</c> first, else full jitter
/// rand(0, min(cap, base·2^n)) (AWS "Exponential Backoff and Jitter"). Pure apart from the injected random source.
/// </summary>
public sealed record RetryPolicy
{
    /// <value>Retries per task after the first attempt (<c>--retries</c>). Default 3.</value>
    public int MaxRetries { get; init; } = 3;

    /// <value>Backoff base. Default 2 s (spec §5).</value>
    public TimeSpan BaseDelay { get; init; } = TimeSpan.FromSeconds(2);

    /// <value>Backoff cap. Default 5 min (spec §5).</value>
    public TimeSpan MaxDelay { get; init; } = TimeSpan.FromMinutes(5);

    /// <value>Quarantine a task that failed with the same class this many times (spec §4 repeat breaker). Default 3.</value>
    public int RepeatBreaker { get; init; } = 3;

    /// <value>The jitter's source; a process's own, never stored with a run.</value>
    [System.Text.Json.Serialization.JsonIgnore]
    public Random Random { get; init; } = Random.Shared;

    /// <param name="retriesSoFar">Retries this task already used.</param>
    /// <param name="sameClassCount">How many of its attempts (this one included) ended with this class.</param>
    public bool ShouldRetry(OutcomeClass cls, int retriesSoFar, int sameClassCount)
    {
        if (!cls.IsRetryable() || retriesSoFar >= MaxRetries)
            return false;
        if (cls.RetryLimit() is { } limit && sameClassCount > limit)
            return false;
        // Transient classes are expected to repeat under load; the breaker is for the ones that point at the task itself.
        if (!cls.IsBackPressure() && cls is not (OutcomeClass.ServerError or OutcomeClass.Network) && sameClassCount >= RepeatBreaker)
            return false;
        return true;
    }

    /// <param name="retryNumber">1 for the first retry.</param>
    public TimeSpan Delay(int retryNumber, TimeSpan? retryAfter)
    {
        if (retryAfter is { } after && after > TimeSpan.Zero)
            return after < MaxDelay ? after : MaxDelay;
        var ceiling = Math.Min(MaxDelay.TotalMilliseconds, BaseDelay.TotalMilliseconds * Math.Pow(2, retryNumber - 1));
        return TimeSpan.FromMilliseconds(Random.NextDouble() * ceiling);
    }
}
