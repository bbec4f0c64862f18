using System.Globalization;
using Herd.Agent;
using Herd.Agent.Loop;
using Herd.Agent.Models;
using Herd.Cli.Print;
using Herd.Fleet.Engines;
using Herd.Fleet.Reports;
using Herd.Fleet.Runs;
using Herd.Fleet.Scheduling;
using Herd.Fleet.Store;
using Herd.Fleet.Store.Postgres;
using Herd.Fleet.Workers;

namespace Herd.Cli.Run;

/// <summary>
/// <c>herd worker --store URL (--run RUN | --all) [-j N]</c> (issue #14, docs/scale-out.md): works runs kept in a
/// shared PostgreSQL store, next to any number of other workers on any machines. Each run is worked as its stored
/// definition says (agent, sandbox, engine, audit log, retries, halt policy, budget); only the concurrency is the worker's own.
/// </summary>
public static class WorkerCommand
{
    public static readonly OptionSpec Store = new(["--store"], Arity.Value, "The shared run store: postgres://user:password@host:5432/database (env HERD_STORE)", "url");
    public static readonly OptionSpec RunId = new(["--run"], Arity.Value, "Work this run until it is finished or halted, then exit", "run-id");
    public static readonly OptionSpec All = new(["--all"], Arity.Flag, "Work every running run, and wait for new ones until stopped (SIGTERM)");
    public static readonly OptionSpec Jobs = new(["-j", "--jobs"], Arity.Value, "Concurrent tasks of this worker (default 8; a --batch run's own -j); a shared back-pressure limit divides among workers", "n");
    public static readonly OptionSpec Lease = new(["--lease"], Arity.Value, "How long a claimed task stays this worker's without a heartbeat (default 30s)", "duration");
    public static readonly OptionSpec Help = new(["-h", "--help"], Arity.Flag, "Show this help");

    private static readonly IReadOnlyList<OptionSpec> Options = [Store, RunId, All, Jobs, Lease, Help];

    private const string Usage = "herd worker --store URL (--run RUN | --all) [-j N] [--lease DURATION]";

    private const string Description = """
        Claim and run tasks of runs kept in a shared PostgreSQL store, with leases: start as many workers as you like,
        on any machines; each task runs exactly once, the run's budget and rate limit hold across all of them, and a
        worker that dies (kill -9, lost machine) loses its tasks to the others once its lease expires. Create runs with
        `herd run --store URL --enqueue`; follow and read them with `herd runs watch|show|export RUN --store URL`, and
        report on or judge them with `herd report|gate RUN --store URL`.
        """;

    private const string Footer = """
        Exit codes: 0 the run ended (finished or halted; see herd runs show), 130/143 interrupted (claimed tasks go
        back to the queue), 255 a usage error or a store that could not be reached. See docs/scale-out.md.
        """;

    public static async Task<int> RunAsync(string[] argv) =>
        await ErrorEdge.RunAsync(HerdCommand.Worker, Console.Error, () => RunCoreAsync(argv, Console.Error, Directory.GetCurrentDirectory())).ConfigureAwait(false);

    private static async Task<int> RunCoreAsync(string[] argv, TextWriter err, string cwd)
    {
        var args = CommandLineParser.Parse(argv, Options, ExitCodes.For(HerdCommand.Worker));
        if (args.Has(Help))
        {
            Console.Out.Write(CommandLineParser.FormatHelp(Usage, Description, Options, Footer));
            return 0;
        }
        if (args.Positionals.Count > 0)
            throw new HerdUsageException($"Error: unexpected argument '{args.Positionals[0]}'. Usage: {Usage}");
        var location = RunArguments.ParseStore(args.Value(Store) ?? Environment.GetEnvironmentVariable("HERD_STORE"))
            ?? throw new HerdUsageException("Error: herd worker needs --store postgres://user:password@host:5432/database (or HERD_STORE).");
        var runId = args.Value(RunId);
        if ((runId is null) == !args.Has(All))
            throw new HerdUsageException("Error: pass either --run RUN (one run) or --all (every running run).");
        int? jobs = null;
        if (args.Value(Jobs) is { } j)
        {
            if (!int.TryParse(j, NumberStyles.Integer, CultureInfo.InvariantCulture, out var n) || n < 1 || n > RunArguments.MaxJobs)
                throw new HerdUsageException($"Error: -j '{j}' is not a valid job count. Use a whole number from 1 to {RunArguments.MaxJobs}.");
            jobs = n;
        }
        var lease = args.Value(Lease) is { } l ? Durations.Parse(l, "--lease") : TimeSpan.FromSeconds(30);
        if (lease < TimeSpan.FromSeconds(1))
            throw new HerdUsageException("Error: --lease must be at least 1s (heartbeats come every third of it).");

        using var signals = new RunSignals();
        while (!signals.Token.IsCancellationRequested)
        {
            var runs = runId is not null
                ? [runId]
                : PostgresRunStore.ListRuns(location).Where(r => r.Status == RunStatus.Running).Select(r => r.RunId).ToArray();
            foreach (var id in runs)
            {
                if (signals.Token.IsCancellationRequested)
                    break;
                await WorkAsync(location, id, jobs, lease, cwd, err, signals.Token).ConfigureAwait(false);
            }
            if (runId is not null)
                break;
            try
            {
                await Task.Delay(TimeSpan.FromSeconds(5), signals.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                break;
            }
        }
        return signals.ExitCode ?? 0;
    }

    /// <param name="jobs">-j; null = 8, or the run's own for a batch run.</param>
    private static async Task WorkAsync(PgLocation location, string runId, int? jobs, TimeSpan lease, string cwd, TextWriter err, CancellationToken cancellationToken)
    {
        var time = TimeProvider.System;
        using ISharedRunStore store = PostgresRunStore.Open(location, runId, time, lease);
        var info = store.ReadRun() ?? throw new HerdUsageException($"Error: no run '{runId}' in {location.Redacted}. `herd runs list --store URL` shows the runs.");
        // The run is worked as it was created: its stored definition, built into an engine by the one assembly every host uses.
        var definition = StoredDefinition(store, info, cwd, $"run '{runId}' in {location.Redacted}");
        var clientOptions = definition.Engine.Kind == EngineKind.Herd ? AgentSetup.ClientOptionsFromEnvironment(definition.Agent.Provider) : new ModelClientOptions { ApiKey = "" };
        if (string.IsNullOrEmpty(Environment.GetEnvironmentVariable("HERD_MAX_RETRIES")))
            clientOptions = clientOptions with { MaxRetries = 2 };
        using var client = ModelClientFactory.Create(clientOptions with { OnEndpointNotice = EndpointNotices.StateChanges(err, clientOptions.BaseUrlVariable) });
        using var batchClient = definition.Batch is null ? null : new AnthropicBatchClient(clientOptions);
        var ledger = store.Ledger().Ceiling is { } ceiling ? new SpendLedger(ceiling, store.SpendAccount(time)) : null;
        // Engine state (config directories, attempt logs) stays on this host, under its own directory for the run.
        var hostRunDirectory = Path.Combine(cwd, ".herd", "runs", runId);
        // issue #20: each worker has its own tree pool at the run's pinned commit (fetched if this clone lacks it).
        using var isolation = new Herd.Fleet.Isolation.RunIsolation(definition.Isolation, cwd, hostRunDirectory, time, line => err.WriteLine("herd worker: " + line))
        {
            MaxTurns = definition.Agent.MaxTurns,
            TaskBudgetUsd = definition.TaskBudgetUsd,
            PoolPerProcess = true,
        };
        // The run's MCP servers on this worker: one set per slot, started by each slot's first task, stopped at the end.
        await using var mcpServers = RunAssembly.McpServers(definition);
        var host = new RunHost(client, hostRunDirectory)
        {
            Isolation = isolation,
            McpServers = mcpServers,
            WorkingDirectory = cwd,
            Time = time,
            // This host's state of the run is read-only to every tool process, as under herd run (issue #19, class 10).
            ProtectedPaths = RunCommand.RunStatePaths(hostRunDirectory, definition.AuditLogPath, null, cwd),
            BatchClient = batchClient,
            BatchOptions = BatchPolling.FromEnvironment(),
        };
        RunDefinitionBinding.Check(definition, host);
        // Patches go to the store, so herd apply --store finds them whichever machine ran the task.
        var engine = RunAssembly.Engine(definition, host, ledger, patches: store, batches: store);
        // A batch run's round is the tasks a worker holds: without -j it holds as many as the run was created with.
        if (definition.Batch is not null && jobs is null)
            jobs = definition.Jobs.Limit;
        var schedule = definition.Schedule;
        var options = new WorkerOptions
        {
            Jobs = jobs ?? 8,
            Schedule = schedule,
            // The timeouts in force are per attempt (a task may set its own); the worker fills them into each record.
            Caps = definition.Caps with { Timeout = null },
            HeartbeatEvery = lease / 3,
            Time = time,
            Notice = line => err.WriteLine("herd worker: " + line),
        };
        var report = await new WorkerLoop(store, store, engine, options).RunAsync(cancellationToken).ConfigureAwait(false);
        await store.LeaveAsync(CancellationToken.None).ConfigureAwait(false);
        err.WriteLine($"herd worker: run {runId}: {report.Attempts} attempt(s), {report.Finals} final, {report.Retries} retried, {report.Rejected} rejected (fenced); the run is {report.RunStatus.Name()}");
    }

    /// <summary>The run's stored definition; a run an older Herd created (argv only) is bound once and its definition stored.</summary>
    internal static RunDefinition StoredDefinition(IRunCatalog store, RunInfo info, string cwd, string where)
    {
        if (info.DefinitionJson is { } json)
            return RunDefinition.Parse(json, where);
        var definition = RunDefinitionBinding.FromStoredArgv(info.ArgvJson, cwd, where);
        store.WriteDefinition(definition.ToJson());
        return definition;
    }
}
