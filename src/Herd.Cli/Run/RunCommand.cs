using Herd.Agent.Tools;
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
using Herd.Fleet.Isolation;
using Herd.Fleet.Jobs;
using Herd.Fleet.Reports;
using Herd.Fleet.Scheduling;
using Herd.Fleet.Runs;
using Herd.Fleet.Store;
using Herd.Agent.Telemetry;
using Herd.Cli.Telemetry;

namespace Herd.Cli.Run;

/// <summary>
/// <c>herd run</c>: the fan-out (docs/fanout.md, spec fanout.md). Binds the flags into <see cref="RunArguments"/> and a
/// <see cref="RunSpec"/>, hands the run to <see cref="FleetRun"/> and renders what it reports. Validates everything
/// before anything is written.
/// </summary>
public static class RunCommand
{
    public static async Task<int> RunAsync(string[] argv, RunContext? context = null)
    {
        var ctx = context ?? RunContext.FromConsole();
        return await ErrorEdge.RunAsync(HerdCommand.Run, ctx.Err, () => RunCoreAsync(argv, ctx)).ConfigureAwait(false);
    }

    private static async Task<int> RunCoreAsync(string[] argv, RunContext ctx)
    {
        var split = Array.IndexOf(argv, ":::");
        var optionArgs = split < 0 ? argv : argv[..split];
        var inputArgs = split < 0 ? [] : argv[(split + 1)..];
        if (inputArgs.Contains(":::"))
            throw new HerdUsageException("Error: only one ::: input source is supported; combine inputs with --input FILE or --tasks FILE.");
        var args = Parse(optionArgs);
        if (args.Has(RunOptions.Help))
        {
            ctx.Out.Write(CommandLineParser.FormatHelp(RunOptions.Usage, RunOptions.Description, RunOptions.HelpOrder, RunOptions.Footer));
            return 0;
        }
        if (args.Positionals.Count > 0)
            throw new HerdUsageException($"Error: unexpected argument '{args.Positionals[0]}'. Put inputs after ::: (herd run --prompt '…' ::: a b c).");

        var run = RunArguments.Bind(args, ctx.Cwd, ctx.Environment);
        var (today, todayRun) = (args, run);
        RunDefinition? stored = null;
        if (run.Start == RunStart.Resume)
        {
            var (info, where) = run.Store is { } shared
                ? (SharedRunCommand.StoredRun(shared, run.RunDirectory!), $"run '{SharedRunCommand.RunIdOf(run.RunDirectory!)}' in {shared.Redacted}")
                : (ReadStoredRun(run.RunDirectory!), $"'{run.RunDirectory}/run.db'");
            // The stored definition is what the run's tasks do (issue #18); argv is bound only for the plan's keys and
            // this session's options. Stored flags first, today's after: a value given now wins, so e.g. -j can change.
            stored = info.DefinitionJson is { } json ? RunDefinition.Parse(json, where) : null;
            args = Parse([.. ReadStoredArgv(info, where), .. optionArgs]);
            run = RunArguments.Bind(args, ctx.Cwd, ctx.Environment);
        }
        return await ExecuteAsync(args, run, optionArgs, inputArgs, ctx, stored is null ? null : RunDefinitionBinding.Resumed(stored, today, todayRun)).ConfigureAwait(false);
    }

    private static ParsedArguments Parse(string[] optionArgs) => CommandLineParser.Parse(optionArgs, RunOptions.All, ExitCodes.For(HerdCommand.Run));

    /// <summary>The run row of the run to continue.</summary>
    private static RunInfo ReadStoredRun(string runDirectory)
    {
        if (!SqliteRunStore.Exists(runDirectory))
            throw new HerdUsageException(FleetRun.NoRunMessage(runDirectory));
        using var peek = SqliteRunStore.OpenReadOnly(runDirectory);
        return peek.ReadRun() ?? throw new HerdFatalException($"Error: '{runDirectory}/run.db' has no run row; it was not written by herd run.");
    }

    private static string[] ReadStoredArgv(RunInfo info, string where)
    {
        try
        {
            return ReadArgv(info.ArgvJson);
        }
        catch (Exception ex) when (ex is JsonException or InvalidOperationException)
        {
            throw new HerdFatalException($"Error: the options stored in {where} are damaged ({ex.Message}); the run cannot be resumed as it was started.");
        }
    }

    private static async Task<int> ExecuteAsync(ParsedArguments args, RunArguments run, string[] optionArgs, string[] inputArgs, RunContext ctx, RunDefinition? resumed)
    {
        // ---- validate everything first: nothing is written until all of it holds ----
        foreach (var flag in args.AcceptedWithoutEffect)
            ctx.Err.WriteLine($"herd: warning: {flag} has no effect in Herd; ignored.");
        // --timeout is the run's (a duration or N%), not the agent's: the agent never sees it.
        // herd run confines Bash by default (issue #9: unattended fleets); --sandbox off or sandbox.enabled:false opts out.
        var setup = AgentSetup.Validate(args.Without(RunOptions.Timeout), ctx.Cwd, sandboxByDefault: true);

        using var inputs = ReadInputs(run, inputArgs, ctx);
        if (run.Start == RunStart.New && !inputs.Any)
            throw new HerdUsageException("Error: no inputs. Pass them after ::: , on stdin, with --input FILE or with --tasks FILE.ndjson.");
        // issue #13 (engines): the engine is part of each task's key.
        var engineKind = EngineBinding.Kind(args);
        if (run.Start == RunStart.New && run.PromptTemplate is null && inputs.AnyWithoutPrompt && EngineBinding.NeedsPrompt(args, engineKind))
            throw new HerdUsageException("Error: no prompt. Pass --prompt 'template with {}' or --prompt-file FILE (or a \"prompt\" per task in --tasks).");
        var engineName = engineKind.Name();
        var behaviour = Behaviour(setup, args);
        Plan.WarnUnknownReplacements(inputs.Named, [.. inputs.Templates, run.PromptTemplate], w => ctx.Err.WriteLine(w));
        // issue #23: the plan is produced one task at a time as it is stored; --sample keeps only its sample.
        var stream = !inputs.Any ? null : new PlanStream(inputs.Items, run.PromptTemplate, engineName, behaviour, w => ctx.Err.WriteLine(w));
        if (run.DryRun)
            return DryRun(stream?.Tasks().Where(t => run.Shard is not { } ds || ds.Owns(t.Key)) ?? [], setup, run.Estimate, ctx, run.Shard);
        IReadOnlyList<FleetTask>? sampled = null;
        PlanIdentity? identity = null;
        int? planned = null;
        if (run.Sample is { } sample && stream is not null)
        {
            // issue #23: the sample is drawn as the plan streams past; only the tasks it may keep are held.
            using var sampler = new PlanSampler(sample);
            foreach (var task in stream.Tasks())
                sampler.Offer(task);
            // The plan's identity is over every task, before the shard and the sample take their part (docs/ci.md).
            identity = new PlanIdentity(stream.IdentityHash(), []);
            planned = stream.Count;
            sampled = sampler.Take(stream.Count);
            stream = null;
        }
        // issue #20: the commit the tasks start from goes into the stored flags, for resumes and workers elsewhere.
        (run, optionArgs) = PinIsolation(run, optionArgs, ctx.Cwd);
        // The run as it is created: stored with it, and the one thing any host builds the engine from (issue #18).
        var definition = resumed ?? RunDefinitionBinding.Bind(args, run, setup, ctx.Cwd);
        if (run.Store is not null && resumed is null)
            RunDefinitionBinding.RefuseSecretsInClear(definition);
        if (run.Enqueue)
            return SharedRunCommand.Enqueue(run, sampled ?? stream?.Tasks() ?? [], WriteArgv(optionArgs), definition, ctx);

        // issue #13 (engines): an external engine gets its credentials through its own environment; Herd needs no key
        // then, and must not scrub ANTHROPIC_API_KEY from its environment before the claude engine reads it.
        var clientOptions = ctx.Client ?? (definition.Engine.Kind == EngineKind.Herd ? AgentSetup.ClientOptionsFromEnvironment(definition.Agent.Provider) : new ModelClientOptions { ApiKey = "" });
        if (ctx.Client is null && string.IsNullOrEmpty(Environment.GetEnvironmentVariable("HERD_MAX_RETRIES")))
        {
            // Spec §5 "one retry layer": few inner retries, so 429/529 reach the fleet's retry layer and AIMD quickly.
            clientOptions = clientOptions with { MaxRetries = 2 };
        }
        using var client = ModelClientFactory.Create(clientOptions with { OnEndpointNotice = EndpointNotices.StateChanges(ctx.Err, clientOptions.BaseUrlVariable) });
        using var batchClient = definition.Batch is null ? null : new AnthropicBatchClient(clientOptions);
        // The run's MCP servers, one set per slot, started by each slot's first task (docs/mcp.md); stopped when the run ends.
        await using var mcpServers = RunAssembly.McpServers(definition);
        var runDirectory = run.RunDirectory ?? Path.Combine(ctx.Cwd, ".herd", "runs", NewRunId(ctx.Time));
        // issue #20: each task in its own tree, verified; the pool goes when the run ends (also on Ctrl-C).
        using var isolation = new RunIsolation(definition.Isolation, ctx.Cwd, runDirectory, ctx.Time, line => ctx.Err.WriteLine("herd: " + line)) { MaxTurns = definition.Agent.MaxTurns, TaskBudgetUsd = definition.TaskBudgetUsd };
        // The run's own state is read-only to every tool process, wherever it lies (issue #19, class 10).
        var host = new RunHost(client, runDirectory)
        {
            Isolation = isolation,
            EngineEnvironment = ctx.EngineEnvironment,
            Time = ctx.Time,
            ProtectedPaths = RunStatePaths(runDirectory, definition.AuditLogPath, run.JoblogPath, ctx.Cwd),
            HookEnvironment = setup.SettingsEnvironment,
            McpServers = mcpServers,
            BatchClient = batchClient,
            BatchOptions = BatchPolling.FromEnvironment(),
        };
        // issue #13 (engines): checked (the CLI exists) before anything is written.
        RunDefinitionBinding.Check(definition, host);

        using var signals = IsConsole(ctx) ? new RunSignals() : null;
        using var cancel = CancellationTokenSource.CreateLinkedTokenSource(ctx.Cancel, signals?.Token ?? CancellationToken.None);
        var spec = new RunSpec
        {
            JoblogPath = run.JoblogPath,
            Reports = new RunReportOptions(run.Ci, Environment: ctx.Environment),
            Gate = definition.Gate,
            RunDirectory = runDirectory,
            Start = run.Start,
            Plan = sampled ?? [],
            PlanSource = stream,
            Definition = definition,
            Engine = engine => RunAssembly.Engine(definition, host, engine.RunBudget, engine.Patches, engine.Batches, engine.RunTokens),
            Requeue = run.Requeue,
            RerunClasses = run.RerunClasses,
            Jobs = definition.Jobs,
            Schedule = definition.Schedule,
            BudgetUsd = definition.BudgetUsd,
            BudgetTokens = definition.BudgetTokens,
            TaskBudgetUsd = definition.TaskBudgetUsd,
            MaxTurns = definition.Agent.MaxTurns,
            OptionsJson = WriteArgv(optionArgs),
            Cwd = ctx.Cwd,
            SampleOf = planned,
            Shard = run.Shard,
            Identity = identity,
            Time = ctx.Time,
            InterruptedExitCode = () => signals?.ExitCode ?? RunExitCodes.Interrupted,
            Notice = line => ctx.Err.WriteLine("herd: " + line),
        };
        HerdTelemetry.CaptureContent = args.Has(PrintOptions.OtelCaptureContent);
        if (OtlpExport.Current is { } otel)
            spec = spec with { FlushTelemetry = otel.Flush };
        if (run.Store is { } shared)
            spec = spec with { OpenStore = s => SharedRunCommand.Open(shared, s.RunDirectory, ctx.Time), OpenSharedStore = s => SharedRunCommand.Open(shared, s.RunDirectory, ctx.Time) };
        var fleet = new FleetRun(spec);
        var mode = run.Progress switch
        {
            ProgressChoice.Auto => ctx.ErrIsTerminal ? ProgressMode.Terminal : ProgressMode.Plain,
            ProgressChoice.Plain => ProgressMode.Plain,
            _ => ProgressMode.None,
        };
        RunResult result;
        await using (var progress = new ProgressDisplay(() => fleet.Status, ctx.Err, mode, run.ProgressInterval, ctx.Time) { Batch = () => host.BatchWatch.Progress })
        {
            progress.Start();
            result = await fleet.ExecuteAsync(cancel.Token).ConfigureAwait(false);
        }
        ctx.Err.WriteLine(FinalLine(result, run.Store is not null));
        ctx.Out.WriteLine(result.ResultsPath);
        return result.ExitCode;
    }

    private static (RunArguments, string[]) PinIsolation(RunArguments run, string[] optionArgs, string cwd)
    {
        var (spec, args) = IsolationBinding.PinStart(run.Isolation, run.Start == RunStart.New, optionArgs, cwd);
        return (run with { Isolation = spec }, args);
    }

    private static bool IsConsole(RunContext ctx) => ctx.Client is null && ReferenceEquals(ctx.Err, Console.Error);

    /// <param name="shared">The run is kept in a shared store: continuing it needs the store too.</param>
    private static string FinalLine(RunResult result, bool shared)
    {
        var (report, totals, budget) = (result.Report, result.Totals, result.BudgetUsd);
        var classes = string.Join(", ", totals.ByClass.Select(kv => $"{kv.Key.Name()} {kv.Value}"));
        var spend = budget is { } b ? $"${totals.SpentUsd:0.####} of ${b:0.##}" : $"${totals.SpentUsd:0.####}";
        var halted = report.Halt == HaltReason.None ? "" : $"; halted ({report.HaltDetail ?? report.Halt.ToString().ToLowerInvariant()})";
        // Tasks that met a closed endpoint are final (class unreachable): only --resume-failed runs them again.
        var unreachable = totals.ByClass.GetValueOrDefault(OutcomeClass.Unreachable);
        var resume = (totals.Unfinished, unreachable) switch
        {
            (_, > 0) => $"; {unreachable} unreachable{(totals.Unfinished > 0 ? $", {totals.Unfinished} unfinished" : "")} — once the endpoint answers, continue with: herd run --resume-failed {(shared ? "--store URL " : "")}--run-dir {result.RunDirectory}",
            (> 0, _) => $"; {totals.Unfinished} unfinished — continue with: herd run --resume {(shared ? "--store URL " : "")}--run-dir {result.RunDirectory}",
            _ => "",
        };
        return string.Create(CultureInfo.InvariantCulture,
            $"herd: {totals.Tasks - totals.Unfinished}/{totals.Tasks} done in {report.Wall.TotalSeconds:0.0}s ({(classes.Length == 0 ? "none" : classes)}); spent {spend}{halted}{resume}; exit {result.ExitCode}");
    }

    // ---- inputs and plan ---------------------------------------------------------------------------------------

    /// <summary>
    /// The run's inputs: checked now, read and turned into tasks one at a time as the plan is stored (issue #23). Holds
    /// the open input files until the run ends.
    /// </summary>
    /// <param name="Any">There is at least one input.</param>
    /// <param name="Named">The input names the tasks of a --tasks file use (empty otherwise), for the replacement check.</param>
    /// <param name="Templates">The per-task prompts of a --tasks file to check for unknown replacements.</param>
    /// <param name="AnyWithoutPrompt">Some input has no prompt of its own (every plain line).</param>
    private sealed record Inputs(IEnumerable<TaskInput> Items, bool Any, IReadOnlySet<string> Named, IReadOnlyList<string> Templates, bool AnyWithoutPrompt, IReadOnlyList<IDisposable> Open) : IDisposable
    {
        public void Dispose()
        {
            foreach (var file in Open)
                file.Dispose();
        }
    }

    private static readonly IReadOnlySet<string> NoNames = new HashSet<string>();

    private static Inputs ReadInputs(RunArguments run, string[] inputArgs, RunContext ctx)
    {
        if (run.TasksFile is { } tasksFile)
        {
            if (inputArgs.Length > 0 || run.InputFiles.Count > 0)
                throw new HerdUsageException("Error: --tasks cannot be combined with ::: or --input; put every task in the NDJSON file.");
            var file = TaskSources.OpenTasksFile(Path.GetFullPath(tasksFile, ctx.Cwd), tasksFile);
            try
            {
                // Every line is checked in one pass before anything is written; the tasks are parsed again as they are stored.
                var check = TaskSources.CheckTasksFile(file, tasksFile);
                return new Inputs(TaskSources.ReadTasksFile(file, tasksFile), check.Count > 0, check.Named, check.Templates, check.AnyWithoutPrompt, [file]);
            }
            catch
            {
                file.Dispose();
                throw;
            }
        }
        // Every file is opened (and refused if missing or binary) now, before anything is written; its lines are read
        // and become inputs only as the plan is stored.
        var files = new List<IDisposable>();
        try
        {
            var lines = Enumerable.Empty<string>();
            foreach (var path in run.InputFiles)
            {
                var file = TaskSources.OpenInputFile(Path.GetFullPath(path, ctx.Cwd), path);
                files.Add(file);
                lines = lines.Concat(TaskSources.NonBlankLines(file));
            }
            var given = new PeekedLines(lines.Concat(inputArgs));
            files.Add(given);
            var source = given;
            if (!given.Any && run.Start == RunStart.New && ctx.StdinRedirected)
            {
                source = new PeekedLines(TaskSources.NonBlankLines(ctx.Stdin));
                files.Add(source);
            }
            return new Inputs(TaskSources.FromValuesLazily(source.ReadOnce()), source.Any, NoNames, [], source.Any, files);
        }
        catch
        {
            foreach (var file in files)
                file.Dispose();
            throw;
        }
    }

    /// <summary>The options that change what the agent does, for task keys (spec §3). Budgets, timeouts, -j are left out.</summary>
    /// <summary>Every file a run writes for itself: the run directory (run.db and its -wal/-shm, results, transcripts, reports), the audit log and the joblog.</summary>
    internal static IReadOnlyList<ProtectedPath> RunStatePaths(string runDirectory, string? auditLog, string? joblog, string cwd)
    {
        var paths = new List<ProtectedPath> { new(Path.GetFullPath(runDirectory, cwd), "the run directory") };
        if (auditLog is not null)
            paths.Add(new ProtectedPath(Path.GetFullPath(auditLog, cwd), "the audit log"));
        if (joblog is not null)
            paths.Add(new ProtectedPath(Path.GetFullPath(joblog, cwd), "the joblog"));
        return paths;
    }

    internal static JsonObject Behaviour(AgentSetup setup, ParsedArguments args)
    {
        var o = new JsonObject
        {
            ["model"] = setup.Catalog.Resolve(setup.ModelFlag),
            ["system_prompt"] = setup.SystemPrompt.Contains("Today's date:", StringComparison.Ordinal) && !args.Has(PrintOptions.SystemPrompt) && !args.Has(PrintOptions.SystemPromptFile)
                ? "default" + (args.Value(PrintOptions.AppendSystemPrompt) is { } a ? "+" + a : "") + (args.Value(PrintOptions.AppendSystemPromptFile) is { } af ? "+file:" + af : "")
                : setup.SystemPrompt,
            ["tools"] = new JsonArray(setup.Tools.Select(t => (JsonNode?)JsonValue.Create(t.Name)).ToArray()),
            ["allowed"] = new JsonArray(args.Values(PrintOptions.AllowedTools).Select(v => (JsonNode?)JsonValue.Create(v)).ToArray()),
            ["disallowed"] = new JsonArray(args.Values(PrintOptions.DisallowedTools).Select(v => (JsonNode?)JsonValue.Create(v)).ToArray()),
            ["permission_mode"] = setup.PermissionModeName,
            ["json_schema"] = args.Value(PrintOptions.JsonSchema),
            ["max_turns"] = setup.MaxTurns,
        };
        return o;
    }

    private static int DryRun(IEnumerable<FleetTask> plan, AgentSetup setup, bool estimate, RunContext ctx, Shard? shard)
    {
        var options = setup.ToAgentOptions();
        var total = 0.0;
        var count = 0;
        foreach (var task in plan)
        {
            count++;
            var line = new StringBuilder().Append(task.Key.AsSpan(0, 12)).Append('\t').Append(OneLine(task.Name)).Append('\t').Append(OneLine(task.Prompt));
            if (shard is { } s)
                line.Append('\t').Append(s.ToString());
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
                $"herd: {count} task(s); estimated ${total:0.####} with {options.Model} (about ${(count == 0 ? 0 : total / count):0.######} per task: one turn, input ≈ bytes/4 of system prompt, tools and prompt, {EstimatedOutputTokens} output tokens). Run --sample N for a measured projection."));
        }
        else
        {
            ctx.Err.WriteLine($"herd: {count} task(s){(shard is { } s ? $" in shard {s}" : "")}; nothing was run (--dry-run).");
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

    // ---- run identity and stored options -----------------------------------------------------------------------

    internal static string NewRunId(TimeProvider time) =>
        time.GetUtcNow().ToString("yyyyMMdd-HHmm", CultureInfo.InvariantCulture) + "-" + Convert.ToHexStringLower(BitConverter.GetBytes(Random.Shared.Next()).AsSpan(0, 2));

    /// <summary>The option part of argv, minus the plan sources and run-directory flags (the plan itself is in run.db).</summary>
    internal static string WriteArgv(string[] optionArgs)
    {
        var byName = RunOptions.All.SelectMany(o => o.Names.Select(n => (n, o))).GroupBy(x => x.n).ToDictionary(g => g.Key, g => g.Last().o, StringComparer.Ordinal);
        var kept = new List<string>();
        for (var i = 0; i < optionArgs.Length; i++)
        {
            var arg = optionArgs[i];
            var name = arg.Contains('=') && arg.StartsWith("--", StringComparison.Ordinal) ? arg[..arg.IndexOf('=')] : arg;
            if (byName.TryGetValue(name, out var spec) && RunOptions.NotStored.Contains(spec))
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

    internal static string[] ReadArgv(string json)
    {
        using var doc = JsonDocument.Parse(json);
        return doc.RootElement.EnumerateArray().Select(e => e.GetString() ?? "").ToArray();
    }
}
