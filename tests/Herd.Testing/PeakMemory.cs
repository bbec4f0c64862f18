using System.Diagnostics;
using System.Globalization;

namespace Herd.Testing;

/// <summary>A process's peak resident memory, for the tests that bound it (issue #23).</summary>
public static class PeakMemory
{
    /// <summary>
    /// Waits for <paramref name="process"/> to exit, reading its VmHWM from /proc every 25 ms while it runs (it only grows,
    /// so the last reading before exit is the peak up to then); returns the peak in bytes (0 when none was read).
    /// </summary>
    public static async Task<long> UntilExitAsync(Process process, TimeSpan timeout)
    {
        long peak = 0;
        using var cts = new CancellationTokenSource(timeout);
        while (!process.HasExited)
        {
            peak = Math.Max(peak, HighWaterMark(process.Id) ?? 0);
            try
            {
                await process.WaitForExitAsync(cts.Token).WaitAsync(TimeSpan.FromMilliseconds(25));
            }
            catch (TimeoutException)
            {
            }
        }
        await process.WaitForExitAsync();
        return peak;
    }

    /// <summary>The process's peak resident memory (bytes) from /proc (Linux); null once it has exited.</summary>
    public static long? HighWaterMark(int pid)
    {
        try
        {
            foreach (var line in File.ReadLines($"/proc/{pid}/status"))
            {
                if (line.StartsWith("VmHWM:", StringComparison.Ordinal))
                    return long.Parse(line.AsSpan(6).Trim().TrimEnd("kB").Trim(), CultureInfo.InvariantCulture) * 1024;
            }
        }
        catch (IOException)
        {
        }
        return null;
    }
}
