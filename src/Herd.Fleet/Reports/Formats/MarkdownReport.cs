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

    public static ReportOutput Write(ReportContext ctx)
    {
        var run = ctx.Run;
        var sb = new StringBuilder();
        var ok = run.Tasks.Count(t => t.Succeeded);
        var failed = run.Tasks.Count(t => t.Failed);
        var icon = failed == 0 && run.Unfinished == 0 ? "✅" : "❌";
        sb.AppendLine(CultureInfo.InvariantCulture, $"## {icon} Herd run `{run.RunId}` — {run.Status}");
        sb.AppendLine();
        sb.AppendLine("| Tasks | Succeeded | Failed | Unfinished | Cost | Wall time |");
        sb.AppendLine("|---:|---:|---:|---:|---:|---:|");
        var ceiling = run.CeilingUsd is { } c ? $" of {Usd(c)}" : "";
        sb.AppendLine(CultureInfo.InvariantCulture, $"| {run.Planned} | {ok} | {failed} | {run.Unfinished} | {Usd(run.CostUsd)}{ceiling} | {Dur(run.WallS)} |");
        sb.AppendLine();

        sb.AppendLine("### Outcomes");
        sb.AppendLine();
        sb.AppendLine("| Class | Tasks | Cost |");
        sb.AppendLine("|---|---:|---:|");
        foreach (var g in run.Tasks.GroupBy(t => t.Class).OrderByDescending(g => g.Count()).ThenBy(g => g.Key, StringComparer.Ordinal))
            sb.AppendLine(CultureInfo.InvariantCulture, $"| `{g.Key}` | {g.Count()} | {Usd(g.Sum(t => t.CostUsd))} |");
        sb.AppendLine();

        var runtimes = run.Tasks.Select(t => t.RuntimeS).ToArray();
        var costs = run.Tasks.Select(t => t.CostUsd).ToArray();
        sb.AppendLine("### Cost, tokens and durations");
        sb.AppendLine();
        sb.AppendLine("| | p50 | p90 | max | total |");
        sb.AppendLine("|---|---:|---:|---:|---:|");
        sb.AppendLine(CultureInfo.InvariantCulture, $"| Duration per task | {Dur(Summary.Percentile(runtimes, 0.5))} | {Dur(Summary.Percentile(runtimes, 0.9))} | {Dur(runtimes.DefaultIfEmpty(0).Max())} | {Dur(run.WallS)} wall |");
        sb.AppendLine(CultureInfo.InvariantCulture, $"| Cost per task | {Usd(Summary.Percentile(costs, 0.5))} | {Usd(Summary.Percentile(costs, 0.9))} | {Usd(costs.DefaultIfEmpty(0).Max())} | {Usd(run.CostUsd)} |");
        sb.AppendLine();
        sb.AppendLine(CultureInfo.InvariantCulture,
            $"Tokens: {N(run.Tasks.Sum(t => t.InputTokens))} input, {N(run.Tasks.Sum(t => t.OutputTokens))} output, {N(run.Tasks.Sum(t => t.CacheReadTokens))} cache read, {N(run.Tasks.Sum(t => t.CacheWriteTokens))} cache write; {N(run.Tasks.Sum(t => t.Retries))} retries.");
        sb.AppendLine();

        if (ctx.Findings.Count > 0)
        {
            sb.AppendLine(CultureInfo.InvariantCulture, $"### Findings ({ctx.Findings.Count})");
            sb.AppendLine();
            sb.AppendLine(string.Join(" · ", ctx.Findings.GroupBy(f => f.Severity).OrderByDescending(g => g.Key).Select(g => $"**{g.Key.Name()}** {g.Count()}")));
            sb.AppendLine();
            sb.AppendLine("| Severity | Location | Finding | Task |");
            sb.AppendLine("|---|---|---|---|");
            foreach (var f in ctx.Findings.Take(TopFindings))
            {
                var where = ctx.RelativePath(f.File) is { } p ? $"`{Cell(p, 120)}{(f.Line is { } l ? ":" + l.ToString(CultureInfo.InvariantCulture) : "")}`" : "—";
                sb.AppendLine(CultureInfo.InvariantCulture, $"| {f.Severity.Name()} | {where} | {Cell(f.Message, 300)} | {Cell(f.TaskName, 80)} |");
            }
            if (ctx.Findings.Count > TopFindings)
                sb.AppendLine().AppendLine(CultureInfo.InvariantCulture, $"…and {ctx.Findings.Count - TopFindings} more (`herd report {run.RunId} --format sarif` has them all).");
            sb.AppendLine();
        }

        WriteChanges(sb, run);

        var failures = ctx.FailedTasks.ToArray();
        if (failures.Length > 0)
        {
            sb.AppendLine(CultureInfo.InvariantCulture, $"### Failed tasks ({failures.Length})");
            sb.AppendLine();
            sb.AppendLine("| Task | Class | Error |");
            sb.AppendLine("|---|---|---|");
            foreach (var t in failures.Take(TopFailures))
                sb.AppendLine(CultureInfo.InvariantCulture, $"| {Cell(t.Name, 80)} | `{t.Class}` | {Cell(t.Error ?? "", 200)} |");
            if (failures.Length > TopFailures)
                sb.AppendLine().AppendLine(CultureInfo.InvariantCulture, $"…and {failures.Length - TopFailures} more.");
            sb.AppendLine();
            sb.AppendLine(CultureInfo.InvariantCulture, $"Rerun them with `herd run --retry-failed --run-dir {run.Directory}`.");
            sb.AppendLine();
        }
        return new ReportOutput(Bounded(sb.ToString()), []);
    }

    /// <summary>Rows of the changes table: a migration of thousands of files is read from the patches, not from here.</summary>
    public const int TopChanges = 50;

    /// <summary>
    /// With <c>--isolate</c>/<c>--verify</c>: per task the files changed, lines +/−, verify runs and fix rounds, and for a
    /// failed verification the last line of its output; then how to land the patches.
    /// </summary>
    private static void WriteChanges(StringBuilder sb, RunData run)
    {
        var tasks = run.Tasks.Where(t => t.Changes is not null || t.Verify is not null).OrderBy(t => t.Seq).ToArray();
        if (tasks.Length == 0)
            return;
        var changed = tasks.Where(t => t.Changes is { Files.Count: > 0 }).ToArray();
        sb.AppendLine(CultureInfo.InvariantCulture,
            $"### Changes ({changed.Length} task(s) changed {changed.Sum(t => t.Changes!.Files.Count)} file(s), +{changed.Sum(t => t.Changes!.LinesAdded)} −{changed.Sum(t => t.Changes!.LinesRemoved)})");
        sb.AppendLine();
        sb.AppendLine("| Task | Class | Files | + | − | Verify | Last verify output |");
        sb.AppendLine("|---|---|---:|---:|---:|---|---|");
        foreach (var t in tasks.OrderBy(t => t.Succeeded).ThenBy(t => t.Seq).Take(TopChanges))
        {
            var c = t.Changes;
            var verify = t.Verify is { } v ? $"{(v.Passed ? "passed" : "failed")}, {v.Runs} run(s), {v.FixRounds} fix round(s)" : "—";
            var tail = t.Verify is { Passed: false } fv ? Cell(fv.OutputTail.Split('\n', StringSplitOptions.RemoveEmptyEntries).LastOrDefault() ?? "", 160) : "";
            sb.AppendLine(CultureInfo.InvariantCulture,
                $"| {Cell(t.Name, 80)} | `{t.Class}` | {c?.Files.Count ?? 0} | {c?.LinesAdded ?? 0} | {c?.LinesRemoved ?? 0} | {verify} | {tail} |");
        }
        if (tasks.Length > TopChanges)
            sb.AppendLine().AppendLine(CultureInfo.InvariantCulture, $"…and {tasks.Length - TopChanges} more.");
        sb.AppendLine();
        if (changed.Any(t => t.Succeeded))
        {
            sb.AppendLine(CultureInfo.InvariantCulture, $"Review what would land with `herd apply {run.Directory} --check`; land it with `herd apply {run.Directory} --branch NAME --commit-per-task`.");
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
