using System.Text.Json.Nodes;
using Herd.Agent.Models;
using Herd.Agent.Permissions;
using Herd.Agent.Tools;

namespace Herd.Agent.Loop;

/// <summary>How <c>--max-budget-usd</c> is enforced (spec headless-compat §8.3).</summary>
public enum BudgetMode
{
    /// <summary>Claude Code's rule: stop before a call once spend has reached the cap; the crossing call completes.</summary>
    Compatible,

    /// <summary>Reserve each call's worst case first; lower max_tokens to fit or stop. The cap is never crossed.</summary>
    Strict,
}

/// <summary>Everything that shapes one agent session. Immutable; use <c>with</c> for variants.</summary>
public sealed record AgentOptions
{
    /// <value>A resolved model id (aliases already mapped through <see cref="ModelCatalog"/>).</value>
    public required string Model { get; init; }

    /// <value>Models tried in order when the main model is overloaded or unavailable.</value>
    public IReadOnlyList<string> FallbackModels { get; init; } = [];

    public required ModelCatalog Catalog { get; init; }

    public required string SystemPrompt { get; init; }

    /// <value>
    /// The memory files (CLAUDE.md…) as one text block, sent before the prompt of a new conversation; null = none
    /// (<c>--bare</c>). See <see cref="MemoryFiles"/>.
    /// </value>
    public string? MemoryText { get; init; }

    public required IReadOnlyList<ITool> Tools { get; init; }

    public required PermissionEngine Permissions { get; init; }

    public required ToolContext ToolContext { get; init; }

    /// <value>Tool-use round trips allowed; null = unlimited.</value>
    public int? MaxTurns { get; init; }

    public double? MaxBudgetUsd { get; init; }

    public BudgetMode BudgetMode { get; init; } = BudgetMode.Compatible;

    /// <value>max_tokens of each call; null = the model's maximum from the price table.</value>
    public int? MaxTokens { get; init; }

    /// <value>The JSON Schema of <c>--json-schema</c>; null when no structured output is wanted.</value>
    public JsonObject? OutputSchema { get; init; }

    /// <value>Validates a StructuredOutput input; returns the errors, empty when valid.</value>
    public Func<JsonNode?, IReadOnlyList<string>>? OutputValidator { get; init; }

    /// <value>Invalid StructuredOutput calls tolerated before the run fails. Default 5 (MAX_STRUCTURED_OUTPUT_RETRIES).</value>
    public int MaxStructuredOutputRetries { get; init; } = 5;

    /// <value>Wall-clock limit of one query (Herd's <c>--timeout</c>); null = none.</value>
    public TimeSpan? Timeout { get; init; }

    /// <value>What <c>system/init</c> reports as the permission mode.</value>
    public string PermissionModeName { get; init; } = "default";

    /// <value>Where the API key came from, for <c>system/init</c>: <c>ANTHROPIC_API_KEY</c> or <c>none</c>.</value>
    public string ApiKeySource { get; init; } = "ANTHROPIC_API_KEY";

    /// <value>
    /// Ceilings shared with other sessions (the fan-out's run-wide budget). Every call reserves its worst case on
    /// each of them before it starts, whatever <see cref="BudgetMode"/> is.
    /// </value>
    public IReadOnlyList<SpendLedger> SharedLedgers { get; init; } = [];

    /// <value>
    /// Token ceilings shared with other sessions (<c>herd run --budget-tokens</c>): ledgers counted in tokens, not
    /// dollars. Every call reserves its worst case — an upper bound of its input plus max_tokens — before it starts and
    /// settles to the tokens the API reports, so the ceiling holds whatever the prices (unknown prices included).
    /// </value>
    public IReadOnlyList<SpendLedger> TokenLedgers { get; init; } = [];

    /// <value>
    /// The fraction of the standard price each call is billed at: 0.5 when the calls go through Message Batches
    /// (<c>herd run --batch</c>). Budget reservations use it too, so a batch run's ceiling holds at the batch rate.
    /// Default 1.
    /// </value>
    public double PriceFactor { get; init; } = 1.0;

    /// <value>Herd's <c>--fail-on-denial</c>: a run with any permission denial ends with is_error true.</value>
    public bool FailOnDenial { get; init; }

    public TimeProvider TimeProvider { get; init; } = TimeProvider.System;

    /// <value>The hooks of every settings layer (docs/hooks.md); none by default.</value>
    public Hooks.HookSet Hooks { get; init; } = Herd.Agent.Hooks.HookSet.Empty;

    /// <value><c>--include-hook-events</c>: stream-json prints every hook's start and end, not only SessionStart's.</value>
    public bool IncludeHookEvents { get; init; }

    /// <value>The session transcript's path, for hooks' <c>transcript_path</c>; empty when none is kept.</value>
    public string TranscriptPath { get; init; } = "";

    /// <value>The settings files' <c>env</c>, merged: given to hook commands and MCP servers.</value>
    public IReadOnlyDictionary<string, string> HookEnvironment { get; init; } = new Dictionary<string, string>();

    /// <value>The MCP servers of the run and their status, for <c>system/init</c>; their tools are in <see cref="Tools"/>.</value>
    public IReadOnlyList<Mcp.McpServerStatus> McpServers { get; init; } = [];
}
