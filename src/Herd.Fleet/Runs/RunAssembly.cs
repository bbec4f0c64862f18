using Herd.Agent.Loop;
using Herd.Agent.Mcp;
using Herd.Agent.Tools;
using Herd.Agent.Models;
using Herd.Agent.Permissions;
using Herd.Fleet.Engines;

namespace Herd.Fleet.Runs;

/// <summary>What the process that runs a run's tasks brings to it: what is of the host, not of the run.</summary>
/// <param name="Client">The model client of the in-process engine (unused by external engines).</param>
/// <param name="RunDirectory">Where engine state (per-process config directories, attempt logs) goes: its <c>engine/</c>.</param>
public sealed record RunHost(IModelClient Client, string RunDirectory)
{
    /// <value>The directory tasks work in on this host; null = the one the run was created in.</value>
    public string? WorkingDirectory { get; init; }

    /// <value>The environment external engines start from; null = this process's.</value>
    public IReadOnlyDictionary<string, string>? EngineEnvironment { get; init; }

    public TimeProvider Time { get; init; } = TimeProvider.System;

    /// <value>What Herd writes for the run on this host (run directory, audit log, joblog): read-only to every tool.</value>
    public IReadOnlyList<ProtectedPath> ProtectedPaths { get; init; } = [];

    /// <value><c>--isolate</c>/<c>--verify</c> on this host: its tree pool wraps every engine (issue #20); null = none.</value>
    public Isolation.RunIsolation? Isolation { get; init; }

    /// <value>The settings files' <c>env</c> this process was given, for hooks (not stored with the run); null = none.</value>
    public IReadOnlyDictionary<string, string>? HookEnvironment { get; init; }

    /// <value>
    /// This process's MCP servers of the run, one set per slot (<see cref="RunAssembly.McpServers"/>); the host disposes
    /// them when its run ends. Required when the run's agent has servers; null otherwise.
    /// </value>
    public McpSlots? McpServers { get; init; }
    /// <value>The Message Batches client of a batch run (<c>--batch</c>); null = none on this host.</value>
    public AnthropicBatchClient? BatchClient { get; init; }

    /// <value>How a batch run polls and gathers on this host; null = the documented defaults.</value>
    public Batches.BatchRunOptions? BatchOptions { get; init; }

    /// <value>Where this host's progress display finds the batch rounds of the run it works.</value>
    public Batches.BatchWatch BatchWatch { get; } = new();
}

/// <summary>
/// The one place that turns a stored <see cref="RunDefinition"/> into a working <see cref="ITaskEngine"/> (issue #18):
/// the agent built from its profile with the sandbox decided at creation, the engine chosen by
/// <see cref="TaskEngines.Create"/>, the audit log, the per-task cap and the run ledger. <c>herd run</c>,
/// <c>herd run --store</c> and <c>herd worker</c> all build their engine here, so no host can run a task differently.
/// </summary>
public static class RunAssembly
{
    /// <param name="runLedger">The run-wide ceiling (null without one): a local ledger, or the shared store's account.</param>
    /// <exception cref="EngineUnavailableException">The engine's CLI cannot be found on this host.</exception>
    /// <param name="patches">Where the run's store keeps task patches (<c>--isolate</c>); null = the run directory's <c>patches/</c>.</param>
    /// <param name="batches">The run store's record of batch rounds; required when the run is a batch run.</param>
    /// <param name="runTokens">The run-wide token ceiling (<c>--budget-tokens</c>); null = none.</param>
    public static ITaskEngine Engine(RunDefinition definition, RunHost host, SpendLedger? runLedger, Store.IPatchStore? patches = null, Batches.IBatchLedger? batches = null, SpendLedger? runTokens = null)
    {
        var profile = Profile(definition, host);
        var rounds = Rounds(definition, host, batches);
        var spec = EngineSpec(definition, host, profile);
        var auditPath = definition.AuditLogPath;
        var servers = profile.McpServers.Count == 0 || definition.Engine.Kind != EngineKind.Herd
            ? null
            : host.McpServers ?? throw new InvalidOperationException("The run's agent has MCP servers: the host must pass RunAssembly.McpServers(definition) as RunHost.McpServers.");

        // One tool list per slot's connections: sessions cache their tool definitions per list instance, so a list made
        // afresh for every task built every schema and wrote every tool's JSON again (issue #23, CPU per task).
        var offered = new System.Runtime.CompilerServices.ConditionalWeakTable<McpConnections, IReadOnlyList<ITool>>();

        async Task<AgentOptions> OptionsFor(TaskAttempt a, CancellationToken cancellationToken)
        {
            // A task in its own tree (--isolate) works there, with its tools confined to it.
            var options = profile.ToAgentOptions(workingDirectory: a.WorkingDirectory) with { MaxBudgetUsd = definition.TaskBudgetUsd, TimeProvider = host.Time };
            if (servers is null)
                return options;
            // The slot's servers, started in its first task's directory and sandbox, restarted if one died.
            var connections = await servers.AcquireAsync(a.Slot, options.ToolContext, cancellationToken).ConfigureAwait(false);
            var tools = offered.GetValue(connections, c => [.. options.Tools, .. c.Tools]);
            return options with { Tools = tools, McpServers = connections.Statuses };
        }

        var engine = TaskEngines.Create(spec, () => new InProcessAgentEngine(host.Client, OptionsFor, runLedger, host.Time)
        {
            DenialIsSuccess = definition.DenialIsSuccess,
            // Every task's tool calls go to one audit log; each line carries the attempt's session id.
            ExtraSink = auditPath is null ? null : a => new AuditLog(auditPath, a.SessionId, host.Time),
            Batch = rounds,
            RunTokens = runTokens,
        }, runLedger, host.Time);
        return host.Isolation?.Wrap(engine, patches) ?? engine;
    }

    /// <summary>Checks on this host that the engine can run (its CLI is found), before anything is written.</summary>
    /// <exception cref="EngineUnavailableException">It cannot.</exception>
    public static void Check(RunDefinition definition, RunHost host)
    {
        if (definition.Engine.Kind is EngineKind.Claude or EngineKind.Codex or EngineKind.Gemini)
            _ = TaskEngines.Resolve(EngineSpec(definition, host, Profile(definition, host)));
    }

    /// <summary>
    /// The run's MCP servers on this host, one set per slot and none started yet (each slot starts its own at its first
    /// task). The host disposes them when its run ends, which stops them with their process trees.
    /// </summary>
    public static McpSlots McpServers(RunDefinition definition) =>
        new(definition.Engine.Kind == EngineKind.Herd ? definition.Agent.McpServers : [], McpConnections.StartTimeoutFromEnvironment());

    /// <exception cref="Herd.Agent.HerdUsageException">A batch run on a host without a batch client, an external engine, or another provider.</exception>
    private static Batches.BatchRoundCoordinator? Rounds(RunDefinition definition, RunHost host, Batches.IBatchLedger? batches)
    {
        if (definition.Batch is not { } batch)
            return null;
        if (definition.Engine.Kind != EngineKind.Herd)
            throw new Herd.Agent.HerdUsageException("Error: --batch works with the in-process engine only (--engine herd); an external CLI makes its own live calls.");
        if (definition.Agent.Provider != ModelProvider.Anthropic)
            throw new Herd.Agent.HerdUsageException("Error: --batch needs --provider anthropic: Message Batches are Anthropic's API.");
        var client = host.BatchClient ?? throw new Herd.Agent.HerdUsageException("Error: this host has no Message Batches client for a --batch run.");
        var ledger = batches ?? throw new Herd.Agent.HerdFatalException("Error: the run store keeps no batch rounds; a --batch run needs SQLite or PostgreSQL.");
        var rounds = new Batches.BatchRoundCoordinator(client, ledger, host.Time, (host.BatchOptions ?? new Batches.BatchRunOptions()) with { OnInterrupt = batch.OnInterrupt });
        host.BatchWatch.Coordinator = rounds;
        return rounds;
    }

    private static AgentProfile Profile(RunDefinition definition, RunHost host)
    {
        var profile = definition.Agent with
        {
            ProtectedPaths = host.ProtectedPaths,
            AddOns = host.HookEnvironment is { } environment ? AgentAddOns.None with { HookEnvironment = environment } : AgentAddOns.None,
        };
        return host.WorkingDirectory is { } cwd && cwd != profile.Cwd ? profile with { Cwd = cwd } : profile;
    }

    private static EngineSpec EngineSpec(RunDefinition definition, RunHost host, AgentProfile profile)
    {
        var engine = definition.Engine;
        return new EngineSpec(engine.Kind, profile.Cwd, Path.Combine(host.RunDirectory, "engine"))
        {
            CommandTemplate = engine.CommandTemplate,
            ResultJson = engine.ResultJson,
            BinaryPath = engine.BinaryPath,
            Environment = host.EngineEnvironment,
            ExtraEnvironment = engine.ExtraEnvironment,
            Catalog = profile.Catalog,
            Flags = engine.Flags,
        };
    }
}
