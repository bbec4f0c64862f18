using System.Globalization;
using Herd.Agent;

namespace Herd.Cli;

/// <summary>Durations on the command line: <c>90</c> (seconds), <c>1500ms</c>, <c>90s</c>, <c>10m</c>, <c>2h</c>.</summary>
public static class Durations
{
    /// <summary>The longest duration a timer accepts, in seconds (uint.MaxValue - 1 milliseconds).</summary>
    public const double MaxSeconds = (uint.MaxValue - 1) / 1000.0;

    /// <exception cref="HerdUsageException">The text is not a positive duration.</exception>
    public static TimeSpan Parse(string text, string flag)
    {
        var t = text.Trim();
        var (number, unit) = t.EndsWith("ms", StringComparison.Ordinal) ? (t[..^2], 0.001)
            : t.EndsWith('s') ? (t[..^1], 1.0)
            : t.EndsWith('m') ? (t[..^1], 60.0)
            : t.EndsWith('h') ? (t[..^1], 3600.0)
            : (t, 1.0);
        if (!double.TryParse(number, NumberStyles.Float, CultureInfo.InvariantCulture, out var value) || value <= 0 || !double.IsFinite(value))
            throw new HerdUsageException($"Error: {flag} '{text}' is not a duration. Use e.g. 90s, 10m, 2h or 1500ms.");
        // Timers take at most 2^32-2 ms (about 49.7 days); 1e300s would overflow TimeSpan itself.
        if (value * unit > MaxSeconds)
            throw new HerdUsageException($"Error: {flag} '{text}' is too long; the longest is {MaxSeconds / 3600:0}h. Use e.g. 90s, 10m or 2h.");
        return TimeSpan.FromSeconds(value * unit);
    }
}
