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
/// flags say (the agent options, retries, halt policy, budget); only the concurrency is the worker's own.
/// </summary>
public static class WorkerCommand
{
    public static readonly OptionSpec Store = new(["--store"], Arity.Value, "The shared run store: postgres://user:password@host:5432/database (env HERD_STORE)", "url");
    public static readonly OptionSpec RunId = new(["--run"], Arity.Value, "Work this run until it is finished or halted, then exit", "run-id");
    public static readonly OptionSpec All = new(["--all"], Arity.Flag, "Work every running run, and wait for new ones until stopped (SIGTERM)");
    public static readonly OptionSpec Jobs = new(["-j", "--jobs"], Arity.Value, "Concurrent tasks of this worker (default 8); a shared back-pressure limit divides among workers", "n");
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
        Exit codes: 0 the run ended (finished or halted; see herd runs show), 1 the store could not be reached,
        130/143 interrupted (claimed tasks go back to the queue), 255 usage error. See docs/scale-out.md.
        """;

    public static async Task<int> RunAsync(string[] argv) =>
        await ErrorEdge.RunAsync("herd worker", Console.Error, RunExitCodes.Usage, 1, () => RunCoreAsync(argv, Console.Error, Directory.GetCurrentDirectory())).ConfigureAwait(false);

    private static async Task<int> RunCoreAsync(string[] argv, TextWriter err, string cwd)
    {
        var args = CommandLineParser.Parse(argv, Options);
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
        var jobs = 8;
        if (args.Value(Jobs) is { } j && (!int.TryParse(j, NumberStyles.Integer, CultureInfo.InvariantCulture, out jobs) || jobs < 1 || jobs > RunArguments.MaxJobs))
            throw new HerdUsageException($"Error: -j '{j}' is not a valid job count. Use a whole number from 1 to {RunArguments.MaxJobs}.");
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

    private static async Task WorkAsync(PgLocation location, string runId, int jobs, TimeSpan lease, string cwd, TextWriter err, CancellationToken cancellationToken)
    {
        var time = TimeProvider.System;
        using var store = PostgresRunStore.Open(location, runId, time, lease);
        var info = store.ReadRun() ?? throw new HerdUsageException($"Error: no run '{runId}' in {location.Redacted}. `herd runs list --store URL` shows the runs.");
        // The run is worked as it was asked: its stored flags bind exactly as herd run bound them.
        var args = CommandLineParser.Parse(RunCommand.ReadArgv(info.ArgvJson), RunOptions.All);
        var run = RunArguments.Bind(args, cwd);
        var setup = AgentSetup.Validate(args.Without(RunOptions.Timeout), cwd);
        var taskBudget = run.TaskBudgetUsd ?? setup.MaxBudgetUsd;
        var clientOptions = AgentSetup.ClientOptionsFromEnvironment();
        if (string.IsNullOrEmpty(Environment.GetEnvironmentVariable("HERD_MAX_RETRIES")))
            clientOptions = clientOptions with { MaxRetries = 2 };
        using var client = new AnthropicMessagesClient(clientOptions);
        var ledger = store.Ledger().Ceiling is { } ceiling ? new SpendLedger(ceiling, new PostgresSpendAccount(store)) : null;
        // issue #20: each worker has its own tree pool at the run's pinned commit; patches go to .herd/runs/RUN/patches here.
        using var isolation = new Herd.Fleet.Isolation.RunIsolation(run.Isolation, cwd, Path.Combine(cwd, ".herd", "runs", runId), time, line => err.WriteLine("herd worker: " + line)) { MaxTurns = setup.MaxTurns, TaskBudgetUsd = taskBudget, PoolPerProcess = true };
        var engine = isolation.Wrap(new InProcessAgentEngine(client, a => setup.ToAgentOptions(workingDirectory: a.WorkingDirectory) with { MaxBudgetUsd = taskBudget, TimeProvider = time }, ledger, time)
        {
            DenialIsSuccess = run.DenialIsSuccess,
        });
        var schedule = run.Schedule;
        var options = new WorkerOptions
        {
            Jobs = jobs,
            Schedule = schedule,
            // The timeouts in force are per attempt (a task may set its own); the worker fills them into each record.
            Caps = new CapsInForce(setup.MaxTurns, taskBudget, null, schedule.IdleTimeout),
            HeartbeatEvery = lease / 3,
            Time = time,
            Notice = line => err.WriteLine("herd worker: " + line),
        };
        var report = await new WorkerLoop(store, engine, options).RunAsync(cancellationToken).ConfigureAwait(false);
        store.Leave();
        err.WriteLine($"herd worker: run {runId}: {report.Attempts} attempt(s), {report.Finals} final, {report.Retries} retried, {report.Rejected} rejected (fenced); the run is {report.RunStatus.Name()}");
    }
}
