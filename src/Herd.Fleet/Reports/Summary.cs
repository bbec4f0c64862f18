using System.Text;
using System.Text.Json;
using Herd.Fleet.Engines;
using Herd.Fleet.Store;

namespace Herd.Fleet.Reports;

/// <summary>
/// Which plan a run belongs to (issue #11): the plan hash over the full task list and shared options, the shard this
/// run is (null when not sharded) and, for a merge, the shards it holds and what is missing.
/// </summary>
public sealed record PlanSummary(string PlanHash, string? Shard, int PlanTasks)
{
    public IReadOnlyList<string>? MergedShards { get; init; }
    public IReadOnlyList<string>? MissingShards { get; init; }
    public int? MissingTasks { get; init; }
}

/// <summary>summary.json (spec §7.1): counts by class, spend, tokens, durations, exit code — rewritten at the end of each session.</summary>
public static class Summary
{
    /// <param name="telemetry">What OpenTelemetry export dropped; the <c>telemetry</c> object appears only when export was on.</param>
    public static string Build(RunInfo run, RunTotals totals, RunStatus status, int exitCode, TimeSpan wall, double? ceilingUsd, double? projectedUsd,
        PlanSummary? plan = null, Herd.Agent.Telemetry.TelemetryDrops? telemetry = null)
    {
        using var buffer = new MemoryStream();
        using (var w = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = true }))
        {
            w.WriteStartObject();
            w.WriteString("run_id", run.RunId);
            w.WriteString("status", status.Name());
            w.WriteNumber("exit_code", exitCode);
            w.WriteString("engine", run.Engine);
            w.WriteString("engine_version", run.EngineVersion);
            if (plan is not null)
                WritePlan(w, plan);
            w.WriteNumber("tasks", totals.Tasks);
            w.WriteNumber("finished", totals.Tasks - totals.Unfinished);
            w.WriteNumber("unfinished", totals.Unfinished);
            w.WriteNumber("attempts", totals.Attempts);
            w.WriteStartObject("by_class");
            foreach (var (k, v) in totals.ByClass)
                w.WriteNumber(k.Name(), v);
            w.WriteEndObject();
            w.WriteNumber("succeeded", Succeeded(totals));
            w.WriteNumber("failed", Failed(totals));
            w.WriteNumber("cost_usd", Math.Round(totals.SpentUsd, 9));
            if (ceilingUsd is { } c)
                w.WriteNumber("budget_usd", c);
            if (projectedUsd is { } p)
                w.WriteNumber("projected_usd", Math.Round(p, 6));
            var t = totals.Tokens;
            TaskRecord.WriteTokens(w, t);
            var denominator = t.InputTokens + t.CacheReadInputTokens + t.CacheCreation5mTokens + t.CacheCreation1hTokens;
            if (denominator > 0)
                w.WriteNumber("cache_hit_ratio", Math.Round((double)t.CacheReadInputTokens / denominator, 4));
            w.WriteStartObject("durations_s");
            w.WriteNumber("wall", Math.Round(wall.TotalSeconds, 3));
            w.WriteNumber("task_p50", Math.Round(totals.RuntimesS.Percentile(0.5), 3));
            w.WriteNumber("task_p90", Math.Round(totals.RuntimesS.Percentile(0.9), 3));
            w.WriteNumber("task_max", Math.Round(totals.RuntimesS.Max, 3));
            w.WriteEndObject();
            if (telemetry is not null)
            {
                w.WriteStartObject("telemetry");
                w.WriteNumber("spans_dropped", telemetry.Spans);
                w.WriteNumber("metric_exports_failed", telemetry.MetricExports);
                w.WriteEndObject();
            }
            w.WriteEndObject();
        }
        return Encoding.UTF8.GetString(buffer.ToArray());
    }

    private static void WritePlan(Utf8JsonWriter w, PlanSummary plan)
    {
        if (plan.Shard is null)
            w.WriteNull("shard");
        else
            w.WriteString("shard", plan.Shard);
        w.WriteString("plan_hash", plan.PlanHash);
        w.WriteNumber("plan_tasks", plan.PlanTasks);
        if (plan.MergedShards is { } merged)
        {
            w.WriteStartArray("shards");
            foreach (var s in merged)
                w.WriteStringValue(s);
            w.WriteEndArray();
        }
        if (plan.MissingShards is { } missing)
        {
            w.WriteStartArray("missing_shards");
            foreach (var s in missing)
                w.WriteStringValue(s);
            w.WriteEndArray();
        }
        if (plan.MissingTasks is { } n)
            w.WriteNumber("missing_tasks", n);
    }

    public static int Succeeded(RunTotals t) => t.ByClass.Where(kv => kv.Key.IsSuccess()).Sum(kv => kv.Value);

    public static int Failed(RunTotals t) => t.ByClass.Where(kv => !kv.Key.IsSuccess()).Sum(kv => kv.Value);

    public static double Percentile(IReadOnlyList<double> values, double p)
    {
        if (values.Count == 0)
            return 0;
        var sorted = values.OrderBy(v => v).ToArray();
        var index = (int)Math.Ceiling(p * sorted.Length) - 1;
        return sorted[Math.Clamp(index, 0, sorted.Length - 1)];
    }
}
