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

    private sealed record Annotation(double Rank, string Kind, string? File, int? Line, string Title, string Message);

    public static ReportOutput Write(ReportContext ctx)
    {
        var all = new List<Annotation>();
        foreach (var f in ctx.Findings)
            all.Add(new Annotation((int)f.Severity, f.Severity.GitHubCommand(), ctx.RelativePath(f.File), f.Line, $"{f.Severity.Name()}: {SarifReport.OneLine(f.TaskName, 80)}", f.Message));
        // A failed task ranks just below critical findings: it is an error, but a blocker in the code comes first.
        foreach (var t in ctx.FailedTasks)
            all.Add(new Annotation((int)Severity.Critical - 0.5, "error", null, null, $"herd: task {SarifReport.OneLine(t.Name, 80)} failed ({t.Class})", t.Error ?? t.Class));
        var ordered = all.OrderByDescending(a => a.Rank).ToList();
        var counts = new Dictionary<string, int>(StringComparer.Ordinal) { ["error"] = 0, ["warning"] = 0, ["notice"] = 0 };
        var shown = new List<Annotation>();
        var left = new Dictionary<string, int>(StringComparer.Ordinal) { ["error"] = 0, ["warning"] = 0, ["notice"] = 0 };
        foreach (var a in ordered)
        {
            if (counts[a.Kind] < PerKindLimit)
            {
                counts[a.Kind]++;
                shown.Add(a);
            }
            else
                left[a.Kind]++;
        }
        // The line that says what was left out is a notice too: make room for it.
        if (left.Values.Sum() > 0 && counts["notice"] == PerKindLimit)
        {
            var last = shown.FindLastIndex(a => a.Kind == "notice");
            shown.RemoveAt(last);
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
        return new ReportOutput(sb.ToString(), notes);
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
