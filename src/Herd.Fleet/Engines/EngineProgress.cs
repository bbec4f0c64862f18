using System.Text.Json.Nodes;
using Herd.Agent.Models;

namespace Herd.Fleet.Engines;

/// <summary>Why Herd ended an external engine's process itself (the guardrails of issue #13 §2).</summary>
public enum EngineStop
{
    None,
    Timeout,
    Idle,
    Cancelled,
    TaskBudget,
    RunBudget,
    TurnCap,
}

/// <summary>
/// What an engine's stream said so far: the evidence the outcome is built from. Filled by one stream reader (and, for
/// codex, its rollout tail), read once at the end. Every engine maps its own events onto these same fields, so a record
/// has the same shape whatever ran the task.
/// </summary>
public sealed class EngineProgress
{
    private readonly Lock _gate = new();

    public string? SessionId { get; set; }
    public string? Model { get; set; }
    public int Turns { get; set; }
    public Usage Usage { get; set; } = Usage.Zero;

    /// <value>The CLI's own total (claude's <c>total_cost_usd</c>); null when it reports none.</value>
    public double? ReportedCostUsd { get; set; }

    /// <value>The tokens seen so far priced with Herd's table: the live figure the caps are held against.</value>
    public double PricedCostUsd { get; set; }

    /// <value>The engine's terminal event arrived (claude <c>result</c>, codex <c>turn.completed</c>/<c>turn.failed</c>, gemini <c>result</c>).</value>
    public bool SawResult { get; set; }

    /// <value>The engine said the task failed (is_error, turn.failed, a result with an error status).</value>
    public bool IsError { get; set; }

    public string? Subtype { get; set; }
    public string? TerminalReason { get; set; }
    public int? ApiErrorStatus { get; set; }
    public TimeSpan? RetryAfter { get; set; }
    public string ResultText { get; set; } = "";
    public JsonNode? StructuredOutput { get; set; }
    public JsonArray PermissionDenials { get; } = [];

    /// <value>Error texts from the stream, in order (classified by pattern with stderr).</value>
    public List<string> Errors { get; } = [];

    /// <value>The engine-specific class its exit code or result names outright (gemini 41 auth, 53 turn limit, …).</value>
    public OutcomeClass? ExplicitClass { get; set; }

    /// <summary>Runs <paramref name="action"/> under the progress lock (the stream reader and a rollout tail both write).</summary>
    public void Update(Action<EngineProgress> action)
    {
        lock (_gate)
            action(this);
    }

    public T Read<T>(Func<EngineProgress, T> read)
    {
        lock (_gate)
            return read(this);
    }

    /// <value>The cost the record reports: the CLI's own figure where it gives one, else the priced tokens.</value>
    public double CostUsd => ReportedCostUsd ?? PricedCostUsd;

    /// <value>True when the dollar figure is Herd's pricing of tokens rather than the CLI's billed figure.</value>
    public bool CostNotional => ReportedCostUsd is null && PricedCostUsd > 0;
}
