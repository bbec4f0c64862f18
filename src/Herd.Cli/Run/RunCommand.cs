using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Herd.Agent;
using Herd.Agent.Loop;
using Herd.Agent.Permissions;
using Herd.Agent.Models;
using Herd.Cli.Print;
using Herd.Fleet.Engines;
using Herd.Fleet.Jobs;
using Herd.Fleet.Reports;
using Herd.Fleet.Scheduling;
using Herd.Fleet.Store;

namespace Herd.Cli.Run;

/// <summary><c>herd run</c>: the fan-out (docs/fanout.md, spec fanout.md). Validates everything before it writes anything.</summary>
public static class RunCommand
{
    public const int ExitUsage = 255;
    public const int ExitBudget = 102;
    public const int ExitFatal = 103;
    public const int ExitInterrupted = 130;

    /// <summary>A lock whose heartbeat is older than this is stale (spec §7.1); heartbeats come every 5 s.</summary>
    public static readonly TimeSpan LockStaleAfter = TimeSpan.FromSeconds(30);

    public static async Task<int> RunAsync(string[] argv, RunContext? context = null)
    {
        var ctx = context ?? RunContext.FromConsole();
        try
        {
            var split = Array.IndexOf(argv, ":::");
            var optionArgs = split < 0 ? argv : argv[..split];
            var inputArgs = split < 0 ? [] : argv[(split + 1)..];
            if (inputArgs.Contains(":::"))
                throw new HerdUsageException("Error: only one ::: input source is supported; combine inputs with --input FILE or --tasks FILE.");
            var args = Parse(optionArgs);
            if (args.Has("--help"))
            {
                ctx.Out.Write(CommandLineParser.FormatHelp(RunOptions.Usage, RunOptions.Description, RunOptions.HelpOrder, RunOptions.Footer));
                return 0;
            }
            if (args.Positionals.Count > 0)
                throw new HerdUsageException($"Error: unexpected argument '{args.Positionals[0]}'. Put inputs after ::: (herd run --prompt '…' ::: a b c).");

            var resuming = args.Has("--resume") || args.Has("--resume-failed") || args.Has("--retry-failed") || args.Has("--rerun-class");
            string[]? storedOptions = null;
            if (resuming)
            {
                var dir = args.Value("--run-dir") ?? throw new HerdUsageException("Error: --resume needs --run-dir DIR of the run to continue. List runs with `herd runs list`.");
                var full = Path.GetFullPath(dir, ctx.Cwd);
                if (!RunStore.Exists(full))
                    throw new HerdUsageException($"Error: --run-dir '{dir}' holds no run (no run.db). Pass the directory of an earlier `herd run`; `herd runs list` shows them.");
                using var peek = RunStore.Open(full);
                var info = peek.ReadRun() ?? throw new HerdUsageException($"Error: '{dir}/run.db' has no run row; it was not written by herd run.");
                storedOptions = ReadArgv(info.ArgvJson);
                // Stored flags first, today's after: a value given now wins, so e.g. -j or --budget-usd can change on resume.
                args = Parse([.. storedOptions, .. optionArgs]);
            }
            return await ExecuteAsync(args, optionArgs, inputArgs, resuming, ctx).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is HerdUsageException or CliUsageException or RunLockedException)
        {
            ctx.Err.WriteLine(ex.Message.StartsWith("error:", StringComparison.Ordinal) ? "herd run: " + ex.Message + ". See herd run --help." : ex.Message);
            return ExitUsage;
        }
    }

    private static ParsedArguments Parse(string[] optionArgs) => CommandLineParser.Parse(optionArgs, RunOptions.All);

    private static async Task<int> ExecuteAsync(ParsedArguments args, string[] optionArgs, string[] inputArgs, bool resuming, RunContext ctx)
    {
        // ---- validate everything first: nothing is written until all of it holds ----
        foreach (var flag in args.AcceptedWithoutEffect)
            ctx.Err.WriteLine($"herd: warning: {flag} has no effect in Herd; ignored.");
        // herd run confines Bash by default (issue #9: unattended fleets); --sandbox off or sandbox.enabled:false opts out.
        var setup = AgentSetup.Validate(args, ctx.Cwd, sandboxByDefault: true);
        var limiter = ParseJobs(args.Value("--jobs"), args.Value("--ramp"), ctx.Time);
        var retries = ParseInt(args, "--retries", 3, min: 0);
        var retryBase = args.Value("--retry-base") is { } rb ? Durations.Parse(rb, "--retry-base")
            : Environment.GetEnvironmentVariable("HERD_FLEET_RETRY_BASE_MS") is { Length: > 0 } ms && double.TryParse(ms, CultureInfo.InvariantCulture, out var msv) ? TimeSpan.FromMilliseconds(msv)
            : TimeSpan.FromSeconds(2);
        var (timeout, timeoutPct) = ParseTimeout(args.Value("--timeout"));
        var timeoutFloor = args.Value("--timeout-floor") is { } tf ? Durations.Parse(tf, "--timeout-floor") : TimeSpan.FromMinutes(30);
        var idle = args.Value("--idle-timeout") is { } it ? Durations.Parse(it, "--idle-timeout") : (TimeSpan?)null;
        var halt = args.Value("--halt") is { } h ? HaltPolicy.Parse(h, ParseInt(args, "--halt-min", 10, min: 1)) : HaltPolicy.Never;
        var delay = args.Value("--delay") is { } d ? (d is "0" ? TimeSpan.Zero : Durations.Parse(d, "--delay")) : TimeSpan.Zero;
        var budget = ParseUsd(args, "--budget-usd");
        var taskBudget = ParseUsd(args, "--task-budget-usd") ?? setup.MaxBudgetUsd;
        var denialIsSuccess = args.Value("--on-denial") switch
        {
            null or "fail" => false,
            "success" => true,
            var other => throw new HerdUsageException($"Error: --on-denial '{other}' is not one of fail, success."),
        };
        var progressMode = args.Value("--progress") ?? "auto";
        if (progressMode is not ("auto" or "plain" or "none"))
            throw new HerdUsageException($"Error: --progress '{progressMode}' is not one of auto, plain, none.");
        var progressInterval = args.Value("--progress-interval") is { } pi ? Durations.Parse(pi, "--progress-interval") : TimeSpan.FromSeconds(30);
        var template = ReadTemplate(args, ctx.Cwd);

        var inputs = ReadInputs(args, inputArgs, resuming, ctx);
        if (!resuming && inputs.Count == 0)
            throw new HerdUsageException("Error: no inputs. Pass them after ::: , on stdin, with --input FILE or with --tasks FILE.ndjson.");
        if (!resuming && template is null && inputs.Any(i => i.PromptTemplate is null))
            throw new HerdUsageException("Error: no prompt. Pass --prompt 'template with {}' or --prompt-file FILE (or a \"prompt\" per task in --tasks).");

        const string engineName = "herd";
        var behaviour = Behaviour(setup, args);
        var plan = Plan.Build(inputs, template, engineName, behaviour, ctx.Err.WriteLine);

        if (args.Has("--dry-run"))
            return DryRun(plan, setup, args.Has("--estimate"), ctx);
        if (args.Value("--sample") is { } sampleText)
            plan = Sample(plan, sampleText, ParseInt(args, "--seed", 1, min: int.MinValue), out _);

        var clientOptions = ctx.Client ?? AgentSetup.ClientOptionsFromEnvironment();
        if (ctx.Client is null && string.IsNullOrEmpty(Environment.GetEnvironmentVariable("HERD_MAX_RETRIES")))
        {
            // Spec §5 "one retry layer": few inner retries, so 429/529 reach the fleet's retry layer and AIMD quickly.
            clientOptions = clientOptions with { MaxRetries = 2 };
        }

        // ---- state: open or create the run directory ----
        var runDir = args.Value("--run-dir") is { } rd ? Path.GetFullPath(rd, ctx.Cwd) : null;
        var runId = runDir is null ? NewRunId(ctx.Time) : Path.GetFileName(runDir.TrimEnd('/'));
        runDir ??= Path.Combine(ctx.Cwd, ".herd", "runs", runId);
        if (!resuming && RunStore.Exists(runDir))
            throw new HerdUsageException($"Error: --run-dir '{runDir}' already holds a run. Continue it with --resume, or pass a new --run-dir.");

        using var store = RunStore.Open(runDir);
        store.AcquireLock(Environment.ProcessId, Environment.MachineName, ctx.Time.GetUtcNow(), LockStaleAfter, IsAlive);
        using var heartbeat = ctx.Time.CreateTimer(_ =>
        {
            try
            {
                store.Heartbeat(ctx.Time.GetUtcNow());
            }
            catch (Exception ex) when (ex is Microsoft.Data.Sqlite.SqliteException or ObjectDisposedException or InvalidOperationException)
            {
                // A missed heartbeat only makes the lock look older; the next one catches up.
            }
        }, null, TimeSpan.FromSeconds(5), TimeSpan.FromSeconds(5));

        var info = store.ReadRun();
        if (info is null)
        {
            info = new RunInfo(runId, ctx.Time.GetUtcNow(), WriteArgv(optionArgs), ctx.Cwd, engineName,
                typeof(AgentSession).Assembly.GetName().Version?.ToString(3) ?? "0.0.0");
            store.CreateRun(info);
        }
        var recovered = store.RecoverInterrupted(ctx.Time.GetUtcNow());
        if (recovered > 0)
            ctx.Err.WriteLine($"herd: {recovered} attempt(s) without a terminal event were marked interrupted and requeued (no retry used).");
        if (plan.Count > 0)
        {
            var added = store.AddTasks(plan);
            if (resuming && added > 0)
                ctx.Err.WriteLine($"herd: {added} new task(s) added to the run.");
        }
        if (args.Has("--retry-failed") || args.Has("--resume-failed"))
        {
            var n = store.Requeue(c => OutcomeClasses.Parse(c) is not { } oc || !oc.IsSuccess());
            ctx.Err.WriteLine($"herd: {n} failed task(s) requeued.");
        }
        if (args.Value("--rerun-class") is { } classes)
        {
            var wanted = CommandLineParser.SplitList(classes).ToHashSet(StringComparer.Ordinal);
            var n = store.Requeue(wanted.Contains);
            ctx.Err.WriteLine($"herd: {n} task(s) of class {string.Join(",", wanted)} requeued.");
        }
        var tasks = store.LoadTasks();
        if (args.Has("--retry-failed"))
        {
            // --retry-failed runs failed keys only: tasks never run stay pending for --resume.
            var requeued = tasks.Where(t => t.State != "done" && t.Attempts > 0).Select(t => t.Task.Key).ToHashSet();
            tasks = tasks.Where(t => t.State == "done" || requeued.Contains(t.Task.Key)).ToArray();
        }
        if (resuming && plan.Count > 0)
        {
            var produced = plan.Select(t => t.Key).ToHashSet(StringComparer.Ordinal);
            var orphaned = tasks.Count(t => !produced.Contains(t.Task.Key));
            if (orphaned > 0)
                ctx.Err.WriteLine($"herd: {orphaned} stored task(s) are no longer produced by the inputs (orphaned); they are kept and run too.");
        }

        using var results = ResultsFile.Rebuild(Path.Combine(runDir, "results.ndjson"), store.FinalRecords());
        var ledger = budget is { } ceiling ? new SpendLedger(ceiling, store.TotalSpentUsd()) : null;
        using var client = new AnthropicMessagesClient(clientOptions);
        var auditPath = args.Value("--audit-log") is { } audit ? Path.GetFullPath(audit, ctx.Cwd) : null;
        var engine = new InProcessAgentEngine(client, _ => setup.ToAgentOptions() with { MaxBudgetUsd = taskBudget, TimeProvider = ctx.Time }, ledger, ctx.Time)
        {
            DenialIsSuccess = denialIsSuccess,
            // Every task's tool calls go to one audit log; each line carries the attempt's session id.
            ExtraSink = auditPath is null ? null : a => new AuditLog(auditPath, a.SessionId),
        };
        var options = new FleetOptions
        {
            Limiter = limiter,
            Retry = new RetryPolicy { MaxRetries = retries, BaseDelay = retryBase },
            Halt = halt,
            Delay = delay,
            Timeout = timeout,
            TimeoutPercent = timeoutPct,
            TimeoutFloor = timeoutFloor,
            IdleTimeout = idle,
            Budget = ledger,
            Caps = new CapsInForce(setup.MaxTurns, taskBudget, timeout, idle),
            Time = ctx.Time,
        };
        var runner = new FleetRunner(engine, store, results, options);

        using var signals = IsConsole(ctx) ? new RunSignals() : null;
        using var cancel = CancellationTokenSource.CreateLinkedTokenSource(ctx.Cancel, signals?.Token ?? CancellationToken.None);
        var mode = progressMode == "auto" ? (ctx.ErrIsTerminal ? ProgressMode.Terminal : ProgressMode.Plain) : progressMode == "plain" ? ProgressMode.Plain : ProgressMode.None;
        await using var progress = new ProgressDisplay(runner, ctx.Err, mode, progressInterval, ctx.Time);
        progress.Start();
        store.SetStatus("running", null);
        var report = await runner.RunAsync(tasks, cancel.Token).ConfigureAwait(false);
        await progress.StopAsync().ConfigureAwait(false);

        var totals = store.Totals();
        var exit = ExitCode(report, totals);
        if (exit == ExitInterrupted && signals?.ExitCode is { } signalled)
            exit = signalled; // 143 after SIGTERM (house style), 130 after SIGINT

        var status = report.Halt switch
        {
            HaltReason.Interrupted => "interrupted",
            HaltReason.None when totals.Unfinished == 0 => "finished",
            HaltReason.None => "stopped",
            _ => "halted",
        };
        store.SetStatus(status, exit);
        double? projected = report.ProjectedUsd;
        if (args.Value("--sample") is { } s2)
        {
            var full = Sample(Plan.Build(inputs, template, engineName, behaviour, _ => { }), s2, ParseInt(args, "--seed", 1, min: int.MinValue), out var totalPlanned);
            _ = full;
            var costs = totals.CostsUsd;
            if (costs.Count > 0)
            {
                projected = Summary.Percentile(costs, 0.5) * totalPlanned;
                ctx.Err.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"herd: sample of {costs.Count} task(s): p50 ${Summary.Percentile(costs, 0.5):0.####}, p90 ${Summary.Percentile(costs, 0.9):0.####} per task; projected full run of {totalPlanned} task(s): ${projected:0.##} (p90 ${Summary.Percentile(costs, 0.9) * totalPlanned:0.##})"));
            }
        }
        File.WriteAllText(Path.Combine(runDir, "summary.json"), Summary.Build(info, totals, status, exit, report.Wall, budget, projected));
        store.ReleaseLock();

        ctx.Err.WriteLine(FinalLine(report, totals, budget, exit, runDir));
        ctx.Out.WriteLine(results.Path);
        return exit;
    }

    private static bool IsConsole(RunContext ctx) => ctx.Client is null && ReferenceEquals(ctx.Err, Console.Error);

    /// <summary>Spec §2: 0 all ok, 1–100 failed count, 101 more; 102 budget, 103 run-fatal; 130 interrupted. Precedence 103 > 102 > count.</summary>
    public static int ExitCode(FleetReport report, RunTotals totals)
    {
        if (report.Halt == HaltReason.Interrupted)
            return ExitInterrupted;
        if (report.Halt == HaltReason.Fatal)
            return ExitFatal;
        if (report.Halt == HaltReason.Budget)
            return ExitBudget;
        var failed = Summary.Failed(totals);
        return failed > 100 ? 101 : failed;
    }

    private static string FinalLine(FleetReport report, RunTotals totals, double? budget, int exit, string runDir)
    {
        var classes = string.Join(", ", totals.ByClass.Select(kv => $"{kv.Key} {kv.Value}"));
        var spend = budget is { } b ? $"${totals.SpentUsd:0.####} of ${b:0.##}" : $"${totals.SpentUsd:0.####}";
        var halted = report.Halt == HaltReason.None ? "" : $"; halted ({report.HaltDetail ?? report.Halt.ToString().ToLowerInvariant()})";
        var resume = totals.Unfinished > 0 ? $"; {totals.Unfinished} unfinished — continue with: herd run --resume --run-dir {runDir}" : "";
        return string.Create(CultureInfo.InvariantCulture,
            $"herd: {totals.Tasks - totals.Unfinished}/{totals.Tasks} done in {report.Wall.TotalSeconds:0.0}s ({(classes.Length == 0 ? "none" : classes)}); spent {spend}{halted}{resume}; exit {exit}");
    }

    // ---- inputs and plan ---------------------------------------------------------------------------------------

    private static IReadOnlyList<TaskInput> ReadInputs(ParsedArguments args, string[] inputArgs, bool resuming, RunContext ctx)
    {
        var list = new List<TaskInput>();
        if (args.Value("--tasks") is { } tasksFile)
        {
            if (inputArgs.Length > 0 || args.Has("--input"))
                throw new HerdUsageException("Error: --tasks cannot be combined with ::: or --input; put every task in the NDJSON file.");
            list.AddRange(TaskSources.FromTasksFile(Path.GetFullPath(tasksFile, ctx.Cwd), tasksFile));
        }
        foreach (var file in args.Values("--input"))
            list.AddRange(TaskSources.FromInputFile(Path.GetFullPath(file, ctx.Cwd), file));
        list.AddRange(TaskSources.FromValues(inputArgs));
        if (list.Count == 0 && !resuming && ctx.StdinRedirected && !args.Has("--tasks"))
            list.AddRange(TaskSources.FromLines(ctx.Stdin));
        return list;
    }

    private static string? ReadTemplate(ParsedArguments args, string cwd)
    {
        if (args.Has("--prompt") && args.Has("--prompt-file"))
            throw new HerdUsageException("Error: pass either --prompt or --prompt-file, not both.");
        if (args.Value("--prompt-file") is { } file)
        {
            var path = Path.GetFullPath(file, cwd);
            try
            {
                return File.ReadAllText(path);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                throw new HerdUsageException($"Error: --prompt-file '{file}' cannot be read ({ex.Message}).");
            }
        }
        return args.Value("--prompt");
    }

    /// <summary>The options that change what the agent does, for task keys (spec §3). Budgets, timeouts, -j are left out.</summary>
    internal static JsonObject Behaviour(AgentSetup setup, ParsedArguments args)
    {
        var o = new JsonObject
        {
            ["model"] = setup.Catalog.Resolve(setup.ModelFlag),
            ["system_prompt"] = setup.SystemPrompt.Contains("Today's date:", StringComparison.Ordinal) && !args.Has("--system-prompt") && !args.Has("--system-prompt-file")
                ? "default" + (args.Value("--append-system-prompt") is { } a ? "+" + a : "") + (args.Value("--append-system-prompt-file") is { } af ? "+file:" + af : "")
                : setup.SystemPrompt,
            ["tools"] = new JsonArray(setup.Tools.Select(t => (JsonNode?)JsonValue.Create(t.Name)).ToArray()),
            ["allowed"] = new JsonArray(args.Values("--allowedTools").Select(v => (JsonNode?)JsonValue.Create(v)).ToArray()),
            ["disallowed"] = new JsonArray(args.Values("--disallowedTools").Select(v => (JsonNode?)JsonValue.Create(v)).ToArray()),
            ["permission_mode"] = setup.PermissionModeName,
            ["json_schema"] = args.Value("--json-schema"),
            ["max_turns"] = setup.MaxTurns,
        };
        return o;
    }

    private static IReadOnlyList<FleetTask> Sample(IReadOnlyList<FleetTask> plan, string text, int seed, out int total)
    {
        total = plan.Count;
        int n;
        if (text.EndsWith('%') && double.TryParse(text[..^1], NumberStyles.Float, CultureInfo.InvariantCulture, out var pct) && pct > 0 && pct <= 100)
            n = Math.Max(1, (int)Math.Round(plan.Count * pct / 100));
        else if (int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var count) && count > 0)
            n = Math.Min(count, plan.Count);
        else
            throw new HerdUsageException($"Error: --sample '{text}' must be a number of tasks (20) or a percentage (5%).");
        var random = new Random(seed);
        return plan.OrderBy(_ => random.Next()).Take(n).OrderBy(t => t.Seq).ToArray();
    }

    private static int DryRun(IReadOnlyList<FleetTask> plan, AgentSetup setup, bool estimate, RunContext ctx)
    {
        var options = setup.ToAgentOptions();
        var total = 0.0;
        foreach (var task in plan)
        {
            var line = new StringBuilder().Append(task.Key.AsSpan(0, 12)).Append('\t').Append(OneLine(task.Name)).Append('\t').Append(OneLine(task.Prompt));
            if (estimate)
            {
                var cost = EstimateCost(task, options);
                total += cost;
                line.Append('\t').Append(cost.ToString("0.######", CultureInfo.InvariantCulture));
            }
            ctx.Out.WriteLine(line.ToString());
        }
        if (estimate)
        {
            ctx.Err.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"herd: {plan.Count} task(s); estimated ${total:0.####} with {options.Model} (about ${(plan.Count == 0 ? 0 : total / plan.Count):0.######} per task: one turn, input ≈ bytes/4 of system prompt, tools and prompt, {EstimatedOutputTokens} output tokens). Run --sample N for a measured projection."));
        }
        else
        {
            ctx.Err.WriteLine($"herd: {plan.Count} task(s); nothing was run (--dry-run).");
        }
        return 0;
    }

    /// <summary>Assumed output of one task for --estimate; a sample (--sample) measures the real figure.</summary>
    public const int EstimatedOutputTokens = 500;

    internal static double EstimateCost(FleetTask task, AgentOptions options)
    {
        var toolBytes = options.Tools.Sum(t => t.Description.Length + t.InputSchema().ToJsonString().Length);
        var inputTokens = (Encoding.UTF8.GetByteCount(options.SystemPrompt) + Encoding.UTF8.GetByteCount(task.Prompt) + toolBytes) / 4 + 16;
        return options.Catalog.CostOf(options.Model, new Usage(InputTokens: inputTokens, OutputTokens: EstimatedOutputTokens));
    }

    private static string OneLine(string s) => s.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\n", "\\n", StringComparison.Ordinal).Replace("\t", "\\t", StringComparison.Ordinal);

    // ---- option parsing ----------------------------------------------------------------------------------------

    internal static ConcurrencyLimiter ParseJobs(string? text, string? rampText, TimeProvider time)
    {
        var ramp = 4;
        if (rampText is not null && (!int.TryParse(rampText, NumberStyles.Integer, CultureInfo.InvariantCulture, out ramp) || ramp < 1))
            throw new HerdUsageException($"Error: --ramp must be a positive whole number (got '{rampText}').");
        if (text is null)
            return ConcurrencyLimiter.Fixed(8, time);
        if (text == "auto" || text.StartsWith("auto:", StringComparison.Ordinal))
        {
            var max = 16;
            if (text.Length > 5 && (!int.TryParse(text[5..], NumberStyles.Integer, CultureInfo.InvariantCulture, out max) || max < 1))
                throw new HerdUsageException($"Error: -j '{text}': the maximum after auto: must be a positive whole number, e.g. -j auto:16.");
            return ConcurrencyLimiter.Auto(max, ramp, time);
        }
        if (!int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var n) || n < 1)
            throw new HerdUsageException($"Error: -j '{text}' is not a valid job count. Use a positive whole number (-j 8) or auto[:MAX] (-j auto:16).");
        return ConcurrencyLimiter.Fixed(n, time);
    }

    internal static (TimeSpan? Fixed, double? Percent) ParseTimeout(string? text)
    {
        if (text is null)
            return (null, null);
        if (text.EndsWith('%'))
        {
            if (!double.TryParse(text[..^1], NumberStyles.Float, CultureInfo.InvariantCulture, out var pct) || pct <= 0)
                throw new HerdUsageException($"Error: --timeout '{text}' is not a valid percentage; use e.g. 300% of the median successful runtime.");
            return (null, pct);
        }
        return (Durations.Parse(text, "--timeout"), null);
    }

    private static int ParseInt(ParsedArguments args, string flag, int fallback, int min)
    {
        if (args.Value(flag) is not { } text)
            return fallback;
        if (!int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var n) || n < min)
            throw new HerdUsageException($"Error: {flag} must be a whole number ≥ {min} (got '{text}').");
        return n;
    }

    private static double? ParseUsd(ParsedArguments args, string flag)
    {
        if (args.Value(flag) is not { } text)
            return null;
        if (!double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var d) || d <= 0 || !double.IsFinite(d))
            throw new HerdUsageException($"Error: {flag} must be a positive number of US dollars (got '{text}').");
        return d;
    }

    private static string NewRunId(TimeProvider time) =>
        time.GetUtcNow().ToString("yyyyMMdd-HHmm", CultureInfo.InvariantCulture) + "-" + Convert.ToHexStringLower(BitConverter.GetBytes(Random.Shared.Next()).AsSpan(0, 2));

    private static bool IsAlive(int pid)
    {
        try
        {
            using var p = System.Diagnostics.Process.GetProcessById(pid);
            return !p.HasExited;
        }
        catch (Exception ex) when (ex is ArgumentException or InvalidOperationException)
        {
            return false;
        }
    }

    /// <summary>The option part of argv, minus the plan sources and run-directory flags (the plan itself is in run.db).</summary>
    private static string WriteArgv(string[] optionArgs)
    {
        var byName = RunOptions.All.SelectMany(o => o.Names.Select(n => (n, o))).GroupBy(x => x.n).ToDictionary(g => g.Key, g => g.Last().o, StringComparer.Ordinal);
        var kept = new List<string>();
        for (var i = 0; i < optionArgs.Length; i++)
        {
            var arg = optionArgs[i];
            var name = arg.Contains('=') && arg.StartsWith("--", StringComparison.Ordinal) ? arg[..arg.IndexOf('=')] : arg;
            if (byName.TryGetValue(name, out var spec) && RunOptions.NotStored.Contains(spec.Key))
            {
                if (spec.Arity == Arity.Value && name == arg)
                    i++;
                continue;
            }
            kept.Add(arg);
        }
        return StoreArgv(kept);
    }

    private static string StoreArgv(IEnumerable<string> argv)
    {
        using var buffer = new MemoryStream();
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartArray();
            foreach (var a in argv)
                w.WriteStringValue(a);
            w.WriteEndArray();
        }
        return Encoding.UTF8.GetString(buffer.ToArray());
    }

    private static string[] ReadArgv(string json)
    {
        using var doc = JsonDocument.Parse(json);
        return doc.RootElement.EnumerateArray().Select(e => e.GetString() ?? "").ToArray();
    }
}
