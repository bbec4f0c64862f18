using System.Globalization;
using System.Text;
using System.Text.Json;
using Herd.Fleet.Engines;
using Herd.Fleet.Reports;
using Herd.Fleet.Store;

namespace Herd.Cli.Run;

/// <summary><c>herd runs list|show|watch RUN [--json] [--root DIR]</c>: read run directories (spec §9 "reads the run directory"), or a shared store with <c>--store</c>.</summary>
public static class RunsCommand
{
    private const string Usage = "Usage: herd runs list [--root DIR] [--json]\n       herd runs show RUN|DIR [--root DIR] [--json]\n       herd runs watch RUN|DIR [--root DIR] [--json] [--once] [--interval DURATION]\n       herd runs list|show RUN|watch RUN|export RUN [--out DIR] --store postgres://… (a shared store, or HERD_STORE; docs/scale-out.md)\n";

    public static int Run(string[] args, TextWriter stdout, TextWriter stderr, string cwd) =>
        ErrorEdge.Run(HerdCommand.Runs, stderr, () => RunCore(args, stdout, stderr, cwd));

    private static int RunCore(string[] args, TextWriter stdout, TextWriter stderr, string cwd)
    {
        var json = args.Contains("--json");
        var once = args.Contains("--once");
        var rest = args.Where(a => a is not ("--json" or "--once")).ToList();
        var interval = TimeSpan.FromSeconds(2);
        var intervalIndex = rest.IndexOf("--interval");
        if (intervalIndex >= 0)
        {
            if (intervalIndex + 1 >= rest.Count)
                throw new Herd.Agent.HerdUsageException("Error: --interval needs a duration, e.g. --interval 5s.");
            interval = Herd.Agent.Durations.Parse(rest[intervalIndex + 1], "--interval");
            if (interval <= TimeSpan.Zero)
                throw new Herd.Agent.HerdUsageException("Error: --interval must be longer than 0, e.g. --interval 5s.");
            rest.RemoveRange(intervalIndex, 2);
        }
        var rootIndex = rest.IndexOf("--root");
        var root = Path.Combine(cwd, ".herd", "runs");
        if (rootIndex >= 0)
        {
            if (rootIndex + 1 >= rest.Count)
                throw new Herd.Agent.HerdUsageException("Error: --root needs a directory, e.g. --root .herd/runs.");
            root = Path.GetFullPath(rest[rootIndex + 1], cwd);
            rest.RemoveRange(rootIndex, 2);
        }
        // A shared store (issue #14): --store URL or HERD_STORE; see SharedRunCommand.
        var storeIndex = rest.IndexOf("--store");
        var storeText = storeIndex >= 0 && storeIndex + 1 < rest.Count ? rest[storeIndex + 1] : Environment.GetEnvironmentVariable("HERD_STORE");
        if (storeIndex >= 0)
            rest.RemoveRange(storeIndex, Math.Min(2, rest.Count - storeIndex));
        if (rest.FirstOrDefault() is not ("-h" or "--help") && RunArguments.ParseStore(storeText) is { } shared)
        {
            if (rest is ["watch", var runId])
            {
                using var store = SharedRunCommand.OpenExisting(shared, runId);
                using var sharedSignals = ReferenceEquals(stdout, Console.Out) ? new Print.RunSignals() : null;
                return RunWatch.Run(store, json, once, interval, stdout, IsTerminal(stdout), sharedSignals?.Token ?? CancellationToken.None);
            }
            return SharedRunCommand.Runs(rest, json, shared, stdout, stderr, cwd);
        }
        switch (rest.FirstOrDefault())
        {
            case "list":
                if (File.Exists(root))
                    throw new Herd.Agent.HerdUsageException($"Error: --root '{root}' is a file, not a directory of runs.");
                return List(root, json, stdout, stderr);
            case "show" or "watch" when rest.Count == 2:
                var given = Path.GetFullPath(rest[1], cwd);
                var dir = File.Exists(Path.Combine(given, "run.db")) ? given : Path.Combine(root, rest[1]);
                if (!File.Exists(Path.Combine(dir, "run.db")))
                    throw new Herd.Agent.HerdUsageException($"Error: no run '{rest[1]}' (looked for {dir}/run.db). `herd runs list` shows the runs under {root}.");
                if (rest[0] == "watch")
                {
                    using var signals = ReferenceEquals(stdout, Console.Out) ? new Print.RunSignals() : null;
                    return RunWatch.Run(dir, json, once, interval, stdout, IsTerminal(stdout), signals?.Token ?? CancellationToken.None);
                }
                return Show(dir, json, stdout);
            case "-h" or "--help":
                stdout.Write(Usage);
                return 0;
            default:
                stderr.Write(Usage);
                return ExitCodes.For(HerdCommand.Runs).Usage;
        }
    }

    private static bool IsTerminal(TextWriter stdout) =>
        ReferenceEquals(stdout, Console.Out) && !Console.IsOutputRedirected && Environment.GetEnvironmentVariable("TERM") != "dumb";

    /// <summary>Every run under <paramref name="root"/>; a damaged one is named on stderr and the listing goes on.</summary>
    private static int List(string root, bool json, TextWriter stdout, TextWriter stderr)
    {
        var dirs = Directory.Exists(root) ? Directory.GetDirectories(root).Where(d => File.Exists(Path.Combine(d, "run.db"))).ToArray() : [];
        if (!json)
            stdout.WriteLine($"{"RUN",-20} {"STATUS",-12} {"TASKS",6} {"DONE",6} {"FAILED",6} {"COST",10}  CREATED");
        if (dirs.Length == 0)
            stderr.WriteLine($"herd runs: no runs under {root}. herd run keeps its runs in .herd/runs of the folder it started in: run this there, or pass --root DIR (or --store URL for a shared store).");
        var damaged = 0;
        var rows = new List<(DateTimeOffset Created, string Line)>();
        foreach (var dir in dirs)
        {
            RunInfo? info;
            RunStatus status;
            int? exit;
            RunTotals totals;
            try
            {
                using var store = SqliteRunStore.OpenReadOnly(dir);
                info = store.ReadRun();
                if (info is null)
                    continue;
                (status, exit) = store.ReadStatus();
                totals = store.Totals();
            }
            catch (Exception ex) when (ErrorEdge.Describe(ex) is { } line)
            {
                damaged++;
                stderr.WriteLine($"herd runs: skipped {Path.GetFileName(dir)}: {line.Text}");
                continue;
            }
            if (json)
            {
                rows.Add((info.Created, Json(w =>
                {
                    w.WriteStartObject();
                    w.WriteString("run_id", info.RunId);
                    w.WriteString("dir", dir);
                    w.WriteString("status", status.Name());
                    if (exit is { } x)
                        w.WriteNumber("exit_code", x);
                    w.WriteNumber("tasks", totals.Tasks);
                    w.WriteNumber("succeeded", Summary.Succeeded(totals));
                    w.WriteNumber("failed", Summary.Failed(totals));
                    w.WriteNumber("unfinished", totals.Unfinished);
                    w.WriteNumber("cost_usd", Math.Round(totals.SpentUsd, 9));
                    w.WriteString("created", StoreNames.Iso(info.Created));
                    w.WriteEndObject();
                })));
            }
            else
            {
                rows.Add((info.Created, string.Create(CultureInfo.InvariantCulture,
                    $"{info.RunId,-20} {status.Name(),-12} {totals.Tasks,6} {totals.Tasks - totals.Unfinished,6} {Summary.Failed(totals),6} {"$" + totals.SpentUsd.ToString("0.####", CultureInfo.InvariantCulture),10}  {StoreNames.Iso(info.Created)}")));
            }
        }
        // Newest first, as herd sessions list: a run id's time is only minutes, and runs from other machines interleave.
        foreach (var (_, line) in rows.OrderByDescending(r => r.Created))
            stdout.WriteLine(line);
        return damaged == 0 ? 0 : ExitCodes.ListSkippedDamaged;
    }

    private static int Show(string dir, bool json, TextWriter stdout)
    {
        using var store = SqliteRunStore.OpenReadOnly(dir);
        var info = store.ReadRun() ?? throw new Herd.Agent.HerdFatalException($"Error: '{dir}/run.db' has no run row; it was not written by herd run.");
        var (status, exit) = store.ReadStatus();
        var totals = store.Totals();
        if (json)
        {
            var text = Summary.Build(info, totals, status, exit ?? -1, RunReader.Wall(store, dir), null, null);
            using var doc = JsonDocument.Parse(text);
            stdout.WriteLine(Json(w => doc.RootElement.WriteTo(w)));
            return 0;
        }
        stdout.WriteLine($"run        {info.RunId}");
        stdout.WriteLine($"directory  {dir}");
        stdout.WriteLine($"status     {status.Name()}{(exit is { } x ? $" (exit {x})" : "")}");
        stdout.WriteLine($"created    {StoreNames.Iso(info.Created)}");
        stdout.WriteLine($"engine     {info.Engine} {info.EngineVersion}");
        // What the run was created with, from its stored definition (argv is kept for display only).
        if (Herd.Fleet.Runs.RunDefinition.ReadOrNull(info.DefinitionJson) is { } definition)
        {
            if (definition.Engine.Kind == Herd.Fleet.Engines.EngineKind.Herd && definition.Agent.Model is { } model)
                stdout.WriteLine($"model      {model}");
            if (definition.BudgetUsd is { } ceiling)
                stdout.WriteLine(string.Create(CultureInfo.InvariantCulture, $"budget     ${ceiling:0.##}"));
        }
        stdout.WriteLine($"tasks      {totals.Tasks} ({totals.Tasks - totals.Unfinished} finished, {totals.Unfinished} unfinished; {totals.Attempts} attempts)");
        foreach (var (cls, n) in totals.ByClass)
            stdout.WriteLine($"  {cls.Name(),-22} {n,6}");
        stdout.WriteLine(string.Create(CultureInfo.InvariantCulture, $"cost       ${totals.SpentUsd:0.######}"));
        stdout.WriteLine(string.Create(CultureInfo.InvariantCulture, $"tokens     in {totals.Tokens.InputTokens}, out {totals.Tokens.OutputTokens}, cache read {totals.Tokens.CacheReadInputTokens}, cache write {totals.Tokens.CacheCreationInputTokens}"));
        stdout.WriteLine($"results    {Path.Combine(dir, "results.ndjson")}");
        if (File.Exists(Path.Combine(dir, Herd.Fleet.Isolation.TreePool.StateFile)))
            ShowChanges(RunDigest.Build(RunReader.Open(dir), ReportOptions.Default), dir, stdout);
        return 0;
    }

    /// <summary>
    /// With --isolate/--verify: the changes in total, then per task (the digest's top rows: failed first, then in plan
    /// order) files, lines +/−, verify runs, fix rounds and a failed verification's last output line. One pass over
    /// the run, so a run of any size is shown in bounded memory.
    /// </summary>
    /// <param name="runArgument">How the commands it suggests name the run (a directory, or <c>RUN --store URL</c>).</param>
    internal static void ShowChanges(RunDigest run, string runArgument, TextWriter stdout)
    {
        if (run.ChangeTasks == 0)
            return;
        var dir = runArgument;
        stdout.WriteLine($"changes    {run.ChangedTasks} task(s) changed {run.FilesChanged} file(s), +{run.LinesAdded} -{run.LinesRemoved}; review with: herd apply {dir} --check");
        if (run.VerifyPassed + run.VerifyFailed > 0)
            stdout.WriteLine($"verify     {run.VerifyPassed} passed, {run.VerifyFailed} failed; {run.FixRounds} fix round(s)");
        foreach (var t in run.Changes)
        {
            var c = t.Changes;
            var verify = t.Verify is { } v ? $"  verify {(v.Passed ? "passed" : "failed")} ({v.Runs} run(s), {v.FixRounds} fix round(s))" : "";
            stdout.WriteLine($"  {t.Key[..Math.Min(12, t.Key.Length)]}  {t.Class,-14} {c?.Files.Count ?? 0,4} file(s) +{c?.LinesAdded ?? 0} -{c?.LinesRemoved ?? 0}{verify}  {t.Name}");
            if (t.Verify is { Passed: false } failed && LastLine(failed.OutputTail) is { } line)
                stdout.WriteLine($"      last verify output: {line}");
        }
        if (run.ChangesLeftOut > 0)
            stdout.WriteLine($"  … and {run.ChangesLeftOut} more (herd report {dir} --format patch lists every patch that would land)");
    }

    private static string? LastLine(string text) =>
        text.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).LastOrDefault() is { } last
            ? last.Length > 200 ? last[..200] + "…" : last
            : null;

    private static string Json(Action<Utf8JsonWriter> body)
    {
        using var buffer = new MemoryStream();
        using (var w = new Utf8JsonWriter(buffer))
            body(w);
        return Encoding.UTF8.GetString(buffer.ToArray());
    }
}
