using System.Globalization;
using Herd.Agent;
using Herd.Agent.IO;
using Herd.Fleet.Engines;
using Herd.Fleet.Reports;
using Herd.Fleet.Runs;
using Herd.Fleet.Scheduling;

namespace Herd.Cli.Run;

/// <summary>How <c>--progress</c> was asked for; <see cref="Auto"/> is decided from the console once.</summary>
public enum ProgressChoice
{
    Auto,
    Plain,
    None,
}

/// <summary>A random sample of the plan (<c>--sample N|P%</c>).</summary>
public sealed record SampleSpec(int? Count, double? Percent, int Seed)
{
    public int SizeOf(int planned) => Count is { } n ? Math.Min(n, planned) : Math.Max(1, (int)Math.Round(planned * Percent!.Value / 100));
}

/// <summary>
/// <c>herd run</c>'s own flags, bound once into typed values (the agent flags go through <see cref="AgentSetup"/>).
/// Every flag is read here and nowhere else, through the <see cref="RunOptions"/> fields, so a misspelt flag does not
/// compile and a bad value fails before anything is written.
/// </summary>
public sealed record RunArguments
{
    public JobsSpec Jobs { get; init; } = JobsSpec.Default;
    public int Retries { get; init; } = 3;
    public TimeSpan RetryBase { get; init; } = TimeSpan.FromSeconds(2);
    public TimeSpan? Timeout { get; init; }
    public double? TimeoutPercent { get; init; }
    public TimeSpan TimeoutFloor { get; init; } = TimeSpan.FromMinutes(30);
    public TimeSpan? IdleTimeout { get; init; }
    public HaltPolicy Halt { get; init; } = HaltPolicy.Never;
    public TimeSpan Delay { get; init; } = TimeSpan.Zero;
    public double? BudgetUsd { get; init; }

    /// <value>--budget-tokens: the run-wide ceiling in tokens; null = none.</value>
    public long? BudgetTokens { get; init; }
    public double? TaskBudgetUsd { get; init; }
    public bool DenialIsSuccess { get; init; }
    public ProgressChoice Progress { get; init; } = ProgressChoice.Auto;
    public TimeSpan ProgressInterval { get; init; } = TimeSpan.FromSeconds(30);
    public string? PromptTemplate { get; init; }
    public string? TasksFile { get; init; }
    public IReadOnlyList<string> InputFiles { get; init; } = [];
    public string? RunDirectory { get; init; }
    public string? JoblogPath { get; init; }
    public RunStart Start { get; init; } = RunStart.New;
    public RequeueMode Requeue { get; init; } = RequeueMode.None;
    public IReadOnlySet<OutcomeClass> RerunClasses { get; init; } = new HashSet<OutcomeClass>();
    public bool DryRun { get; init; }
    public bool Estimate { get; init; }
    public SampleSpec? Sample { get; init; }
    public GateOptions? Gate { get; init; }
    public CiMode Ci { get; init; } = CiMode.Auto;
    public Shard? Shard { get; init; }

    /// <value>The shared store (--store or HERD_STORE), or null for the run directory's SQLite.</value>
    public Herd.Fleet.Store.Postgres.PgLocation? Store { get; init; }

    /// <value>--isolate and --verify (issue #20): the steps around the engine every host builds.</value>
    public Herd.Fleet.Isolation.IsolationSpec Isolation { get; init; } = Herd.Fleet.Isolation.IsolationSpec.None;

    /// <value>--enqueue: create the run in <see cref="Store"/> and leave the work to <c>herd worker</c>.</value>
    public bool Enqueue { get; init; }

    /// <value>--batch (with --on-interrupt): Message Batch rounds; null = live calls.</value>
    public Herd.Fleet.Runs.BatchDefinition? Batch { get; init; }

    /// <summary>The scheduling part of these flags, as the fleet takes it.</summary>
    public Schedule Schedule => new()
    {
        Retry = new RetryPolicy { MaxRetries = Retries, BaseDelay = RetryBase },
        Halt = Halt,
        Delay = Delay,
        Timeout = Timeout,
        TimeoutPercent = TimeoutPercent,
        TimeoutFloor = TimeoutFloor,
        IdleTimeout = IdleTimeout,
    };

    /// <exception cref="HerdUsageException">A value that does not parse, with the flag and the fix.</exception>
    public static RunArguments Bind(ParsedArguments args, string cwd, Func<string, string?>? environment = null)
    {
        var (timeout, timeoutPercent) = ParseTimeout(args.Value(RunOptions.Timeout));
        var requeue = args.Has(RunOptions.RetryFailed) ? RequeueMode.FailedOnly
            : args.Has(RunOptions.ResumeFailed) ? RequeueMode.Failed
            : args.Has(RunOptions.RerunClass) ? RequeueMode.Classes
            : RequeueMode.None;
        var resuming = args.Has(RunOptions.Resume) || requeue != RequeueMode.None;
        var runDir = args.Value(RunOptions.RunDir);
        if (runDir is not null && string.IsNullOrWhiteSpace(runDir))
            throw new HerdUsageException("Error: --run-dir is empty. Pass a directory path, or leave --run-dir out for .herd/runs/<run-id>/.");
        if (resuming && runDir is null)
            throw new HerdUsageException("Error: --resume needs --run-dir DIR of the run to continue. List runs with `herd runs list`.");
        var store = ParseStore(args.Value(RunOptions.Store) ?? Environment.GetEnvironmentVariable("HERD_STORE"));
        if (args.Has(RunOptions.Enqueue) && store is null)
            throw new HerdUsageException("Error: --enqueue needs --store postgres://… (or HERD_STORE): the workers must reach the run.");
        // The end of an enqueued run happens in the workers, which write no reports: a gate here would never be checked.
        if (args.Has(RunOptions.Enqueue) && args.Value(RunOptions.Gate) is not null)
            throw new HerdUsageException("Error: --gate is checked when herd run ends a run, and --enqueue leaves the run to workers; once they finish it, judge it with: herd gate RUN --store URL --max-failed ….");
        return new RunArguments
        {
            Store = store,
            Enqueue = args.Has(RunOptions.Enqueue),
            // A batch round holds every task in flight: the default -j is the most a run allows, not 8.
            Jobs = args.Has(RunOptions.Batch) && args.Value(RunOptions.Jobs) is null ? new JobsSpec(MaxJobs) : ParseJobs(args.Value(RunOptions.Jobs), args.Value(RunOptions.Ramp)),
            Batch = ParseBatch(args),
            Retries = ParseInt(args, RunOptions.Retries, 3, min: 0),
            RetryBase = args.Value(RunOptions.RetryBase) is { } rb ? Durations.Parse(rb, "--retry-base")
                : Environment.GetEnvironmentVariable("HERD_FLEET_RETRY_BASE_MS") is { Length: > 0 } ms && double.TryParse(ms, CultureInfo.InvariantCulture, out var msv) ? TimeSpan.FromMilliseconds(msv)
                : TimeSpan.FromSeconds(2),
            Timeout = timeout,
            TimeoutPercent = timeoutPercent,
            TimeoutFloor = args.Value(RunOptions.TimeoutFloor) is { } tf ? Durations.Parse(tf, "--timeout-floor") : TimeSpan.FromMinutes(30),
            IdleTimeout = args.Value(RunOptions.IdleTimeout) is { } it ? Durations.Parse(it, "--idle-timeout") : null,
            Halt = args.Value(RunOptions.Halt) is { } h ? HaltPolicy.Parse(h, ParseInt(args, RunOptions.HaltMin, 10, min: 1)) : HaltPolicy.Never,
            Delay = args.Value(RunOptions.Delay) is { } d ? (d is "0" ? TimeSpan.Zero : Durations.Parse(d, "--delay")) : TimeSpan.Zero,
            BudgetUsd = ParseUsd(args, RunOptions.BudgetUsd),
            BudgetTokens = ParseTokens(args, store is not null),
            TaskBudgetUsd = ParseUsd(args, RunOptions.TaskBudgetUsd),
            DenialIsSuccess = args.Value(RunOptions.OnDenial) switch
            {
                null or "fail" => false,
                "success" => true,
                var other => throw new HerdUsageException($"Error: --on-denial '{other}' is not one of fail, success."),
            },
            Progress = args.Value(RunOptions.Progress) switch
            {
                null or "auto" => ProgressChoice.Auto,
                "plain" => ProgressChoice.Plain,
                "none" => ProgressChoice.None,
                var other => throw new HerdUsageException($"Error: --progress '{other}' is not one of auto, plain, none."),
            },
            ProgressInterval = args.Value(RunOptions.ProgressInterval) is { } pi ? Durations.Parse(pi, "--progress-interval") : TimeSpan.FromSeconds(30),
            PromptTemplate = ReadTemplate(args, cwd),
            TasksFile = args.Value(RunOptions.Tasks),
            InputFiles = args.Values(RunOptions.Input),
            RunDirectory = runDir is null ? null : Path.GetFullPath(runDir, cwd),
            JoblogPath = args.Value(RunOptions.Joblog) is { } joblog ? ResolveJoblog(joblog, cwd) : null,
            Start = resuming ? RunStart.Resume : RunStart.New,
            Requeue = requeue,
            RerunClasses = args.Value(RunOptions.RerunClass) is { } classes ? ParseClasses(classes) : new HashSet<OutcomeClass>(),
            DryRun = args.Has(RunOptions.DryRun),
            Estimate = args.Has(RunOptions.Estimate),
            Gate = args.Value(RunOptions.Gate) is { } gate ? ParseGate(gate) : null,
            Ci = args.Value(RunOptions.Ci) switch
            {
                null or "auto" => CiMode.Auto,
                "none" => CiMode.None,
                var other => throw new HerdUsageException($"Error: --ci '{other}' is not one of auto, none."),
            },
            Sample = args.Value(RunOptions.Sample) is { } sample ? ParseSample(sample, ParseInt(args, RunOptions.Seed, 1, min: int.MinValue)) : null,
            Shard = ShardDetection.Resolve(args.Value(RunOptions.Shard), args.Value(RunOptions.ShardTotal), environment ?? Environment.GetEnvironmentVariable),
            Isolation = IsolationBinding.Bind(args),
        };
    }

    private static Herd.Fleet.Runs.BatchDefinition? ParseBatch(ParsedArguments args)
    {
        var policy = args.Value(RunOptions.OnInterrupt) switch
        {
            null or "leave" => Herd.Fleet.Batches.InterruptPolicy.Leave,
            "cancel" => Herd.Fleet.Batches.InterruptPolicy.Cancel,
            var other => throw new HerdUsageException($"Error: --on-interrupt '{other}' is not one of leave, cancel."),
        };
        if (!args.Has(RunOptions.Batch))
        {
            return args.Value(RunOptions.OnInterrupt) is null ? null
                : throw new HerdUsageException("Error: --on-interrupt says what happens to a Message Batch in flight; it needs --batch.");
        }
        return new Herd.Fleet.Runs.BatchDefinition { OnInterrupt = policy };
    }

    /// <summary>The joblog is a file that is rewritten; a directory or a missing parent is refused before the run starts.</summary>
    private static string ResolveJoblog(string given, string cwd)
    {
        if (string.IsNullOrWhiteSpace(given))
            throw new HerdUsageException("Error: --joblog is empty. Pass a file path, e.g. --joblog run.joblog.");
        var path = Path.GetFullPath(given, cwd);
        if (Directory.Exists(path))
            throw new HerdUsageException($"Error: --joblog '{given}' is a directory; pass a file path.");
        var parent = Path.GetDirectoryName(path);
        if (parent is not null && !Directory.Exists(parent))
            throw new HerdUsageException($"Error: --joblog '{given}': directory '{parent}' does not exist. Create it first.");
        return path;
    }

    /// <summary>A PostgreSQL URL, or null (empty, or unset) for the SQLite default.</summary>
    internal static Herd.Fleet.Store.Postgres.PgLocation? ParseStore(string? text)
    {
        if (string.IsNullOrWhiteSpace(text) || text is "sqlite")
            return null;
        if (!Herd.Fleet.Store.Postgres.PgLocation.IsPostgres(text))
            throw new HerdUsageException("Error: --store must be a PostgreSQL URL (postgres://user:password@host:5432/database), or left out for the run directory's SQLite.");
        return Herd.Fleet.Store.Postgres.PgLocation.Parse(text);
    }

    private static GateOptions ParseGate(string text) => GateOptions.ParseSpec(text);

    internal static JobsSpec ParseJobs(string? text, string? rampText)
    {
        var ramp = 4;
        if (rampText is not null && (!int.TryParse(rampText, NumberStyles.Integer, CultureInfo.InvariantCulture, out ramp) || ramp < 1))
            throw new HerdUsageException($"Error: --ramp must be a positive whole number (got '{rampText}').");
        if (text is null)
            return JobsSpec.Default;
        if (text == "auto" || text.StartsWith("auto:", StringComparison.Ordinal))
        {
            var max = 16;
            if (text.Length > 5 && (!int.TryParse(text[5..], NumberStyles.Integer, CultureInfo.InvariantCulture, out max) || max < 1 || max > MaxJobs))
                throw new HerdUsageException($"Error: -j '{text}': the maximum after auto: must be a whole number from 1 to {MaxJobs}, e.g. -j auto:16.");
            return new JobsSpec(max, Adaptive: true, Ramp: ramp);
        }
        if (!int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var n) || n < 1 || n > MaxJobs)
            throw new HerdUsageException($"Error: -j '{text}' is not a valid job count. Use a whole number from 1 to {MaxJobs} (-j 8) or auto[:MAX] (-j auto:16).");
        return new JobsSpec(n);
    }

    /// <summary>More concurrent tasks than this is a typo, not a plan: each holds a connection and a slot.</summary>
    public const int MaxJobs = 4096;

    internal static (TimeSpan? Fixed, double? Percent) ParseTimeout(string? text)
    {
        if (text is null)
            return (null, null);
        if (text.EndsWith('%'))
        {
            if (!double.TryParse(text[..^1], NumberStyles.Float, CultureInfo.InvariantCulture, out var pct) || pct <= 0 || !double.IsFinite(pct) || pct > 1_000_000)
                throw new HerdUsageException($"Error: --timeout '{text}' is not a valid percentage; use e.g. 300% of the median successful runtime.");
            return (null, pct);
        }
        return (Durations.Parse(text, "--timeout"), null);
    }

    private static IReadOnlySet<OutcomeClass> ParseClasses(string text)
    {
        var set = new HashSet<OutcomeClass>();
        foreach (var name in CommandLineParser.SplitList(text))
        {
            set.Add(OutcomeClasses.Parse(name) ?? throw new HerdUsageException(
                $"Error: --rerun-class '{name}' is not an outcome class. Use one of {string.Join(", ", Enum.GetValues<OutcomeClass>().Select(c => c.Name()))}."));
        }
        return set;
    }

    private static SampleSpec ParseSample(string text, int seed)
    {
        if (text.EndsWith('%') && double.TryParse(text[..^1], NumberStyles.Float, CultureInfo.InvariantCulture, out var pct) && pct > 0 && pct <= 100)
            return new SampleSpec(null, pct, seed);
        if (int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var count) && count > 0)
            return new SampleSpec(count, null, seed);
        throw new HerdUsageException($"Error: --sample '{text}' must be a number of tasks (20) or a percentage (5%).");
    }

    private static string? ReadTemplate(ParsedArguments args, string cwd)
    {
        if (args.Has(RunOptions.Prompt) && args.Has(RunOptions.PromptFile))
            throw new HerdUsageException("Error: pass either --prompt or --prompt-file, not both.");
        if (args.Value(RunOptions.PromptFile) is not { } file)
            return args.Value(RunOptions.Prompt);
        return TextInput.ReadFile(Path.GetFullPath(file, cwd), $"--prompt-file '{file}'");
    }

    private static int ParseInt(ParsedArguments args, OptionSpec flag, int fallback, int min)
    {
        if (args.Value(flag) is not { } text)
            return fallback;
        if (!int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var n) || n < min)
            throw new HerdUsageException($"Error: {flag.Key} must be a whole number ≥ {min} (got '{text}').");
        return n;
    }

    private static long? ParseTokens(ParsedArguments args, bool shared)
    {
        if (args.Value(RunOptions.BudgetTokens) is not { } text)
            return null;
        if (!long.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var n) || n < 1024)
            throw new HerdUsageException($"Error: --budget-tokens must be a whole number of tokens, at least 1024 (got '{text}').");
        // Workers on other machines would each hold the ceiling alone: refused rather than silently exceeded.
        if (shared)
            throw new HerdUsageException("Error: --budget-tokens is held by one process; it is not shared across workers yet. Use --budget-usd with --store, or run without --store.");
        return n;
    }

    private static double? ParseUsd(ParsedArguments args, OptionSpec flag)
    {
        if (args.Value(flag) is not { } text)
            return null;
        if (!double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var d) || d <= 0 || !double.IsFinite(d) || d > 1e9)
            throw new HerdUsageException($"Error: {flag.Key} must be a positive number of US dollars (got '{text}').");
        return d;
    }
}
