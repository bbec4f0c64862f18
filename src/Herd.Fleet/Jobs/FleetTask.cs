using System.Text.Json.Nodes;

namespace Herd.Fleet.Jobs;

/// <summary>Per-task limits from a tasks file's <c>caps</c> object; null fields fall back to the run's flags.</summary>
/// <param name="Engine">The engine this task runs on (its <c>"engine"</c> in <c>--tasks</c>), or null for the run's <c>--engine</c>.</param>
public sealed record TaskCaps(int? MaxTurns = null, double? MaxBudgetUsd = null, TimeSpan? Timeout = null, TimeSpan? IdleTimeout = null, Engines.EngineKind? Engine = null)
{
    public static TaskCaps None { get; } = new();
}

/// <summary>One input line or NDJSON task before the template is applied.</summary>
/// <param name="Values">GNU parallel's <c>V</c>: the input values in order.</param>
/// <param name="Named">Named inputs (<c>{name}</c>); for plain inputs empty.</param>
/// <param name="PromptTemplate">The task's own prompt (tasks file), or null for the run's template.</param>
public sealed record TaskInput(string? Name, IReadOnlyList<string> Values, IReadOnlyDictionary<string, string> Named, string? PromptTemplate, TaskCaps Caps);

/// <summary>A planned task: inputs, rendered prompt and identity (spec §3). Immutable.</summary>
/// <param name="Seq">Position in this plan, 1-based; informational only.</param>
/// <param name="Key">SHA-256 hex of the canonical task JSON (<see cref="TaskKey"/>).</param>
/// <param name="Prompt">Rendered prompt; a <c>{%}</c> slot string is left in and rendered at start.</param>
public sealed record FleetTask(int Seq, string Key, string Name, string Prompt, IReadOnlyList<string> Values, IReadOnlyDictionary<string, string> Named, TaskCaps Caps)
{
    public JsonObject InputsJson()
    {
        var o = new JsonObject();
        foreach (var (k, v) in Named)
            o[k] = v;
        return o;
    }
}
