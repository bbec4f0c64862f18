using Herd.Agent.Models;

namespace Herd.Fleet.Engines;

/// <summary>What runs each task of <c>herd run</c> (<c>--engine</c>, issue #13).</summary>
public enum EngineKind
{
    /// <summary>The in-process agent (default).</summary>
    Herd,

    /// <summary>Claude Code: <c>claude -p --output-format stream-json</c>.</summary>
    Claude,

    /// <summary>OpenAI Codex: <c>codex exec --json</c>.</summary>
    Codex,

    /// <summary>Gemini CLI: <c>gemini -p --output-format stream-json</c>.</summary>
    Gemini,

    /// <summary>Any command line (<c>--cmd TEMPLATE</c>).</summary>
    Cmd,
}

public static class EngineKinds
{
    public static string Name(this EngineKind kind) => kind switch
    {
        EngineKind.Herd => "herd",
        EngineKind.Claude => "claude",
        EngineKind.Codex => "codex",
        EngineKind.Gemini => "gemini",
        EngineKind.Cmd => "cmd",
        _ => kind.ToString().ToLowerInvariant(),
    };

    public static EngineKind? Parse(string? name)
    {
        foreach (var kind in Enum.GetValues<EngineKind>())
        {
            if (string.Equals(kind.Name(), name, StringComparison.Ordinal))
                return kind;
        }
        return null;
    }
}

/// <summary>
/// The agent flags of a run, as an external CLI needs them translated (docs/engines.md). Null means "not given": the
/// CLI's own default (and the user's settings) apply.
/// </summary>
public sealed record AgentFlags
{
    public string? Model { get; init; }
    public IReadOnlyList<string> AllowedTools { get; init; } = [];
    public IReadOnlyList<string> DisallowedTools { get; init; } = [];
    public int? MaxTurns { get; init; }

    /// <value>The per-task cap in US dollars (<c>--max-budget-usd</c> / <c>--task-budget-usd</c>).</value>
    public double? MaxBudgetUsd { get; init; }

    /// <value>The JSON Schema text of <c>--json-schema</c>.</value>
    public string? JsonSchema { get; init; }

    public string? SystemPrompt { get; init; }
    public string? AppendSystemPrompt { get; init; }
    public string? PermissionMode { get; init; }

    /// <value>Accept successful runs that had permission denials (<c>--on-denial success</c>).</value>
    public bool DenialIsSuccess { get; init; }
}

/// <summary>
/// Everything <see cref="TaskEngines.Create"/> needs to build an engine: typed, so the CLI binds flags once and tests
/// build engines without argv.
/// </summary>
/// <param name="Kind">Which engine.</param>
/// <param name="WorkingDirectory">Where each task's process runs.</param>
/// <param name="StateDirectory">Where per-process config directories and attempt logs go (the run directory's <c>engine/</c>).</param>
public sealed record EngineSpec(EngineKind Kind, string WorkingDirectory, string StateDirectory)
{
    /// <value>The command template of <c>--engine cmd</c>.</value>
    public string? CommandTemplate { get; init; }

    /// <value><c>--result-json</c>: the cmd engine's result is a JSON object on stdout (its last JSON line).</value>
    public bool ResultJson { get; init; }

    /// <value>The CLI to run instead of the one found on PATH (or under <c>HERD_CLIS</c>).</value>
    public string? BinaryPath { get; init; }

    /// <value>
    /// The environment the engine processes start from (null = this process's). Only an allow-list of it reaches the
    /// process (<see cref="EngineEnvironment"/>), so tests and callers say exactly what an engine sees.
    /// </value>
    public IReadOnlyDictionary<string, string>? Environment { get; init; }

    /// <value>Variables set for every engine process on top of the allow-list (<c>--engine-env K=V</c>).</value>
    public IReadOnlyDictionary<string, string> ExtraEnvironment { get; init; } = new Dictionary<string, string>();

    public AgentFlags Flags { get; init; } = new();

    /// <value>Prices tokens where the CLI reports no cost (codex, gemini) and for live per-call cost.</value>
    public ModelCatalog Catalog { get; init; } = ModelCatalog.BuiltIn;

    /// <value>
    /// After a graceful stop signal (SIGTERM to the process tree), how long before SIGKILL. Default 10 s (spec §14.1
    /// "10 s grace then kill").
    /// </value>
    public TimeSpan StopGrace { get; init; } = TimeSpan.FromSeconds(10);

    /// <value>
    /// What each attempt without a per-task cap reserves on the run-wide ledger before it starts, and again whenever
    /// its priced tokens use the reservation up: the most one model call may cost between two looks. Default $0.50.
    /// </value>
    public double CallReserveUsd { get; init; } = 0.50;

    /// <value>Continue a task's earlier session (claude --resume, codex exec resume) when it was interrupted.</value>
    public bool ResumeSessions { get; init; } = true;
}
