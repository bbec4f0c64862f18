using System.Globalization;
using Herd.Fleet.Batches;

namespace Herd.Cli.Run;

/// <summary>
/// How often a batch run asks whether its batch has ended: <c>HERD_BATCH_POLL_MS</c> sets the first wait (doubled
/// after each ask, up to 60 s); unset, the documented 5 s. A real batch takes minutes, so only tests and local model
/// servers want it shorter.
/// </summary>
internal static class BatchPolling
{
    public static BatchRunOptions FromEnvironment()
    {
        var options = new BatchRunOptions();
        return Environment.GetEnvironmentVariable("HERD_BATCH_POLL_MS") is { Length: > 0 } text
            && double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var ms) && ms > 0
            ? options with { PollInitial = TimeSpan.FromMilliseconds(ms) }
            : options;
    }
}
