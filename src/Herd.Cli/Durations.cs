using System.Globalization;
using Herd.Agent;

namespace Herd.Cli;

/// <summary>Durations on the command line: <c>90</c> (seconds), <c>1500ms</c>, <c>90s</c>, <c>10m</c>, <c>2h</c>.</summary>
public static class Durations
{
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
        return TimeSpan.FromSeconds(value * unit);
    }
}
