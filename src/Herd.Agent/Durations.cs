using System.Globalization;

namespace Herd.Agent;

/// <summary>Durations as users write them: <c>90</c> (seconds), <c>1500ms</c>, <c>90s</c>, <c>10m</c>, <c>2h</c>, <c>1d</c>.</summary>
public static class Durations
{
    /// <summary>
    /// The longest duration Herd accepts anywhere. Timers and <c>CancelAfter</c> take at most 2³¹−1 ms (about 24.8
    /// days); a larger value would fail deep inside a run instead of at the flag, so it is refused up front.
    /// </summary>
    public static readonly TimeSpan Max = TimeSpan.FromDays(24);

    /// <exception cref="HerdUsageException">The text is not a positive duration, or is longer than <see cref="Max"/>.</exception>
    public static TimeSpan Parse(string text, string flag)
    {
        var t = text.Trim();
        var (number, unit) = t.EndsWith("ms", StringComparison.Ordinal) ? (t[..^2], 0.001)
            : t.EndsWith('s') ? (t[..^1], 1.0)
            : t.EndsWith('m') ? (t[..^1], 60.0)
            : t.EndsWith('h') ? (t[..^1], 3600.0)
            : t.EndsWith('d') ? (t[..^1], 86400.0)
            : (t, 1.0);
        if (!double.TryParse(number, NumberStyles.Float, CultureInfo.InvariantCulture, out var value) || value <= 0 || !double.IsFinite(value))
            throw new HerdUsageException($"Error: {flag} '{text}' is not a duration. Use e.g. 90s, 10m, 2h or 1500ms.");
        return FromSeconds(value * unit, $"{flag} '{text}'");
    }

    /// <summary>Seconds from a number (e.g. a JSON field), checked against <see cref="Max"/>.</summary>
    /// <exception cref="HerdUsageException">Not positive, not finite, or longer than <see cref="Max"/>.</exception>
    public static TimeSpan FromSeconds(double seconds, string what)
    {
        if (!(seconds > 0) || !double.IsFinite(seconds))
            throw new HerdUsageException($"Error: {what} must be a positive duration.");
        if (seconds > Max.TotalSeconds)
            throw new HerdUsageException($"Error: {what} is too long; the longest accepted is {Max.TotalDays:0} days (24d). Leave the limit out for none.");
        // Below a millisecond rounds up to one: a limit of zero would end everything at once.
        return TimeSpan.FromMilliseconds(Math.Max(1, Math.Round(seconds * 1000)));
    }
}
