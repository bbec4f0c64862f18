using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using Herd.Agent;
using Herd.Agent.Loop;
using Herd.Fleet.Engines;
using Herd.Fleet.Scheduling;

namespace Herd.Fleet.Runs;

/// <summary>
/// A run as it was created, typed and versioned (issue #18): the agent every task runs, the engine that runs it, how
/// attempts are scheduled and capped, and what the run writes at its end. Written once with the run (SQLite's run.db,
/// PostgreSQL's herd_runs.definition) and read back by <c>--resume</c> and by every <c>herd worker</c>, so a task is
/// run the same way whichever process on whichever host runs it. The run's argv is kept beside it for display only.
/// </summary>
/// <remarks>
/// Adding a field: one property with a default that means "as before", nothing else — a definition written without it
/// reads back with the default, and an older Herd reading a newer definition ignores what it does not know. Bump
/// <see cref="CurrentVersion"/> only when an older Herd must not work a run (a field it would silently ignore changes
/// what a task does); it then refuses with one line instead.
/// </remarks>
public sealed record RunDefinition
{
    /// <summary>The version this Herd writes and the newest it works.</summary>
    public const int CurrentVersion = 1;

    public int Version { get; init; } = CurrentVersion;

    /// <value>The agent of every task (the in-process engine's options; external engines get their flags from <see cref="Engine"/>).</value>
    public required AgentProfile Agent { get; init; }

    public EngineDefinition Engine { get; init; } = new(EngineKind.Herd);

    /// <value><c>--audit-log FILE</c> (absolute): every task's tool decisions appended to one file; null = none.</value>
    public string? AuditLogPath { get; init; }

    /// <value><c>--denial-is-success</c>: a task whose tool calls were denied still counts as a success.</value>
    public bool DenialIsSuccess { get; init; }

    /// <value>Per-task cap across the task's retries (<c>--task-budget-usd</c>, else <c>--max-budget-usd</c>).</value>
    public double? TaskBudgetUsd { get; init; }

    /// <value>Retries, halting, start spacing and per-attempt timeouts.</value>
    public Schedule Schedule { get; init; } = new();

    public JobsSpec Jobs { get; init; } = JobsSpec.Default;

    /// <value>The run-wide ceiling in US dollars; null = none.</value>
    public double? BudgetUsd { get; init; }

    /// <value><c>--budget-tokens</c>: the run-wide ceiling in tokens; null = none.</value>
    public long? BudgetTokens { get; init; }

    /// <value><c>--gate</c> thresholds; null = none.</value>
    public Reports.GateOptions? Gate { get; init; }

    /// <value><c>--isolate</c>, <c>--verify</c> and the pinned starting commit (issue #20); none by default.</value>
    public Isolation.IsolationSpec Isolation { get; init; } = Herd.Fleet.Isolation.IsolationSpec.None;

    /// <value><c>--shard k/n</c> as written; null = the whole plan.</value>
    public string? Shard { get; init; }

    /// <value>
    /// <c>--batch</c>: every model call of every task goes through Message Batch rounds at half the price (docs/batch.md);
    /// null = live calls. Stored, so every host that works the run (resume, workers) batches it too.
    /// </value>
    public BatchDefinition? Batch { get; init; }

    /// <summary>The caps each record reports for a task without caps of its own.</summary>
    [JsonIgnore]
    public Reports.CapsInForce Caps => new(Agent.MaxTurns, TaskBudgetUsd, Schedule.Timeout, Schedule.IdleTimeout);

    public string ToJson() => JsonSerializer.Serialize(this, RunDefinitionJson.Default.RunDefinition);

    /// <summary>
    /// Every field at its default, as JSON. A stored definition is read over it, so a field it lacks (written before the
    /// field existed) takes its default at any depth: the generated deserializer would leave an init-only property it
    /// does not find at default(T) — null, 0 — and ignore its initializer.
    /// </summary>
    private static readonly Lazy<JsonObject> Defaults = new(() =>
        JsonNode.Parse(new RunDefinition { Agent = new AgentProfile { Cwd = "", SystemPrompt = "" } }.ToJson())!.AsObject());

    /// <summary>A copy of <paramref name="defaults"/> with <paramref name="stored"/>'s fields in place (objects merged field by field).</summary>
    private static JsonObject Over(JsonObject defaults, JsonObject stored)
    {
        var merged = defaults.DeepClone().AsObject();
        foreach (var (name, value) in stored)
        {
            merged[name] = merged[name] is JsonObject inner && value is JsonObject storedInner
                ? Over(inner, storedInner)
                : value?.DeepClone();
        }
        return merged;
    }

    /// <summary>Reads a stored definition.</summary>
    /// <param name="where">The store and run, for the message.</param>
    /// <exception cref="HerdFatalException">The text is not a definition, or a newer Herd wrote it.</exception>
    public static RunDefinition Parse(string json, string where)
    {
        RunDefinition? definition;
        try
        {
            definition = JsonNode.Parse(json) is JsonObject stored
                ? Over(Defaults.Value, stored).Deserialize(RunDefinitionJson.Default.RunDefinition)
                : JsonSerializer.Deserialize(json, RunDefinitionJson.Default.RunDefinition);
        }
        catch (JsonException ex)
        {
            throw new HerdFatalException($"Error: the run definition stored in {where} is damaged ({ex.Message}); the run cannot be worked as it was created.", ex);
        }
        if (definition is null)
            throw new HerdFatalException($"Error: the run definition stored in {where} is empty; the run cannot be worked as it was created.");
        if (definition.Version > CurrentVersion)
            throw new HerdFatalException($"Error: {where} was created by a newer Herd (run definition version {definition.Version}; this Herd works up to {CurrentVersion}). Upgrade herd on this host.");
        return definition;
    }

    /// <summary>
    /// The stored definition for readers that only describe a run (reports, <c>herd gate</c>): null when the run has
    /// none (an older Herd created it) or this Herd cannot read it, since a report is still worth writing without it.
    /// </summary>
    public static RunDefinition? ReadOrNull(string? json)
    {
        if (json is null)
            return null;
        try
        {
            return Parse(json, "the run");
        }
        catch (HerdException)
        {
            return null;
        }
    }
}

/// <summary>The engine part of a <see cref="RunDefinition"/>: <c>--engine</c>, <c>--cmd</c>, <c>--result-json</c>, <c>--engine-bin</c>, <c>--engine-env</c>.</summary>
public sealed record EngineDefinition(EngineKind Kind)
{
    public string? CommandTemplate { get; init; }

    public bool ResultJson { get; init; }

    /// <value>The engine CLI's path as given (absolute); null = found on PATH or under HERD_CLIS on the host that runs the task.</value>
    public string? BinaryPath { get; init; }

    public IReadOnlyDictionary<string, string> ExtraEnvironment { get; init; } = new Dictionary<string, string>();

    /// <value>The agent flags as an external CLI receives them.</value>
    public AgentFlags Flags { get; init; } = new();
}

/// <summary>The batch part of a <see cref="RunDefinition"/>: <c>--batch</c> and <c>--on-interrupt</c>.</summary>
public sealed record BatchDefinition
{
    /// <value>What Ctrl-C or SIGTERM does to a batch in flight. Default: leave it for <c>--resume</c> to collect.</value>
    public Batches.InterruptPolicy OnInterrupt { get; init; } = Batches.InterruptPolicy.Leave;
}

[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    UseStringEnumConverter = true)]
[JsonSerializable(typeof(RunDefinition))]
internal sealed partial class RunDefinitionJson : JsonSerializerContext;
