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
    private int _drawnBelow;

    /// <value>A batch run's rounds (<c>--batch</c>): one more line under the status; null = a live run.</value>
    public Func<Herd.Fleet.Batches.BatchProgress?>? Batch { get; init; }

    /// <summary>The lines under the status line: the batch round (when batching), then the running tasks.</summary>
    private List<string> Below(FleetStatus s, DateTimeOffset now)
    {
        var lines = new List<string>();
        if (Batch?.Invoke() is { } round)
            lines.Add(BatchLine(round));
        lines.AddRange(TaskLines(s, now));
        return lines;
    }

    /// <summary>e.g. <c>batch round 2 msgbatch_01 in_progress: 180 processing, 15 succeeded, 3 errored, 2 expired; 200 of 200 tasks waiting</c>.</summary>
    public static string BatchLine(Herd.Fleet.Batches.BatchProgress p)
    {
        var state = p.Status switch
        {
            Herd.Agent.Models.BatchStatus.Ended => "ended",
            Herd.Agent.Models.BatchStatus.Canceling => "canceling",
            _ => "in_progress",
        };
        var c = p.Counts;
        return string.Create(System.Globalization.CultureInfo.InvariantCulture,
            $"batch round {p.Round} {p.BatchId} {state}: {c.Processing} processing, {c.Succeeded} succeeded, {c.Errored} errored, {c.Expired} expired{(c.Canceled > 0 ? $", {c.Canceled} canceled" : "")}; {p.Waiting} of {p.Active} tasks waiting");
    }

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
                    var now = time.GetUtcNow();
                    if (mode == ProgressMode.Terminal)
                        err.Write(Redraw(s, now, TerminalWidth()));
                    else
                    {
                        err.WriteLine(Line(s, bar: false, now));
                        foreach (var task in Below(s, now))
                            err.WriteLine("herd: " + task);
                    }
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
            err.Write(_drawnBelow > 0 ? $"\r\u001b[{_drawnBelow}A\u001b[J" : "\r\u001b[2K");
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

    /// <summary>
    /// The status line and, below it, one line per running task. The cursor goes back to the status line's start
    /// each time, so the block is redrawn in place; every line is cut to the width so none wraps.
    /// </summary>
    private string Redraw(FleetStatus s, DateTimeOffset now, int width)
    {
        var sb = new StringBuilder("\r");
        if (_drawnBelow > 0)
            sb.Append("\u001b[").Append(_drawnBelow).Append('A');
        sb.Append("\u001b[J").Append(FitTo(Line(s, bar: true, now), width));
        var tasks = Below(s, now);
        foreach (var task in tasks)
            sb.Append('\n').Append(FitTo(task, width));
        _drawnBelow = tasks.Count;
        return sb.ToString();
    }

    /// <summary>At most this many running tasks get a line; the rest are counted on one more.</summary>
    public const int MaxTaskLines = 8;

    /// <summary>The per-task lines (the same as <c>herd runs watch</c> shows): oldest running first.</summary>
    public static IReadOnlyList<string> TaskLines(FleetStatus s, DateTimeOffset now)
    {
        var lines = s.RunningTasks.Take(MaxTaskLines).Select(r => TaskLine(r.Task, r.Attempt, now - r.Started, r.Turns, r.SpentUsd)).ToList();
        if (s.RunningTasks.Count > MaxTaskLines)
            lines.Add($"  … {s.RunningTasks.Count - MaxTaskLines} more running");
        return lines;
    }

    /// <summary>One running task: name, attempt, elapsed, turns so far (null when unknown) and spend.</summary>
    public static string TaskLine(string task, int attempt, TimeSpan elapsed, int? turns, double spentUsd)
    {
        var name = task.ReplaceLineEndings(" ");
        if (name.Length > 40)
            name = name[..39] + "…";
        var turnText = turns is { } n ? $"{n} turn{(n == 1 ? "" : "s")}" : "– turns";
        return string.Create(CultureInfo.InvariantCulture, $"  running {name} #{attempt} {Format(elapsed)}, {turnText}, ${spentUsd:0.####}");
    }

    public static string Bar(int done, int total)
    {
        const int width = 20;
        var filled = total == 0 ? width : (int)Math.Round(width * (double)done / total);
        return "[" + new string('#', filled) + new string('.', width - filled) + "]";
    }

    public static string Line(FleetStatus s, bool bar, DateTimeOffset now)
    {
        var sb = new StringBuilder();
        if (bar)
            sb.Append(Bar(s.Done, s.Total)).Append(' ');
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

    public static string Format(TimeSpan t) => t.TotalHours >= 1 ? $"{(int)t.TotalHours}h{t.Minutes:00}m" : t.TotalMinutes >= 1 ? $"{(int)t.TotalMinutes}m{t.Seconds:00}s" : $"{t.TotalSeconds:0}s";
}
