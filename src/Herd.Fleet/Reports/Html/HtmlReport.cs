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
    public const int ResultChars = RunDigest.ResultChars;

    // The default encoder escapes <, >, & and quotes, so the JSON can never close its <script> element.
    private static readonly JsonWriterOptions JsonOptions = new() { Encoder = JavaScriptEncoder.Create(UnicodeRanges.All) };

    public static ReportOutput Write(ReportContext ctx) => Write(RunDigest.Build(ctx));

    /// <summary>The page of a run summed up in one pass: its size is bounded whatever the run's (issue #23).</summary>
    public static ReportOutput Write(RunDigest digest)
    {
        var sb = new StringBuilder(64 * 1024);
        var title = WebUtility.HtmlEncode($"Herd run {digest.Header.RunId}");
        sb.Append("<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">");
        sb.Append("<title>").Append(title).Append("</title><style>").Append(HtmlAssets.Css).Append("</style></head>\n<body>\n");
        sb.Append(HtmlAssets.Body);
        sb.Append("<script type=\"application/json\" id=\"herd-data\">").Append(Data(digest)).Append("</script>\n");
        sb.Append("<script>").Append(HtmlAssets.Script).Append("</script>\n</body></html>\n");
        return new ReportOutput(sb.ToString(), []);
    }

    private static string Data(RunDigest d)
    {
        var run = d.Header;
        var t0 = d.T0;
        double Rel(DateTimeOffset t) => Math.Round((t - t0).TotalSeconds, 3);
        var rows = d.TableRows;
        var transcripts = Transcripts(run, rows);
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
            w.WriteNumber("planned", d.Planned);
            w.WriteNumber("unfinished", d.Unfinished);
            w.WriteNumber("finished", d.Finished);
            w.WriteNumber("succeeded", d.Succeeded);
            w.WriteNumber("failed", d.Failed);
            w.WriteNumber("cancelled", d.Cancelled);
            w.WriteNumber("cost", Math.Round(d.CostUsd, 6));
            w.WriteNumber("retries", d.Retries);
            w.WriteNumber("attempts", d.Attempts);
            w.WriteNumber("p50", Math.Round(d.Runtimes.Percentile(0.5), 3));
            w.WriteNumber("p90", Math.Round(d.Runtimes.Percentile(0.9), 3));
            w.WriteNumber("findings", d.FindingsCount);
            if (run.CeilingUsd is { } c)
                w.WriteNumber("ceiling", c);
            w.WriteNumber("wall", Math.Round(d.WallS, 3));
            w.WriteString("start", t0.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss 'UTC'", System.Globalization.CultureInfo.InvariantCulture));
            w.WriteEndObject();

            // tasks: [seq, name, class, start, runtime, cost, retries, in, out, shard, result, error, transcript, findings]
            w.WriteStartArray("tasks");
            foreach (var t in rows)
            {
                w.WriteStartArray();
                w.WriteNumberValue(t.Seq);
                w.WriteStringValue(t.Name);
                w.WriteStringValue(t.Class);
                w.WriteNumberValue(Rel(t.Start));
                w.WriteNumberValue(Math.Round(t.RuntimeS, 3));
                w.WriteNumberValue(Math.Round(t.CostUsd, 6));
                w.WriteNumberValue(t.Retries);
                w.WriteNumberValue(t.TokensIn);
                w.WriteNumberValue(t.TokensOut);
                w.WriteStringValue(t.Shard ?? "");
                w.WriteStringValue(t.Result);
                w.WriteStringValue(t.Error ?? "");
                w.WriteStringValue(transcripts.GetValueOrDefault(t.Key, ""));
                w.WriteNumberValue(t.Findings);
                w.WriteEndArray();
            }
            w.WriteEndArray();

            if (d.Exact)
                WriteAttempts(w, rows, Rel);
            else
                WriteBins(w, d, t0);

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

            w.WriteStartArray("outcomes");
            foreach (var (cls, tasks, _) in d.Classes)
            {
                w.WriteStartArray();
                w.WriteStringValue(cls);
                w.WriteNumberValue(tasks);
                w.WriteEndArray();
            }
            w.WriteEndArray();

            w.WriteStartObject("hist");
            WriteHistogram(w, "cost", d.Costs);
            WriteHistogram(w, "duration", d.Runtimes);
            w.WriteEndObject();

            w.WriteStartObject("severities");
            foreach (var s in Enum.GetValues<Severity>())
                w.WriteNumber(s.Name(), d.FindingsAt(s));
            w.WriteEndObject();
            // findings: [severity, path, line (0 none), message, task name]; the most severe, at most RunDigest.KeptFindings
            w.WriteStartArray("findings");
            foreach (var f in d.TopFindings)
            {
                w.WriteStartArray();
                w.WriteStringValue(f.Severity.Name());
                w.WriteStringValue(d.RelativePath(f.File) ?? "");
                w.WriteNumberValue(f.Line ?? 0);
                w.WriteStringValue(SarifReport.OneLine(f.Message, 500));
                w.WriteStringValue(f.TaskName);
                w.WriteEndArray();
            }
            w.WriteEndArray();
            WriteChanges(w, d);
            w.WriteEndObject();
        }
        return Encoding.UTF8.GetString(buffer.ToArray());
    }

    /// <summary>Characters of a task's last verify output kept in the page (its end: where the failure is).</summary>
    public const int VerifyTailChars = 1200;

    /// <summary>
    /// changes (<c>--isolate</c>/<c>--verify</c>): the totals, and the digest's top rows
    /// [name, class, files, added, removed, verify runs (0 none), fix rounds, verify passed (1, 0, −1 none), output tail, paths].
    /// </summary>
    private static void WriteChanges(Utf8JsonWriter w, RunDigest d)
    {
        if (d.ChangeTasks == 0)
            return;
        w.WriteStartObject("changes");
        w.WriteNumber("tasks", d.ChangeTasks);
        w.WriteNumber("changed", d.ChangedTasks);
        w.WriteNumber("files", d.FilesChanged);
        w.WriteNumber("added", d.LinesAdded);
        w.WriteNumber("removed", d.LinesRemoved);
        w.WriteNumber("verifyPassed", d.VerifyPassed);
        w.WriteNumber("verifyFailed", d.VerifyFailed);
        w.WriteNumber("fixRounds", d.FixRounds);
        w.WriteNumber("left", d.ChangesLeftOut);
        w.WriteBoolean("land", d.ChangesToLand);
        w.WriteStartArray("rows");
        foreach (var t in d.Changes)
        {
            w.WriteStartArray();
            w.WriteStringValue(t.Name);
            w.WriteStringValue(t.Class);
            w.WriteNumberValue(t.Changes?.Files.Count ?? 0);
            w.WriteNumberValue(t.Changes?.LinesAdded ?? 0);
            w.WriteNumberValue(t.Changes?.LinesRemoved ?? 0);
            w.WriteNumberValue(t.Verify?.Runs ?? 0);
            w.WriteNumberValue(t.Verify?.FixRounds ?? 0);
            w.WriteNumberValue(t.Verify is { } v ? v.Passed ? 1 : 0 : -1);
            var tail = t.Verify?.OutputTail ?? "";
            w.WriteStringValue(tail.Length > VerifyTailChars ? "…" + tail[^VerifyTailChars..] : tail);
            w.WriteStringValue(string.Join(" ", (t.Changes?.Files ?? []).Take(20)) + (t.Changes?.Files.Count > 20 ? " …" : ""));
            w.WriteEndArray();
        }
        w.WriteEndArray();
        w.WriteEndObject();
    }

    /// <summary>attempts: [task index, n, timeline row (-1 unknown), start, end, class, cost]. A row is a (shard, slot)
    /// pair: in a merged multi-shard run every shard has its own slot 0, and their attempts must not overlap.</summary>
    private static void WriteAttempts(Utf8JsonWriter w, IReadOnlyList<DigestRow> rows, Func<DateTimeOffset, double> rel)
    {
        var lanes = new Dictionary<(string, int), int>();
        foreach (var (shard, slot) in rows.SelectMany(t => t.Attempts.Where(a => a.Slot is not null).Select(a => (t.Shard ?? "", a.Slot!.Value))).Distinct().Order())
            lanes[(shard, slot)] = lanes.Count;
        w.WriteStartArray("attempts");
        for (var i = 0; i < rows.Count; i++)
        {
            var t = rows[i];
            foreach (var a in t.Attempts)
            {
                w.WriteStartArray();
                w.WriteNumberValue(i);
                w.WriteNumberValue(a.N);
                w.WriteNumberValue(a.Slot is { } slot ? lanes[(t.Shard ?? "", slot)] : -1);
                w.WriteNumberValue(rel(a.Start));
                w.WriteNumberValue(rel(a.End ?? t.End));
                w.WriteStringValue(a.Class ?? "running");
                w.WriteNumberValue(Math.Round(a.CostUsd, 6));
                w.WriteEndArray();
            }
        }
        w.WriteEndArray();
    }

    /// <summary>bins: a run too large to draw attempt by attempt, as running seconds per outcome class and spend per time bin.</summary>
    private static void WriteBins(Utf8JsonWriter w, RunDigest d, DateTimeOffset t0)
    {
        var (start, busy, spend) = d.Timeline.Read(t0);
        w.WriteStartObject("bins");
        w.WriteNumber("start", Math.Round(start, 3));
        w.WriteNumber("width", d.Timeline.Width);
        w.WriteStartArray("classes");
        foreach (var c in d.Timeline.Classes)
            w.WriteStringValue(c);
        w.WriteEndArray();
        w.WriteStartArray("busy");
        foreach (var series in busy)
        {
            w.WriteStartArray();
            foreach (var v in series)
                w.WriteNumberValue(Math.Round(v, 3));
            w.WriteEndArray();
        }
        w.WriteEndArray();
        w.WriteStartArray("spend");
        foreach (var v in spend)
            w.WriteNumberValue(Math.Round(v, 6));
        w.WriteEndArray();
        w.WriteEndObject();
    }

    private static void WriteHistogram(Utf8JsonWriter w, string name, Distribution values)
    {
        w.WriteStartObject(name);
        w.WriteNumber("max", values.Max);
        w.WriteStartArray("counts");
        foreach (var c in values.Histogram(20))
            w.WriteNumberValue(c);
        w.WriteEndArray();
        w.WriteEndObject();
    }

    /// <summary>
    /// Where the table's tasks' transcripts are: a task's own folder under the run directory, the session file an
    /// external engine (claude, codex, gemini) left in the run's <c>engine/</c> folder, or Herd's own session store.
    /// Only the table's rows are looked up, with one walk of the engine folder, so a large run costs no more.
    /// </summary>
    private static Dictionary<string, string> Transcripts(RunHeader run, IReadOnlyList<DigestRow> rows)
    {
        var found = new Dictionary<string, string>(StringComparer.Ordinal);
        var bySession = new Dictionary<string, string>(StringComparer.Ordinal);
        var sessions = SessionStore.FromEnvironment();
        foreach (var t in rows)
        {
            var tasksDir = Path.Combine(run.Directory, "tasks", t.Key);
            if (Directory.Exists(tasksDir))
                found[t.Key] = tasksDir;
            else if (t.SessionId.Length > 0 && sessions.PathFor(run.Cwd, t.SessionId) is var session && File.Exists(session))
                found[t.Key] = session;
            else if (t.SessionId.Length > 0)
                bySession.TryAdd(t.SessionId + ".jsonl", t.Key);
        }
        var engine = Path.Combine(run.Directory, "engine");
        if (bySession.Count == 0 || !Directory.Exists(engine))
            return found;
        try
        {
            foreach (var file in Directory.EnumerateFiles(engine, "*.jsonl", new EnumerationOptions { RecurseSubdirectories = true, IgnoreInaccessible = true }))
            {
                if (bySession.TryGetValue(Path.GetFileName(file), out var key))
                    found.TryAdd(key, file);
            }
        }
        catch (IOException)
        {
            // A folder that vanished while it was walked: those tasks show no transcript.
        }
        return found;
    }
}
