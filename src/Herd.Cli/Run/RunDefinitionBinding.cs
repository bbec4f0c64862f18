using Herd.Agent;
using Herd.Cli.Print;
using Herd.Fleet.Engines;
using Herd.Fleet.Runs;

namespace Herd.Cli.Run;

/// <summary>
/// The flags of <c>herd run</c> bound once into the run's <see cref="RunDefinition"/> (issue #18): the only place a
/// run's argv is turned into what its tasks do. Hosts that work a stored run read its definition, never its argv.
/// </summary>
public static class RunDefinitionBinding
{
    /// <exception cref="HerdUsageException">A flag is invalid (the message names it).</exception>
    public static RunDefinition Bind(ParsedArguments args, RunArguments run, AgentSetup setup, string cwd)
    {
        var taskBudget = run.TaskBudgetUsd ?? setup.MaxBudgetUsd;
        return new RunDefinition
        {
            Agent = setup.ToProfile(),
            Engine = EngineBinding.Definition(args, EngineBinding.Kind(args), setup, taskBudget, run.DenialIsSuccess, cwd),
            AuditLogPath = args.Value(PrintOptions.AuditLog) is { } audit ? AuditLogPath(audit, cwd) : null,
            DenialIsSuccess = run.DenialIsSuccess,
            TaskBudgetUsd = taskBudget,
            Schedule = run.Schedule,
            Jobs = run.Jobs,
            BudgetUsd = run.BudgetUsd,
            BudgetTokens = run.BudgetTokens,
            Gate = run.Gate,
            Shard = run.Shard?.ToString(),
            Isolation = run.Isolation,
            Batch = run.Batch,
        };
    }

    /// <summary>
    /// The stored definition of a run continued with <c>--resume</c>, with the run-wide settings given now (jobs,
    /// retries, timeouts, halt, delay, budgets, gate, --on-denial) in place of the stored ones. The agent and the
    /// engine stay as the run was created: its tasks keep doing what they did.
    /// </summary>
    public static RunDefinition Resumed(RunDefinition stored, ParsedArguments today, RunArguments run)
    {
        var schedule = stored.Schedule;
        var retry = schedule.Retry with
        {
            MaxRetries = today.Has(RunOptions.Retries) ? run.Retries : schedule.Retry.MaxRetries,
            BaseDelay = today.Has(RunOptions.RetryBase) ? run.RetryBase : schedule.Retry.BaseDelay,
        };
        schedule = schedule with
        {
            Retry = retry,
            Halt = today.Has(RunOptions.Halt) || today.Has(RunOptions.HaltMin) ? run.Halt : schedule.Halt,
            Delay = today.Has(RunOptions.Delay) ? run.Delay : schedule.Delay,
            Timeout = today.Has(RunOptions.Timeout) ? run.Timeout : schedule.Timeout,
            TimeoutPercent = today.Has(RunOptions.Timeout) ? run.TimeoutPercent : schedule.TimeoutPercent,
            TimeoutFloor = today.Has(RunOptions.TimeoutFloor) ? run.TimeoutFloor : schedule.TimeoutFloor,
            IdleTimeout = today.Has(RunOptions.IdleTimeout) ? run.IdleTimeout : schedule.IdleTimeout,
        };
        return stored with
        {
            Schedule = schedule,
            Jobs = today.Has(RunOptions.Jobs) || today.Has(RunOptions.Ramp) ? run.Jobs : stored.Jobs,
            BudgetUsd = today.Has(RunOptions.BudgetUsd) ? run.BudgetUsd : stored.BudgetUsd,
            BudgetTokens = today.Has(RunOptions.BudgetTokens) ? run.BudgetTokens : stored.BudgetTokens,
            TaskBudgetUsd = today.Has(RunOptions.TaskBudgetUsd) ? run.TaskBudgetUsd : stored.TaskBudgetUsd,
            Gate = today.Has(RunOptions.Gate) ? run.Gate : stored.Gate,
            DenialIsSuccess = today.Has(RunOptions.OnDenial) ? run.DenialIsSuccess : stored.DenialIsSuccess,
        };
    }

    /// <summary>
    /// A run created by a Herd before definitions stored only its argv: bound here once, exactly as <c>herd run</c>
    /// binds its flags today (sandbox default included), so it can be stored and worked like any other.
    /// </summary>
    /// <exception cref="HerdFatalException">The stored argv cannot be read or no longer binds; the message says what to do.</exception>
    public static RunDefinition FromStoredArgv(string argvJson, string cwd, string where)
    {
        string[] argv;
        try
        {
            argv = RunCommand.ReadArgv(argvJson);
        }
        catch (Exception ex) when (ex is System.Text.Json.JsonException or InvalidOperationException)
        {
            throw new HerdFatalException($"Error: the options stored in {where} are damaged ({ex.Message}); the run cannot be worked as it was started.", ex);
        }
        try
        {
            var args = CommandLineParser.Parse(argv, RunOptions.All);
            var run = RunArguments.Bind(args, cwd);
            var setup = AgentSetup.Validate(args.Without(RunOptions.Timeout), cwd, sandboxByDefault: true);
            return Bind(args, run, setup, cwd);
        }
        catch (HerdUsageException ex)
        {
            throw new HerdFatalException($"Error: {where} was created by an older Herd and its options no longer bind here ({ex.Message.Replace("Error: ", "", StringComparison.Ordinal)}). Create the run again with this Herd.", ex);
        }
    }

    /// <summary>
    /// A run in a shared store is read by every worker and anyone with access to the database, so its MCP servers'
    /// <c>env</c> and <c>headers</c> must be <c>${VAR}</c> references, expanded on each host from its own environment,
    /// never values written in clear (docs/mcp.md).
    /// </summary>
    /// <exception cref="HerdUsageException">A server has a value written in clear; the message names it and the fix.</exception>
    public static void RefuseSecretsInClear(RunDefinition definition)
    {
        foreach (var server in definition.Agent.McpServers)
        {
            if (server.LiteralValues().FirstOrDefault() is { } entry)
            {
                var name = entry[(entry.IndexOf('.') + 1)..];
                throw new HerdUsageException($"Error: MCP server '{server.Name}' ({server.Source}) sets {entry} to a value written in clear, which a run in a shared store would keep for every worker to read. Write it as \"${{{Variable(name)}}}\" and export {Variable(name)} where the tasks run.");
            }
        }
    }

    /// <summary>A variable name for a header or env entry: <c>Authorization</c> → <c>AUTHORIZATION</c>, <c>X-Api-Key</c> → <c>X_API_KEY</c>.</summary>
    private static string Variable(string name) => new([.. name.ToUpperInvariant().Select(c => char.IsAsciiLetterOrDigit(c) ? c : '_')]);

    /// <summary>The engine's CLI is found on this host; a usage error names the fix.</summary>
    public static void Check(RunDefinition definition, RunHost host)
    {
        try
        {
            RunAssembly.Check(definition, host);
        }
        catch (EngineUnavailableException ex)
        {
            throw new HerdUsageException(ex.Message);
        }
    }

    /// <summary>The audit log is a file that grows; a directory or an unwritable place is refused before the run starts.</summary>
    private static string AuditLogPath(string audit, string cwd)
    {
        var path = Path.GetFullPath(audit, cwd);
        if (Directory.Exists(path))
            throw new HerdUsageException($"Error: --audit-log '{audit}' is a directory; pass a file path (it is appended to).");
        var parent = Path.GetDirectoryName(path);
        if (parent is not null && File.Exists(parent))
            throw new HerdUsageException($"Error: --audit-log '{audit}': '{parent}' is a file, not a directory.");
        if (parent is not null && !Directory.Exists(parent))
            throw new HerdUsageException($"Error: --audit-log '{audit}': directory '{parent}' does not exist. Create it first.");
        return path;
    }
}
