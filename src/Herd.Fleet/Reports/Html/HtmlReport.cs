using System.Net;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Unicode;
using Herd.Agent.Sessions;

namespace Herd.Fleet.Reports;

/// <summary>
/// The HTML report (issue #12 item 4): one self-contained file that works offline. The run's data is embedded as
/// compact JSON and drawn as inline SVG by Herd's own script (<see cref="HtmlAssets"/>): a timeline of attempts across
/// slots with retries and pauses, cumulative spend against the ceiling, concurrency over time, outcomes, cost and
/// duration distributions, findings by severity, and a sortable, filterable task table. No CDN, no third-party code.
/// </summary>
public static class HtmlReport
{
    /// <summary>Result text per task kept in the page; the full text is in results.ndjson.</summary>
    public const int ResultChars = 400;

    // The default encoder escapes <, >, & and quotes, so the JSON can never close its <script> element.
    private static readonly JsonWriterOptions JsonOptions = new() { Encoder = JavaScriptEncoder.Create(UnicodeRanges.All) };

    public static ReportOutput Write(ReportContext ctx)
    {
        var run = ctx.Run;
        var sb = new StringBuilder(64 * 1024 + run.Tasks.Count * 400);
        var title = WebUtility.HtmlEncode($"Herd run {run.RunId}");
        sb.Append("<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">");
        sb.Append("<title>").Append(title).Append("</title><style>").Append(HtmlAssets.Css).Append("</style></head>\n<body>\n");
        sb.Append(HtmlAssets.Body);
        sb.Append("<script type=\"application/json\" id=\"herd-data\">").Append(Data(ctx)).Append("</script>\n");
        sb.Append("<script>").Append(HtmlAssets.Script).Append("</script>\n</body></html>\n");
        return new ReportOutput(sb.ToString(), []);
    }

    private static string Data(ReportContext ctx)
    {
        var run = ctx.Run;
        var t0 = run.Tasks.SelectMany(t => t.Attempts.Select(a => a.Start)).Concat(run.Tasks.Select(t => t.Start)).DefaultIfEmpty(DateTimeOffset.UnixEpoch).Min();
        double Rel(DateTimeOffset t) => Math.Round((t - t0).TotalSeconds, 3);
        var index = run.Tasks.Select((t, i) => (t.Key, i)).ToDictionary(p => p.Key, p => p.i, StringComparer.Ordinal);
        var sessions = SessionStore.FromEnvironment();
        using var buffer = new MemoryStream();
        using (var w = new Utf8JsonWriter(buffer, JsonOptions))
        {
            w.WriteStartObject();
            w.WriteStartObject("run");
            w.WriteString("id", run.RunId);
            w.WriteString("dir", run.Directory);
            w.WriteString("status", run.Status);
            if (run.ExitCode is { } x)
                w.WriteNumber("exit", x);
            w.WriteNumber("planned", run.Planned);
            w.WriteNumber("unfinished", run.Unfinished);
            if (run.CeilingUsd is { } c)
                w.WriteNumber("ceiling", c);
            w.WriteNumber("wall", Math.Round(run.WallS, 3));
            w.WriteString("start", t0.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss 'UTC'", System.Globalization.CultureInfo.InvariantCulture));
            w.WriteEndObject();
            // tasks: [seq, name, class, start, runtime, cost, retries, in, out, shard, result, error, transcript, findings]
            var findingCounts = ctx.Findings.GroupBy(f => f.TaskKey).ToDictionary(g => g.Key, g => g.Count(), StringComparer.Ordinal);
            w.WriteStartArray("tasks");
            foreach (var t in run.Tasks)
            {
                w.WriteStartArray();
                w.WriteNumberValue(t.Seq);
                w.WriteStringValue(t.Name);
                w.WriteStringValue(t.Class);
                w.WriteNumberValue(Rel(t.Start));
                w.WriteNumberValue(Math.Round(t.RuntimeS, 3));
                w.WriteNumberValue(Math.Round(t.CostUsd, 6));
                w.WriteNumberValue(t.Retries);
                w.WriteNumberValue(t.InputTokens + t.CacheReadTokens + t.CacheWriteTokens);
                w.WriteNumberValue(t.OutputTokens);
                w.WriteStringValue(t.Shard ?? "");
                w.WriteStringValue(t.ResultText.Length > ResultChars ? t.ResultText[..ResultChars] + "…" : t.ResultText);
                w.WriteStringValue(t.Error is { } e ? SarifReport.OneLine(e, 300) : "");
                w.WriteStringValue(TranscriptPath(run, t, sessions));
                w.WriteNumberValue(findingCounts.GetValueOrDefault(t.Key));
                w.WriteEndArray();
            }
            w.WriteEndArray();
            // attempts: [task index, n, timeline row (-1 unknown), start, end, class, cost]. A row is a (shard, slot)
            // pair: in a merged multi-shard run every shard has its own slot 0, and their attempts must not overlap.
            var rows = new Dictionary<(string, int), int>();
            foreach (var (shard, slot) in run.Tasks.SelectMany(t => t.Attempts.Where(a => a.Slot is not null).Select(a => (t.Shard ?? "", a.Slot!.Value))).Distinct().Order())
                rows[(shard, slot)] = rows.Count;
            w.WriteStartArray("attempts");
            foreach (var t in run.Tasks)
            {
                foreach (var a in t.Attempts)
                {
                    w.WriteStartArray();
                    w.WriteNumberValue(index[t.Key]);
                    w.WriteNumberValue(a.N);
                    w.WriteNumberValue(a.Slot is { } slot ? rows[(t.Shard ?? "", slot)] : -1);
                    w.WriteNumberValue(Rel(a.Start));
                    w.WriteNumberValue(Rel(a.End ?? t.End));
                    w.WriteStringValue(a.Class ?? "running");
                    w.WriteNumberValue(Math.Round(a.CostUsd, 6));
                    w.WriteEndArray();
                }
            }
            w.WriteEndArray();
            w.WriteStartArray("pauses");
            foreach (var p in run.Pauses)
            {
                w.WriteStartArray();
                w.WriteNumberValue(Rel(p.Start));
                w.WriteNumberValue(Rel(p.End));
                w.WriteStringValue(p.Reason);
                w.WriteEndArray();
            }
            w.WriteEndArray();
            // findings: [severity, path, line (0 none), message, task index]
            w.WriteStartArray("findings");
            foreach (var f in ctx.Findings)
            {
                w.WriteStartArray();
                w.WriteStringValue(f.Severity.Name());
                w.WriteStringValue(ctx.RelativePath(f.File) ?? "");
                w.WriteNumberValue(f.Line ?? 0);
                w.WriteStringValue(SarifReport.OneLine(f.Message, 500));
                w.WriteNumberValue(index.GetValueOrDefault(f.TaskKey, -1));
                w.WriteEndArray();
            }
            w.WriteEndArray();
            w.WriteEndObject();
        }
        return Encoding.UTF8.GetString(buffer.ToArray());
    }

    /// <summary>Where a task's transcript is: its raw engine output under the run directory, else its session file, else nothing.</summary>
    private static string TranscriptPath(RunData run, ReportTask t, SessionStore sessions)
    {
        var tasksDir = Path.Combine(run.Directory, "tasks", t.Key);
        if (Directory.Exists(tasksDir))
            return tasksDir;
        if (t.SessionId.Length > 0)
        {
            var session = sessions.PathFor(run.Cwd, t.SessionId);
            if (File.Exists(session))
                return session;
        }
        return "";
    }
}
