using System.Globalization;
using System.Text;

namespace Herd.Fleet.Reports;

/// <summary>
/// The human report in Markdown: outcomes, cost, tokens, p50/p90 durations, the top findings and the failed tasks with
/// their error class. The same text serves a pull-request comment, any CI's summary page and GitHub's
/// <c>$GITHUB_STEP_SUMMARY</c>, which takes at most 1 MiB per step: the lists are bounded so the text stays far below.
/// </summary>
public static class MarkdownReport
{
    public const int MaxBytes = 1024 * 1024;
    public const int TopFindings = 20;
    public const int TopFailures = 50;

    public static ReportOutput Write(ReportContext ctx) => Write(RunDigest.Build(ctx));

    /// <summary>The report of a run summed up in one pass (<see cref="RunDigest"/>): bounded whatever the run's size.</summary>
    public static ReportOutput Write(RunDigest d)
    {
        var run = d.Header;
        var sb = new StringBuilder();
        var icon = d.Failed == 0 && d.Unfinished == 0 ? "✅" : "❌";
        sb.AppendLine(CultureInfo.InvariantCulture, $"## {icon} Herd run `{run.RunId}` — {run.Status}");
        sb.AppendLine();
        sb.AppendLine("| Tasks | Succeeded | Failed | Unfinished | Cost | Wall time |");
        sb.AppendLine("|---:|---:|---:|---:|---:|---:|");
        var ceiling = run.CeilingUsd is { } c ? $" of {Usd(c)}" : "";
        sb.AppendLine(CultureInfo.InvariantCulture, $"| {d.Planned} | {d.Succeeded} | {d.Failed} | {d.Unfinished} | {Usd(d.CostUsd)}{ceiling} | {Dur(d.WallS)} |");
        sb.AppendLine();

        sb.AppendLine("### Outcomes");
        sb.AppendLine();
        sb.AppendLine("| Class | Tasks | Cost |");
        sb.AppendLine("|---|---:|---:|");
        foreach (var (cls, tasks, cost) in d.Classes)
            sb.AppendLine(CultureInfo.InvariantCulture, $"| `{cls}` | {tasks} | {Usd(cost)} |");
        sb.AppendLine();

        sb.AppendLine("### Cost, tokens and durations");
        sb.AppendLine();
        sb.AppendLine("| | p50 | p90 | max | total |");
        sb.AppendLine("|---|---:|---:|---:|---:|");
        sb.AppendLine(CultureInfo.InvariantCulture, $"| Duration per task | {Dur(d.Runtimes.Percentile(0.5))} | {Dur(d.Runtimes.Percentile(0.9))} | {Dur(d.Runtimes.Max)} | {Dur(d.WallS)} wall |");
        sb.AppendLine(CultureInfo.InvariantCulture, $"| Cost per task | {Usd(d.Costs.Percentile(0.5))} | {Usd(d.Costs.Percentile(0.9))} | {Usd(d.Costs.Max)} | {Usd(d.CostUsd)} |");
        sb.AppendLine();
        sb.AppendLine(CultureInfo.InvariantCulture,
            $"Tokens: {N(d.InputTokens)} input, {N(d.OutputTokens)} output, {N(d.CacheReadTokens)} cache read, {N(d.CacheWriteTokens)} cache write; {N(d.Retries)} retries.");
        sb.AppendLine();

        if (d.FindingsCount > 0)
        {
            sb.AppendLine(CultureInfo.InvariantCulture, $"### Findings ({d.FindingsCount})");
            sb.AppendLine();
            sb.AppendLine(string.Join(" · ", Enum.GetValues<Severity>().Reverse().Where(s => d.FindingsAt(s) > 0).Select(s => $"**{s.Name()}** {d.FindingsAt(s)}")));
            sb.AppendLine();
            sb.AppendLine("| Severity | Location | Finding | Task |");
            sb.AppendLine("|---|---|---|---|");
            foreach (var f in d.TopFindings.Take(TopFindings))
            {
                var where = d.RelativePath(f.File) is { } p ? $"`{Cell(p, 120)}{(f.Line is { } l ? ":" + l.ToString(CultureInfo.InvariantCulture) : "")}`" : "—";
                sb.AppendLine(CultureInfo.InvariantCulture, $"| {f.Severity.Name()} | {where} | {Cell(f.Message, 300)} | {Cell(f.TaskName, 80)} |");
            }
            if (d.FindingsCount > TopFindings)
                sb.AppendLine().AppendLine(CultureInfo.InvariantCulture, $"…and {d.FindingsCount - TopFindings} more (`herd report {run.RunId} --format sarif` has them all).");
            sb.AppendLine();
        }

        WriteChanges(sb, d);

        if (d.Failed > 0)
        {
            sb.AppendLine(CultureInfo.InvariantCulture, $"### Failed tasks ({d.Failed})");
            sb.AppendLine();
            sb.AppendLine("| Task | Class | Error |");
            sb.AppendLine("|---|---|---|");
            foreach (var t in d.Failures.Take(TopFailures))
                sb.AppendLine(CultureInfo.InvariantCulture, $"| {Cell(t.Name, 80)} | `{t.Class}` | {Cell(t.Error ?? "", 200)} |");
            if (d.Failed > TopFailures)
                sb.AppendLine().AppendLine(CultureInfo.InvariantCulture, $"…and {d.Failed - TopFailures} more.");
            sb.AppendLine();
            sb.AppendLine(CultureInfo.InvariantCulture, $"Rerun them with `herd run --retry-failed --run-dir {run.Directory}`.");
            sb.AppendLine();
        }
        return new ReportOutput(Bounded(sb.ToString()), []);
    }

    /// <summary>Rows of the changes table: a migration of thousands of files is read from the patches, not from here.</summary>
    public const int TopChanges = RunDigest.KeptChanges;

    /// <summary>
    /// With <c>--isolate</c>/<c>--verify</c>: per task the files changed, lines +/−, verify runs and fix rounds, and for a
    /// failed verification the last line of its output; then how to land the patches.
    /// </summary>
    private static void WriteChanges(StringBuilder sb, RunDigest d)
    {
        if (d.ChangeTasks == 0)
            return;
        sb.AppendLine(CultureInfo.InvariantCulture,
            $"### Changes ({d.ChangedTasks} task(s) changed {d.FilesChanged} file(s), +{d.LinesAdded} −{d.LinesRemoved})");
        sb.AppendLine();
        sb.AppendLine("| Task | Class | Files | + | − | Verify | Last verify output |");
        sb.AppendLine("|---|---|---:|---:|---:|---|---|");
        foreach (var t in d.Changes.Take(TopChanges))
        {
            var c = t.Changes;
            var verify = t.Verify is { } v ? $"{(v.Passed ? "passed" : "failed")}, {v.Runs} run(s), {v.FixRounds} fix round(s)" : "—";
            var tail = t.Verify is { Passed: false } fv ? Cell(fv.OutputTail.Split('\n', StringSplitOptions.RemoveEmptyEntries).LastOrDefault() ?? "", 160) : "";
            sb.AppendLine(CultureInfo.InvariantCulture,
                $"| {Cell(t.Name, 80)} | `{t.Class}` | {c?.Files.Count ?? 0} | {c?.LinesAdded ?? 0} | {c?.LinesRemoved ?? 0} | {verify} | {tail} |");
        }
        if (d.ChangesLeftOut > 0)
            sb.AppendLine().AppendLine(CultureInfo.InvariantCulture, $"…and {d.ChangesLeftOut} more (`herd report {d.Header.Directory} --format patch` lists every patch that would land).");
        sb.AppendLine();
        if (d.ChangesToLand)
        {
            var dir = d.Header.Directory;
            sb.AppendLine(CultureInfo.InvariantCulture, $"Review what would land with `herd apply {dir} --check`; land it with `herd apply {dir} --branch NAME --commit-per-task`.");
            sb.AppendLine();
        }
    }

    /// <summary>Cuts at a line boundary below <see cref="MaxBytes"/>, saying so; the lists above are bounded, so this is a backstop.</summary>
    public static string Bounded(string text)
    {
        if (Encoding.UTF8.GetByteCount(text) <= MaxBytes)
            return text;
        const string note = "\n\n…report cut to GitHub's 1 MiB step-summary limit.\n";
        var budget = MaxBytes - Encoding.UTF8.GetByteCount(note);
        var lines = text.Split('\n');
        var sb = new StringBuilder();
        var used = 0;
        foreach (var line in lines)
        {
            var size = Encoding.UTF8.GetByteCount(line) + 1;
            if (used + size > budget)
                break;
            sb.Append(line).Append('\n');
            used += size;
        }
        return sb.Append(note).ToString();
    }

    internal static string Cell(string s, int max)
    {
        var one = SarifReport.OneLine(s, max);
        return one.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("|", "\\|", StringComparison.Ordinal)
            .Replace("<", "&lt;", StringComparison.Ordinal).Replace(">", "&gt;", StringComparison.Ordinal).Replace("`", "'", StringComparison.Ordinal);
    }

    internal static string Usd(double v) => "$" + v.ToString(v >= 100 ? "0.00" : v >= 1 ? "0.000" : "0.0000", CultureInfo.InvariantCulture);

    internal static string Dur(double s) => s < 60 ? s.ToString("0.0", CultureInfo.InvariantCulture) + " s" : s < 3600 ? $"{(int)(s / 60)} m {(int)(s % 60)} s" : $"{(int)(s / 3600)} h {(int)(s % 3600 / 60)} m";

    private static string N(long n) => n.ToString("#,0", CultureInfo.InvariantCulture);
}
