using System.IO.Compression;
using System.Reflection;
using System.Text;
using System.Text.Json;

namespace Herd.Fleet.Reports;

/// <summary>
/// SARIF 2.1.0 for GitHub code scanning: one run (a merged multi-shard run is one run id, so one run); with
/// <c>--category</c>, <c>automationDetails.id</c> "category/run-id", else none, so that <c>upload-sarif</c>'s own
/// <c>category</c> input applies (it never overrides an id in the file). The driver names its
/// <c>informationUri</c>; rules with id and descriptions; one physical location per result with a repository-relative
/// URI and a region only when the finding names a line (a file-level result has none, rather than an invented line 1);
/// and <c>partialFingerprints.primaryLocationLineHash</c>.
/// GitHub accepts at most 25 000 results per run and 10 MB gzipped per upload: the most severe results are kept and
/// the cut is said in the run's invocation notifications and in a note.
/// </summary>
public static class SarifReport
{
    public const int MaxResultsPerRun = 25_000;
    public const long MaxGzipBytes = 10L * 1000 * 1000;
    public const string SchemaUri = "https://json.schemastore.org/sarif-2.1.0.json";

    public static ReportOutput Write(ReportContext ctx) => Write(ctx, MaxResultsPerRun, MaxGzipBytes);

    /// <summary>With other limits than GitHub's (tests, or a consumer with tighter ones).</summary>
    public static ReportOutput Write(ReportContext ctx, int maxResults, long maxGzipBytes) =>
        ReportOutput.Collect(output => Write(ctx, output, maxResults, maxGzipBytes));

    /// <summary>
    /// Writes the SARIF to <paramref name="output"/> after one pass over the run that keeps at most
    /// <paramref name="maxResults"/> findings (the most severe with a file) and the first 100 failed tasks.
    /// </summary>
    /// <returns>The notes for stderr.</returns>
    public static IReadOnlyList<string> Write(ReportContext ctx, Stream output, int maxResults, long maxGzipBytes)
    {
        // Only findings with a file can be shown by code scanning (a result needs a location).
        var top = new TopFindings(maxResults);
        long unlocated = 0;
        var anyFailed = false;
        var failed = new PriorityQueue<(int Seq, string Text), int>(Comparer<int>.Create((a, b) => b.CompareTo(a)));
        foreach (var t in ctx.Run.Tasks())
        {
            foreach (var f in ctx.FindingsOf(t))
            {
                if (ctx.RelativePath(f.File) is null)
                    unlocated++;
                else
                    top.Add(f);
            }
            if (!t.Failed)
                continue;
            anyFailed = true;
            // The first failed tasks in plan order: a queue whose top is the latest of those kept.
            failed.KeepBest((t.Seq, FailureText(t)), t.Seq, FailedNotifications);
        }
        var located = top.Count;
        var findings = top.Items;
        var failures = failed.UnorderedItems.Select(x => x.Element).OrderBy(x => x.Seq).Select(x => x.Text).ToArray();
        var keep = findings.Count;
        while (true)
        {
            var notes = new List<string>();
            if (unlocated > 0)
                notes.Add($"{unlocated} finding(s) name no file and are not in the SARIF (code scanning needs a location); the markdown and JUnit reports list them.");
            if (keep < located)
                notes.Add($"SARIF cut to the {keep} most severe of {located} results (GitHub code scanning accepts {maxResults} results per run and {maxGzipBytes / 1_000_000} MB gzipped).");
            var kept = findings.Take(keep).ToArray();
            // Measured before it is written, so the output is written once, at its final size.
            var size = GzipSize(sink => Build(ctx, sink, kept, notes, anyFailed, failures));
            if (size <= maxGzipBytes || keep == 0)
            {
                Build(ctx, output, kept, notes, anyFailed, failures);
                return notes;
            }
            keep = (int)(keep * 0.9 * maxGzipBytes / size);
        }
    }

    private const int FailedNotifications = 100;

    private static string FailureText(ReportTask t) => $"task {t.Name} ended {t.Class}{(t.Error is { Length: > 0 } e ? ": " + OneLine(e, 300) : "")}";

    private static void Build(ReportContext ctx, Stream output, IReadOnlyList<Finding> findings, IReadOnlyList<string> notes, bool anyFailed, IReadOnlyList<string> failures)
    {
        var rules = findings.Select(ReportContext.RuleId).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToList();
        var ruleIndex = rules.Select((r, i) => (r, i)).ToDictionary(p => p.r, p => p.i, StringComparer.Ordinal);
        var examples = new Dictionary<string, Finding>(StringComparer.Ordinal);
        foreach (var f in findings)
            examples.TryAdd(ReportContext.RuleId(f), f);
        var occurrences = new Dictionary<string, int>(StringComparer.Ordinal);
        using (var w = new Utf8JsonWriter(output, new JsonWriterOptions { Indented = true, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            w.WriteStartObject();
            w.WriteString("$schema", SchemaUri);
            w.WriteString("version", "2.1.0");
            w.WriteStartArray("runs");
            w.WriteStartObject();
            w.WriteStartObject("tool");
            w.WriteStartObject("driver");
            w.WriteString("name", "herd");
            w.WriteString("informationUri", InformationUri);
            w.WriteString("semanticVersion", Version);
            w.WriteStartArray("rules");
            foreach (var rule in rules)
                WriteRule(w, rule, examples[rule]);
            w.WriteEndArray();
            w.WriteEndObject();
            w.WriteEndObject();
            if (ctx.Options.Category is { } category)
            {
                w.WriteStartObject("automationDetails");
                w.WriteString("id", $"{category.TrimEnd('/')}/{ctx.Header.RunId}");
                w.WriteEndObject();
            }
            w.WriteStartObject("originalUriBaseIds");
            w.WriteStartObject("%SRCROOT%");
            w.WriteString("uri", new Uri(ctx.RepoRoot.TrimEnd('/') + "/").AbsoluteUri);
            w.WriteEndObject();
            w.WriteEndObject();
            w.WriteStartArray("invocations");
            w.WriteStartObject();
            w.WriteBoolean("executionSuccessful", !anyFailed);
            w.WriteStartArray("toolExecutionNotifications");
            foreach (var note in notes)
                WriteNotification(w, "warning", note);
            foreach (var failure in failures)
                WriteNotification(w, "error", failure);
            w.WriteEndArray();
            w.WriteEndObject();
            w.WriteEndArray();
            w.WriteStartArray("results");
            foreach (var f in findings)
            {
                var rule = ReportContext.RuleId(f);
                var hash = ctx.Fingerprint(f, rule);
                var n = occurrences[hash] = occurrences.GetValueOrDefault(hash) + 1;
                w.WriteStartObject();
                w.WriteString("ruleId", rule);
                w.WriteNumber("ruleIndex", ruleIndex[rule]);
                w.WriteString("level", f.Severity.SarifLevel());
                w.WriteStartObject("message");
                w.WriteString("text", f.Message);
                w.WriteEndObject();
                w.WriteStartArray("locations");
                w.WriteStartObject();
                w.WriteStartObject("physicalLocation");
                w.WriteStartObject("artifactLocation");
                w.WriteString("uri", EscapeUri(ctx.RelativePath(f.File)!));
                w.WriteString("uriBaseId", "%SRCROOT%");
                w.WriteEndObject();
                if (f.Line is { } line)
                {
                    w.WriteStartObject("region");
                    w.WriteNumber("startLine", line);
                    w.WriteEndObject();
                }
                w.WriteEndObject();
                w.WriteEndObject();
                w.WriteEndArray();
                w.WriteStartObject("partialFingerprints");
                w.WriteString("primaryLocationLineHash", $"{hash}:{n}");
                w.WriteEndObject();
                w.WriteStartObject("properties");
                w.WriteString("severity", f.Severity.Name());
                w.WriteString("task", f.TaskName);
                w.WriteString("taskKey", f.TaskKey);
                w.WriteEndObject();
                w.WriteEndObject();
                // Written out as it goes: the document is never whole in memory.
                if (w.BytesPending > 64 * 1024)
                    w.Flush();
            }
            w.WriteEndArray();
            w.WriteEndObject();
            w.WriteEndArray();
            w.WriteEndObject();
        }
    }

    private static void WriteRule(Utf8JsonWriter w, string rule, Finding example)
    {
        var title = example.Rule is { Length: > 0 } r ? r.Trim() : $"Review finding ({example.Severity.Name()})";
        w.WriteStartObject();
        w.WriteString("id", rule);
        w.WriteString("name", PascalName(title));
        w.WriteStartObject("shortDescription");
        w.WriteString("text", OneLine(title, 120));
        w.WriteEndObject();
        w.WriteStartObject("fullDescription");
        w.WriteString("text", example.Rule is { Length: > 0 }
            ? $"Findings of the kind '{OneLine(title, 200)}' reported by Herd review tasks."
            : $"Findings of severity {example.Severity.Name()} reported by Herd review tasks (their structured output named no rule).");
        w.WriteEndObject();
        w.WriteStartObject("help");
        w.WriteString("text", "Reported by an AI review task run with `herd run --json-schema`. Each result's message is the task's own finding; the task and its key are in the result's properties.");
        w.WriteString("markdown", "Reported by an AI review task run with `herd run --json-schema`. Each result's message is the task's own finding; the task and its key are in the result's properties.");
        w.WriteEndObject();
        w.WriteStartObject("defaultConfiguration");
        w.WriteString("level", example.Severity.SarifLevel());
        w.WriteEndObject();
        w.WriteEndObject();
    }

    private static void WriteNotification(Utf8JsonWriter w, string level, string text)
    {
        w.WriteStartObject();
        w.WriteString("level", level);
        w.WriteStartObject("message");
        w.WriteString("text", text);
        w.WriteEndObject();
        w.WriteEndObject();
    }

    /// <summary>Percent-encodes what a URI reference cannot hold (spaces, '%', '#', '?') and leaves the slashes.</summary>
    private static string EscapeUri(string path) => string.Join('/', path.Split('/').Select(Uri.EscapeDataString));

    private static string PascalName(string s)
    {
        var sb = new StringBuilder();
        foreach (var part in s.Split([' ', '-', '_', '/', '.'], StringSplitOptions.RemoveEmptyEntries))
        {
            var clean = new string(part.Where(char.IsAsciiLetterOrDigit).ToArray());
            if (clean.Length > 0)
                sb.Append(char.ToUpperInvariant(clean[0])).Append(clean[1..]);
        }
        return sb.Length == 0 ? "Finding" : sb.ToString();
    }

    internal static string OneLine(string s, int max)
    {
        var line = s.ReplaceLineEndings(" ").Trim();
        return line.Length <= max ? line : line[..(max - 1)] + "…";
    }

    private static long GzipSize(Action<Stream> write)
    {
        var sink = new CountingStream();
        using (var gz = new GZipStream(sink, CompressionLevel.Fastest, leaveOpen: true))
            write(gz);
        return sink.Length;
    }

    /// <summary>Where a reader learns what Herd is (SARIF <c>tool.driver.informationUri</c>): the project URL the build names.</summary>
    public static string InformationUri { get; } =
        typeof(SarifReport).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>().Single(a => a.Key == "ProjectUrl").Value!;

    private static string Version => typeof(SarifReport).Assembly.GetName().Version?.ToString(3) ?? "0.0.0";
}
