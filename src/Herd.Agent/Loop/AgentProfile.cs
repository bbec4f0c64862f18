using System.Text.Json.Serialization;
using Herd.Agent.Hooks;
using Herd.Agent.Mcp;
using Herd.Agent.Models;
using Herd.Agent.Permissions;
using Herd.Agent.Sandbox;
using Herd.Agent.Tools;

namespace Herd.Agent.Loop;

/// <summary>
/// What the agent of every session of a run is, as plain data: the agent flags of <c>herd -p</c> / <c>herd run</c>
/// once checked and resolved (the system prompt as text, the permission rules of flags and settings files, the sandbox
/// decision). It is stored with a run (issue #18), so any process on any host builds the same agent from it without
/// re-reading flags or settings files; <see cref="ToAgentOptions"/> is the one step from it to a session's options.
/// </summary>
public sealed record AgentProfile
{
    /// <value>The working directory sessions start in (absolute).</value>
    public required string Cwd { get; init; }

    /// <value><c>--model</c> (or <c>ANTHROPIC_MODEL</c>) as given, an alias or an id; null = the catalog's default.</value>
    public string? Model { get; init; }

    /// <value><c>--fallback-model</c>, resolved to ids.</value>
    public IReadOnlyList<string> FallbackModels { get; init; } = [];

    /// <value>The whole system prompt, appended parts included.</value>
    public required string SystemPrompt { get; init; }

    /// <value>Whether CLAUDE.md memory files are read (false with <c>--bare</c>).</value>
    public bool ReadMemoryFiles { get; init; } = true;

    /// <value>The built-in tools offered (<c>--tools</c>), by name, in registry order.</value>
    public IReadOnlyList<string> Tools { get; init; } = [];

    /// <value>Permission mode and rules: flags and settings files merged.</value>
    public PermissionPolicy Policy { get; init; } = PermissionPolicy.Default;

    /// <value><c>--add-dir</c>, absolute.</value>
    public IReadOnlyList<string> AdditionalDirectories { get; init; } = [];

    /// <value><c>--json-schema</c>, as JSON text; null = free text.</value>
    public string? JsonSchema { get; init; }

    public int? MaxTurns { get; init; }

    public int? MaxTokens { get; init; }

    /// <value>The per-session budget (<c>--max-budget-usd</c>; a run's per-task budget overrides it).</value>
    public double? MaxBudgetUsd { get; init; }

    public BudgetMode BudgetMode { get; init; } = BudgetMode.Compatible;

    /// <value>The session's own wall-clock limit (<c>herd -p --timeout</c>); null = none.</value>
    public TimeSpan? Timeout { get; init; }

    public bool FailOnDenial { get; init; }

    /// <value>How Bash is confined; null = unconfined. Decided once, where the run was created (issue #9, #18).</value>
    public SandboxOptions? Sandbox { get; init; }

    /// <value><c>--prices</c> (or <c>HERD_PRICES</c>): a price table merged over the built-in one; null = built-in.</value>
    public string? PricesPath { get; init; }

    /// <value><c>--provider</c> (or <c>HERD_PROVIDER</c>): which wire protocol the model server speaks.</value>
    public ModelProvider Provider { get; init; } = ModelProvider.Anthropic;

    /// <value>
    /// The hooks of every settings layer, merged where the run was created (docs/hooks.md): stored with a run, so every
    /// host runs the same policy scripts. Commands are kept as written; each runs on the host that runs the task.
    /// </value>
    public HookSet Hooks { get; init; } = HookSet.Empty;

    /// <value><c>--include-hook-events</c>.</value>
    public bool IncludeHookEvents { get; init; }

    /// <value>
    /// The MCP servers to start (docs/mcp.md): <c>--mcp-config</c>, settings layers and <c>.mcp.json</c> resolved where the
    /// run was created, <c>${VAR}</c> references unexpanded (each host expands them from its own environment).
    /// </value>
    public IReadOnlyList<McpServerSpec> McpServers { get; init; } = [];

    /// <value>
    /// Files and folders Herd writes for the run on this host (run directory, audit log, joblog, transcripts):
    /// read-only to every tool. Not stored: where a run's state lies is the host's, so each host sets its own.
    /// </value>
    [JsonIgnore]
    public IReadOnlyList<ProtectedPath> ProtectedPaths { get; init; } = [];

    /// <value>The started MCP servers and the settings' <c>env</c> of the host running the agent; not stored.</value>
    [JsonIgnore]
    public AgentAddOns AddOns { get; init; } = AgentAddOns.None;

    private ModelCatalog? _catalog;
    private OutputSchema? _schema;

    /// <summary>The price table, loaded once per profile.</summary>
    /// <exception cref="HerdUsageException">The <see cref="PricesPath"/> file is missing or invalid.</exception>
    [JsonIgnore]
    public ModelCatalog Catalog
    {
        get => _catalog ??= ModelCatalog.Load(PricesPath);
        init => _catalog = value;
    }

    [JsonIgnore]
    private OutputSchema? Schema => JsonSchema is null ? null : _schema ??= OutputSchema.Parse(JsonSchema);

    private OfferedTools? _offered;

    /// <summary>
    /// The tools every session of this profile is offered, one list for all of them. The tools hold no state (a
    /// session's lives in its <see cref="ToolContext"/>), and the sessions cache their tool definitions per list
    /// instance: a fresh list per session built every schema again and wrote the tools' JSON again for each task.
    /// </summary>
    private IReadOnlyList<ITool> OfferedToolList()
    {
        // A copy made with `with` carries this field along; the references say whether it still describes this profile.
        if (_offered is { } cached && ReferenceEquals(cached.Names, Tools) && ReferenceEquals(cached.McpTools, AddOns.McpTools))
            return cached.List;
        IReadOnlyList<ITool> list = [.. ToolRegistry.BuiltIns().Where(t => Tools.Contains(t.Name)), .. AddOns.McpTools];
        _offered = new OfferedTools(Tools, AddOns.McpTools, list);
        return list;
    }

    private sealed record OfferedTools(IReadOnlyList<string> Names, IReadOnlyList<ITool> McpTools, IReadOnlyList<ITool> List);

    /// <summary>
    /// Options for one agent session. Each call makes a fresh context, permissions and limits, so sessions share no
    /// state; the stateless tools are one list per profile.
    /// </summary>
    /// <param name="restoredModel">The model of a resumed session, used unless <see cref="Model"/> says otherwise.</param>
    /// <param name="workingDirectory">Where this session works; <see cref="Cwd"/> when null.</param>
    public AgentOptions ToAgentOptions(string? restoredModel = null, string? workingDirectory = null)
    {
        var model = ResolveModel(Catalog, Provider, Model ?? restoredModel);
        var permissions = new PermissionEngine(Policy);
        var cwd = workingDirectory ?? Cwd;
        var schema = Schema;
        return new AgentOptions
        {
            Model = model,
            FallbackModels = FallbackModels.Where(m => m != model).ToArray(),
            Catalog = Catalog,
            // A task in its own tree (--isolate) is told that tree, not the run's directory.
            SystemPrompt = cwd == Cwd ? SystemPrompt : SystemPrompt.Replace($"Working directory: {Cwd}\n", $"Working directory: {cwd}\n", StringComparison.Ordinal),
            MemoryText = ReadMemoryFiles ? MemoryFor(cwd) : null,
            Tools = OfferedToolList(),
            Permissions = permissions,
            // The file tools' walks and the sandbox hide exactly what the engine's Read deny rules cover.
            ToolContext = new ToolContext(cwd, AdditionalDirectories)
            {
                Sandbox = Sandbox,
                IsReadDenied = path => permissions.IsReadDenied(path, cwd),
                HasReadDenyRules = permissions.HasReadDenies,
                ReadDenyBases = permissions.ReadDenyBases(cwd),
                ProtectedPaths = ProtectedPaths,
            },
            MaxTurns = MaxTurns,
            MaxBudgetUsd = MaxBudgetUsd,
            BudgetMode = BudgetMode,
            MaxTokens = MaxTokens,
            OutputSchema = schema?.Node,
            OutputValidator = schema is null ? null : schema.Validate,
            Timeout = Timeout,
            PermissionModeName = Policy.ModeName,
            FailOnDenial = FailOnDenial,
            Hooks = Hooks,
            HookEnvironment = AddOns.HookEnvironment,
            IncludeHookEvents = IncludeHookEvents,
            McpServers = AddOns.McpServers,
            ApiKeySource = Provider == ModelProvider.OpenAi
                ? (string.IsNullOrEmpty(Environment.GetEnvironmentVariable("OPENAI_API_KEY")) ? "none" : "OPENAI_API_KEY")
                : "ANTHROPIC_API_KEY",
        };
    }

    /// <summary>Claude's aliases (sonnet, opus…) for Anthropic; another server's model names pass through as given.</summary>
    public static string ResolveModel(ModelCatalog catalog, ModelProvider provider, string? model) =>
        provider == ModelProvider.OpenAi && !string.IsNullOrWhiteSpace(model) ? model.Trim() : catalog.Resolve(model);

    private static readonly System.Collections.Concurrent.ConcurrentDictionary<string, string?> MemoryByDirectory = new(StringComparer.Ordinal);

    /// <summary>
    /// The memory block of a working directory, read once per directory and process: a fan-out's tasks in one
    /// directory share it, and each task directory gets its own, as a Claude Code started there would.
    /// </summary>
    private static string? MemoryFor(string directory) =>
        MemoryByDirectory.GetOrAdd(directory, d => MemoryFiles.Format(MemoryFiles.Discover(d, MemoryFiles.UserConfigDirectory())));
}
