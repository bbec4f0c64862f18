using System.Globalization;
using System.Text;
using Herd.Fleet.Scheduling;

namespace Herd.Cli.Run;

public enum ProgressMode
{
    None,
    Plain,
    Terminal,
}

/// <summary>
/// Progress on stderr only (spec §9; stdout stays machine-readable). On a terminal one status line is redrawn a few
/// times a second: bar, done/failed/running/retrying, spend vs budget, limit L, pause countdown, ETA. Otherwise a plain
/// line every <c>--progress-interval</c> (default 30 s). Decided once, at construction.
/// </summary>
public sealed class ProgressDisplay(Func<FleetStatus?> status, TextWriter err, ProgressMode mode, TimeSpan interval, TimeProvider time) : IAsyncDisposable
{
    private readonly CancellationTokenSource _stop = new();
    private Task? _loop;

    public void Start()
    {
        if (mode == ProgressMode.None)
            return;
        var period = mode == ProgressMode.Terminal ? TimeSpan.FromMilliseconds(250) : interval;
        _loop = LoopAsync(period, _stop.Token);
    }

    private async Task LoopAsync(TimeSpan period, CancellationToken ct)
    {
        try
        {
            while (!ct.IsCancellationRequested)
            {
                await Task.Delay(period, time, ct).ConfigureAwait(false);
                if (status() is { } s)
                {
                    if (mode == ProgressMode.Terminal)
                        err.Write("\r\u001b[2K" + FitTo(Line(s, bar: true, time.GetUtcNow()), TerminalWidth()));
                    else
                        err.WriteLine(Line(s, bar: false, time.GetUtcNow()));
                    err.Flush();
                }
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
        }
    }

    public async Task StopAsync()
    {
        if (_loop is null)
            return;
        await _stop.CancelAsync().ConfigureAwait(false);
        await _loop.ConfigureAwait(false);
        _loop = null;
        if (mode == ProgressMode.Terminal)
            err.Write("\r\u001b[2K");
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync().ConfigureAwait(false);
        _stop.Dispose();
    }

    /// <summary>
    /// A redrawn line must never wrap: a wrapped line cannot be cleared with \r, and every redraw would leave a line
    /// behind. The tail (ETA, elapsed) is more useful than the middle, so the middle is cut.
    /// </summary>
    internal static string FitTo(string line, int width)
    {
        if (width < 20 || line.Length < width)
            return line;
        var keep = width - 2;
        var tail = Math.Min(24, keep / 3);
        return line[..(keep - tail)] + "…" + line[^tail..];
    }

    private static int TerminalWidth()
    {
        try
        {
            var w = Console.WindowWidth;
            if (w > 0)
                return w;
        }
        catch (IOException)
        {
        }
        catch (PlatformNotSupportedException)
        {
        }
        return int.TryParse(Environment.GetEnvironmentVariable("COLUMNS"), out var c) && c > 0 ? c : 80;
    }

    public static string Line(FleetStatus s, bool bar, DateTimeOffset now)
    {
        var sb = new StringBuilder();
        if (bar)
        {
            const int width = 20;
            var filled = s.Total == 0 ? width : (int)Math.Round(width * (double)s.Done / s.Total);
            sb.Append('[').Append('#', filled).Append('.', width - filled).Append("] ");
        }
        else
        {
            sb.Append("herd: ");
        }
        var inv = CultureInfo.InvariantCulture;
        sb.Append(inv, $"{s.Done}/{s.Total} done, {s.Failed} failed, {s.Running} running, {s.Retrying} retrying, {s.Queued} queued");
        sb.Append(inv, $" | L {s.Limit}/{s.MaxLimit}");
        if (s.Adaptive && s.LimitChange is { } change)
            sb.Append(inv, $" ({change})");
        sb.Append(inv, $" | ${s.SpentUsd:0.####}");
        if (s.ReservedUsd > 0)
            sb.Append(inv, $" (+${s.ReservedUsd:0.####})");
        if (s.CeilingUsd is { } c)
            sb.Append(inv, $" / ${c:0.##}");
        if (s.ProjectedUsd is { } p)
            sb.Append(inv, $", projected ${p:0.##}");
        if (s.PausedUntil is { } until && until > now)
            sb.Append(inv, $" | paused {(until - now).TotalSeconds:0}s (429 retry-after)");
        if (s.Eta is { } eta)
            sb.Append(inv, $" | ETA {Format(eta)}");
        sb.Append(inv, $" | {Format(s.Elapsed)}");
        return sb.ToString();
    }

    private static string Format(TimeSpan t) => t.TotalHours >= 1 ? $"{(int)t.TotalHours}h{t.Minutes:00}m" : t.TotalMinutes >= 1 ? $"{(int)t.TotalMinutes}m{t.Seconds:00}s" : $"{t.TotalSeconds:0}s";
}
