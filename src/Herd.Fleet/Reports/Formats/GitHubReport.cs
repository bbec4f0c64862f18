using System.Globalization;
using System.Text;

namespace Herd.Fleet.Reports;

/// <summary>
/// GitHub Actions workflow commands (<c>::error file=…,line=…,title=…::message</c>) for findings and failed tasks.
/// GitHub shows at most 10 errors, 10 warnings and 10 notices per step (50 per job): the most severe go first, and one
/// notice says what was left out. Escaping is the Actions toolkit's: data escapes % CR LF; properties also ':' and ','.
/// </summary>
public static class GitHubReport
{
    public const int PerKindLimit = 10;

    /// <param name="Order">Among equal ranks: a finding's order as read, a failed task's plan number.</param>
    private sealed record Annotation(double Rank, string Kind, string? File, int? Line, string TaskName, long Order, string Title, string Message);

    /// <summary>Most severe first; among findings of one severity by file, line and task, as every format orders them.</summary>
    private static int Compare(Annotation x, Annotation y)
    {
        var c = y.Rank.CompareTo(x.Rank);
        return c != 0 ? c : TopFindings.ComparePlace(x.File, x.Line, x.TaskName, x.Order, y.File, y.Line, y.TaskName, y.Order);
    }

    public static ReportOutput Write(ReportContext ctx) => ReportOutput.Collect(output => Write(ctx, output));

    /// <summary>One pass over the run keeping the <see cref="PerKindLimit"/> best annotations of each kind and counting the rest.</summary>
    /// <returns>The notes for stderr.</returns>
    public static IReadOnlyList<string> Write(ReportContext ctx, Stream output)
    {
        var best = new Dictionary<string, PriorityQueue<Annotation, Annotation>>(StringComparer.Ordinal);
        var totals = new Dictionary<string, long>(StringComparer.Ordinal) { ["error"] = 0, ["warning"] = 0, ["notice"] = 0 };
        // The queue's top is the least of those kept, so a better one replaces it.
        var worstFirst = Comparer<Annotation>.Create((x, y) => Compare(y, x));
        long read = 0;
        void Offer(Annotation a)
        {
            totals[a.Kind] = totals.GetValueOrDefault(a.Kind) + 1;
            if (!best.TryGetValue(a.Kind, out var kept))
                best[a.Kind] = kept = new PriorityQueue<Annotation, Annotation>(worstFirst);
            kept.KeepBest(a, a, PerKindLimit);
        }

        foreach (var t in ctx.Run.Tasks())
        {
            foreach (var f in ctx.FindingsOf(t))
                Offer(new Annotation((int)f.Severity, f.Severity.GitHubCommand(), ctx.RelativePath(f.File), f.Line, f.TaskName, read++, $"{f.Severity.Name()}: {SarifReport.OneLine(f.TaskName, 80)}", f.Message));
            // A failed task ranks just below critical findings: it is an error, but a blocker in the code comes first.
            if (t.Failed)
                Offer(new Annotation((int)Severity.Critical - 0.5, "error", null, null, "", t.Seq, $"herd: task {SarifReport.OneLine(t.Name, 80)} failed ({t.Class})", t.Error ?? t.Class));
        }
        var shown = best.Values.SelectMany(q => q.UnorderedItems.Select(x => x.Element)).ToList();
        shown.Sort(Compare);
        var left = totals.ToDictionary(kv => kv.Key, kv => kv.Value - shown.Count(a => a.Kind == kv.Key), StringComparer.Ordinal);
        // The line that says what was left out is a notice too: make room for it.
        if (left.Values.Sum() > 0 && shown.Count(a => a.Kind == "notice") == PerKindLimit)
        {
            shown.RemoveAt(shown.FindLastIndex(a => a.Kind == "notice"));
            left["notice"]++;
        }
        var sb = new StringBuilder();
        foreach (var a in shown)
            sb.Append(Command(a.Kind, a.File, a.Line, a.Title, a.Message)).Append('\n');
        var notes = new List<string>();
        if (left.Values.Sum() > 0)
        {
            var parts = left.Where(kv => kv.Value > 0).Select(kv => $"{kv.Value} {kv.Key}{(kv.Value == 1 ? "" : "s")}");
            var text = $"{left.Values.Sum()} more annotations left out ({string.Join(", ", parts)}): GitHub shows {PerKindLimit} of each kind per step. The step summary and the SARIF report have them all.";
            sb.Append(Command("notice", null, null, "herd: annotations left out", text)).Append('\n');
            notes.Add(text);
        }
        var bytes = new UTF8Encoding(false).GetBytes(sb.ToString());
        output.Write(bytes);
        return notes;
    }

    internal static string Command(string kind, string? file, int? line, string title, string message)
    {
        var props = new List<string>();
        if (file is not null)
            props.Add("file=" + EscapeProperty(file));
        if (file is not null && line is { } l)
            props.Add("line=" + l.ToString(CultureInfo.InvariantCulture));
        props.Add("title=" + EscapeProperty(title));
        return $"::{kind} {string.Join(',', props)}::{EscapeData(message)}";
    }

    internal static string EscapeData(string s) => s.Replace("%", "%25", StringComparison.Ordinal).Replace("\r", "%0D", StringComparison.Ordinal).Replace("\n", "%0A", StringComparison.Ordinal);

    internal static string EscapeProperty(string s) => EscapeData(s).Replace(":", "%3A", StringComparison.Ordinal).Replace(",", "%2C", StringComparison.Ordinal);
}
