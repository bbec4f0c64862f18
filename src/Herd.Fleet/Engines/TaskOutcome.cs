using System.Text.Json.Nodes;
using Herd.Agent.Models;

namespace Herd.Fleet.Engines;

/// <summary>
/// What one attempt produced, as a value (style: outcomes inside the pool are values, never exceptions). The classifier
/// has already decided <see cref="Class"/>; the rest feeds the per-task record (spec §8).
/// </summary>
public sealed record TaskOutcome
{
    public required OutcomeClass Class { get; init; }
    public required DateTimeOffset Start { get; init; }
    public required DateTimeOffset End { get; init; }
    public required string SessionId { get; init; }
    public string? Model { get; init; }
    public string? Subtype { get; init; }
    public bool IsError { get; init; }
    public string? TerminalReason { get; init; }
    public int? ApiErrorStatus { get; init; }
    public bool Degraded { get; init; }

    /// <value>The classified message for failures; null on success.</value>
    public string? Error { get; init; }

    /// <value>Final text (<c>Stdout</c> of the record).</value>
    public string ResultText { get; init; } = "";

    public JsonNode? StructuredOutput { get; init; }
    public int NumTurns { get; init; }
    public JsonArray? PermissionDenials { get; init; }
    public Usage Usage { get; init; } = Usage.Zero;
    public double CostUsd { get; init; }

    /// <value>The server's retry-after on the failing call, if any (spec §5 precedence).</value>
    public TimeSpan? RetryAfter { get; init; }

    /// <summary>GNU parallel's Exitval: what <c>herd -p</c> would have exited with (0 or 1), −1 when killed.</summary>
    public int Exitval => Class switch
    {
        OutcomeClass.Success or OutcomeClass.SuccessDegraded => 0,
        OutcomeClass.Timeout or OutcomeClass.Hang or OutcomeClass.Cancelled or OutcomeClass.Interrupted => -1,
        _ => 1,
    };
}
