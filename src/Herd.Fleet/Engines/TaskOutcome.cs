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

    /// <value>True when <see cref="CostUsd"/> is Herd's pricing of tokens, not a figure the engine reported (issue #13).</value>
    public bool CostNotional { get; init; }

    /// <value>An external engine's real exit code (−1 when Herd stopped it); null for the in-process engine.</value>
    public int? ExitCode { get; init; }

    /// <value>The engine command line for the record's <c>Command</c> (external engines); null = <c>herd -p 'prompt'</c>.</value>
    public string? Command { get; init; }

    /// <value>The last 8 KB of an external engine's stderr, secrets scrubbed; null for the in-process engine.</value>
    public string? Stderr { get; init; }

    /// <value>What the task changed in its own tree (<c>--isolate</c>); null when the run does not isolate tasks.</value>
    public Isolation.TreeChanges? Changes { get; init; }

    /// <value>How <c>--verify</c> went (runs, fix rounds, time, last output); null without <c>--verify</c>.</value>
    public Isolation.VerifyReport? Verify { get; init; }

    /// <summary>GNU parallel's Exitval: the engine's exit code, or what <c>herd -p</c> would have exited with (0 or 1), −1 when killed.</summary>
    public int Exitval => ExitCode ?? Class switch
    {
        OutcomeClass.Success or OutcomeClass.SuccessDegraded => 0,
        OutcomeClass.Timeout or OutcomeClass.Hang or OutcomeClass.Cancelled or OutcomeClass.Interrupted => -1,
        _ => 1,
    };
}
