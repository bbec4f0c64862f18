using System.Globalization;
using Herd.Agent;

namespace Herd.Fleet.Reports;

/// <summary>A limit on failed tasks: a count, or a percentage of the planned tasks.</summary>
public readonly record struct FailedLimit(double Value, bool IsPercent)
{
    public override string ToString() => IsPercent ? Value.ToString("0.##", CultureInfo.InvariantCulture) + "%" : Value.ToString("0", CultureInfo.InvariantCulture);
}

/// <summary>
/// Quality-gate thresholds (issue #11 item 4). A null threshold is not checked. Unfinished tasks count as failed: a
/// gate must not pass work that was never done.
/// </summary>
public sealed record GateOptions(FailedLimit? MaxFailed = null, Severity? MaxSeverity = null, int? MaxFindings = null, double? MaxCostUsd = null)
{
    public bool IsEmpty => MaxFailed is null && MaxSeverity is null && MaxFindings is null && MaxCostUsd is null;

    /// <summary>Sets one threshold by its flag name without dashes: max-failed, max-severity, max-findings, max-cost.</summary>
    /// <exception cref="HerdUsageException">An unknown name or a bad value; the message names the flag and a valid example.</exception>
    public GateOptions With(string name, string value)
    {
        var v = value.Trim();
        switch (name)
        {
            case "max-failed":
                var percent = v.EndsWith('%');
                if (!double.TryParse(percent ? v[..^1] : v, NumberStyles.Float, CultureInfo.InvariantCulture, out var n) || n < 0 || (!percent && n != Math.Floor(n)) || (percent && n > 100))
                    throw new HerdUsageException($"Error: --max-failed '{value}' is not a count or a percentage: use e.g. --max-failed 3 or --max-failed 5%");
                return this with { MaxFailed = new FailedLimit(n, percent) };
            case "max-severity":
                if (!SeverityExtensions.TryParse(v, out var s))
                    throw new HerdUsageException($"Error: --max-severity '{value}' is not a level: use info, minor, major, critical or blocker (findings above it fail the gate)");
                return this with { MaxSeverity = s };
            case "max-findings":
                if (!int.TryParse(v, NumberStyles.None, CultureInfo.InvariantCulture, out var f))
                    throw new HerdUsageException($"Error: --max-findings '{value}' is not a whole number ≥ 0: use e.g. --max-findings 10");
                return this with { MaxFindings = f };
            case "max-cost":
                if (!double.TryParse(v.TrimStart('$'), NumberStyles.Float, CultureInfo.InvariantCulture, out var c) || c < 0 || double.IsNaN(c) || double.IsInfinity(c))
                    throw new HerdUsageException($"Error: --max-cost '{value}' is not an amount in US dollars: use e.g. --max-cost 2.50");
                return this with { MaxCostUsd = c };
            default:
                throw new HerdUsageException($"Error: --gate: unknown condition '{name}': use max-failed, max-severity, max-findings or max-cost");
        }
    }

    /// <summary>Parses the one-value form for <c>herd run --gate</c>: <c>max-failed=5%,max-severity=major,max-findings=10,max-cost=2.5</c>.</summary>
    /// <exception cref="HerdUsageException">The message names the bad part.</exception>
    public static GateOptions ParseSpec(string spec)
    {
        var options = new GateOptions();
        foreach (var part in spec.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var eq = part.IndexOf('=', StringComparison.Ordinal);
            if (eq <= 0)
                throw new HerdUsageException($"Error: --gate: '{part}' is not condition=value: use e.g. --gate max-failed=5%,max-severity=major,max-cost=2.50");
            options = options.With(part[..eq].Trim().TrimStart('-'), part[(eq + 1)..]);
        }
        return options.IsEmpty ? throw new HerdUsageException("Error: --gate needs at least one condition, e.g. --gate max-failed=0") : options;
    }
}

/// <summary>The verdict: passed, or one line per condition that failed.</summary>
public sealed record GateResult(IReadOnlyList<string> Failures)
{
    public bool Passed => Failures.Count == 0;

    /// <value>0 when every condition holds, else 1 (issue #11).</value>
    public int ExitCode => Passed ? 0 : 1;
}

/// <summary>
/// Evaluates quality gates against a finished run (issue #11 item 4). The same function serves <c>herd gate RUN</c> and
/// <c>herd run … --gate …</c>, so a gate never judges differently depending on where it ran.
/// </summary>
public static class Gate
{
    /// <summary>Reads the run directory (read-only) and evaluates the gate.</summary>
    /// <exception cref="RunDirectoryException">The run directory is missing or damaged.</exception>
    public static GateResult Evaluate(string runDirectory, GateOptions gate, FindingsOptions? findings = null) =>
        Evaluate(RunDigest.Build(RunReader.Open(runDirectory), ReportOptions.Default with { Findings = findings ?? FindingsOptions.Default }), gate);

    /// <summary>The verdict on a run summed up in one pass (<see cref="RunDigest"/>), for runs of any size.</summary>
    public static GateResult Evaluate(RunDigest run, GateOptions gate)
    {
        var failures = new List<string>();
        if (gate.MaxFailed is { } limit)
            FailedCheck(failures, limit, run.Failed, run.Unfinished, run.Planned);
        if (gate.MaxSeverity is { } max)
        {
            var above = Enum.GetValues<Severity>().Where(s => s > max).Sum(run.FindingsAt);
            if (above > 0)
            {
                var worst = Enum.GetValues<Severity>().Last(s => run.FindingsAt(s) > 0);
                failures.Add($"gate failed: {above} finding(s) above --max-severity {max.Name()} (worst: {worst.Name()}, e.g. {Where(run.FirstFinding(worst)!)})");
            }
        }
        if (gate.MaxFindings is { } maxFindings && run.FindingsCount > maxFindings)
            failures.Add($"gate failed: {run.FindingsCount} findings > --max-findings {maxFindings}");
        CostCheck(failures, gate, run.CostUsd);
        return new GateResult(failures);
    }

    private static void FailedCheck(List<string> failures, FailedLimit limit, int failed, int unfinished, int planned)
    {
        var bad = failed + unfinished;
        var allowed = limit.IsPercent ? limit.Value / 100.0 * planned : limit.Value;
        if (bad > allowed + 1e-9)
        {
            var share = planned == 0 ? 0 : 100.0 * bad / planned;
            var detail = unfinished > 0 ? $" ({failed} failed, {unfinished} unfinished)" : "";
            failures.Add($"gate failed: {bad} of {planned} tasks failed{detail}, {share.ToString("0.#", CultureInfo.InvariantCulture)}% > --max-failed {limit}");
        }
    }

    private static void CostCheck(List<string> failures, GateOptions gate, double cost)
    {
        if (gate.MaxCostUsd is { } maxCost && cost > maxCost + 1e-12)
            failures.Add($"gate failed: cost ${cost.ToString("0.####", CultureInfo.InvariantCulture)} > --max-cost ${maxCost.ToString("0.####", CultureInfo.InvariantCulture)}");
    }

    private static string Where(Finding f) => (f.File ?? f.TaskName) + (f.Line is { } l ? ":" + l.ToString(CultureInfo.InvariantCulture) : "");
}
