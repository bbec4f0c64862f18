namespace Herd.Fleet.Store;

/// <summary>When a run's attempts ran: the first start, the last end, and whether any is still open.</summary>
public sealed record AttemptSpan(DateTimeOffset FirstStart, DateTimeOffset? LastEnd, bool AnyOpen);

/// <summary>
/// A store that can say when its attempts ran in one aggregate query (<c>herd runs show</c>'s wall time), so that no
/// reader loads every attempt for two numbers.
/// </summary>
public interface IAttemptSpans
{
    /// <returns>Null when the run has no attempt yet.</returns>
    AttemptSpan? AttemptSpan();
}
