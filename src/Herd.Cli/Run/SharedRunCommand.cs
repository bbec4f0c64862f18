using System.Globalization;
using System.Text.Json;
using Herd.Agent;
using Herd.Fleet.Engines;
using Herd.Fleet.Jobs;
using Herd.Fleet.Isolation;
using Herd.Fleet.Reports;
using Herd.Fleet.Runs;
using Herd.Fleet.Store;
using Herd.Fleet.Store.Postgres;

namespace Herd.Cli.Run;

/// <summary>
/// The CLI side of runs kept in a shared PostgreSQL store (issue #14, docs/scale-out.md): <c>herd run --store URL
/// --enqueue</c>, the stored options for <c>--resume</c>, and <c>herd runs list|show|export --store URL</c> (<c>watch</c>: <see cref="RunWatch"/>).
/// </summary>
public static class SharedRunCommand
{
    /// <summary>The run id of a run directory: its last path segment (as for SQLite runs).</summary>
    public static string RunIdOf(string runDirectory) => Path.GetFileName(Path.TrimEndingDirectorySeparator(runDirectory));

    /// <summary>The store of <c>herd run --store</c>: the run lives in PostgreSQL; results.ndjson and summary.json still go to the run directory.</summary>
    public static ISharedRunStore Open(PgLocation store, string runDirectory, TimeProvider time)
    {
        try
        {
            Directory.CreateDirectory(runDirectory);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new HerdFatalException($"Error: cannot create run directory '{runDirectory}' ({ex.Message}). Pass a writable --run-dir.");
        }
        return PostgresRunStore.Open(store, RunIdOf(runDirectory), time);
    }

    /// <summary>The run row, for --resume against the shared store.</summary>
    public static RunInfo StoredRun(PgLocation location, string runDirectory)
    {
        using ISharedRunStore store = PostgresRunStore.Open(location, RunIdOf(runDirectory));
        return store.ReadRun() ?? throw new HerdUsageException($"Error: run '{store.RunId}' does not exist in {location.Redacted}. `herd runs list --store URL` shows the runs.");
    }

    /// <summary>Creates the run (the plan in one COPY) with its budget ceiling, prints its id, and leaves the work to workers.</summary>
    public static int Enqueue(RunArguments run, IEnumerable<FleetTask> plan, string optionsJson, RunDefinition definition, RunContext ctx)
    {
        var runId = run.RunDirectory is { } dir ? RunIdOf(dir) : RunCommand.NewRunId(ctx.Time);
        if (run.Start == RunStart.Resume)
            throw new HerdUsageException("Error: --enqueue creates a run; to continue one, start `herd worker --store URL --run RUN`.");
        using ISharedRunStore store = PostgresRunStore.Open(run.Store!, runId, ctx.Time);
        var started = ctx.Time.GetTimestamp();
        // Streamed into one COPY as the plan is produced (issue #23): no list of the plan is held.
        var count = 0;
        store.CreateRunFrom(new RunInfo(runId, ctx.Time.GetUtcNow(), optionsJson, ctx.Cwd, definition.Engine.Kind.Name(), HerdVersion.Current, definition.ToJson()),
            plan.Select(t => { count++; return t; }));
        store.SetBudget(run.BudgetUsd);
        ctx.Err.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"herd: run {runId}: {count} task(s) stored in {run.Store!.Redacted} in {ctx.Time.GetElapsedTime(started).TotalSeconds:0.00}s; start workers with: herd worker --store URL --run {runId}"));
        ctx.Out.WriteLine(runId);
        return 0;
    }

    /// <summary><c>herd runs list|show|export … --store URL</c>.</summary>
    public static int Runs(IReadOnlyList<string> rest, bool json, PgLocation location, TextWriter stdout, TextWriter stderr, string cwd)
    {
        switch (rest.FirstOrDefault())
        {
            case "list":
                if (!json)
                    stdout.WriteLine($"{"RUN",-36} {"STATUS",-12} {"TASKS",7} {"DONE",7} {"FAILED",7}  CREATED");
                foreach (var (runId, created, status, total, done, failed) in PostgresRunStore.ListRuns(location))
                {
                    stdout.WriteLine(json
                        ? Json(w =>
                        {
                            w.WriteStartObject();
                            w.WriteString("run_id", runId);
                            w.WriteString("status", status.Name());
                            w.WriteNumber("tasks", total);
                            w.WriteNumber("finished", done);
                            w.WriteNumber("failed", failed);
                            w.WriteString("created", StoreNames.Iso(created));
                            w.WriteEndObject();
                        })
                        : string.Create(CultureInfo.InvariantCulture, $"{runId,-36} {status.Name(),-12} {total,7} {done,7} {failed,7}  {StoreNames.Iso(created)}"));
                }
                return 0;
            case "show" when rest.Count == 2:
            {
                using var store = OpenExisting(location, rest[1]);
                var (info, status, exit, totals) = Read(store);
                if (json)
                {
                    stdout.WriteLine(Summary.Build(info, totals, status, exit ?? -1, RunReader.Wall(store, null), store.Ledger().Ceiling, null));
                    return 0;
                }
                stdout.WriteLine($"run        {info.RunId}");
                stdout.WriteLine($"store      {location.Redacted}");
                stdout.WriteLine($"status     {status.Name()}{(exit is { } x ? $" (exit {x})" : "")}");
                stdout.WriteLine($"created    {StoreNames.Iso(info.Created)}");
                stdout.WriteLine($"tasks      {totals.Tasks} ({totals.Tasks - totals.Unfinished} finished, {totals.Unfinished} unfinished; {totals.Attempts} attempts)");
                foreach (var (cls, n) in totals.ByClass)
                    stdout.WriteLine($"  {cls.Name(),-22} {n,6}");
                var (spent, reserved, ceiling) = store.Ledger();
                stdout.WriteLine(string.Create(CultureInfo.InvariantCulture, $"cost       ${totals.SpentUsd:0.######}{(ceiling is { } c ? $" (ledger ${spent:0.######} spent, ${reserved:0.######} reserved of ${c:0.##})" : "")}"));
                // --isolate/--verify: what the tasks changed and how verification went, whichever worker ran them.
                var digest = RunDigest.Build(RunReader.Open(() => OpenExisting(location, info.RunId), Path.Combine(cwd, ".herd", "runs", info.RunId)), ReportOptions.Default);
                RunsCommand.ShowChanges(digest, $"{info.RunId} --store URL", stdout);
                return 0;
            }
            case "export" when rest.Count is 2 or 4 && (rest.Count == 2 || rest[2] == "--out"):
            {
                using var store = OpenExisting(location, rest[1]);
                var (info, status, exit, totals) = Read(store);
                var dir = Path.GetFullPath(rest.Count == 4 ? rest[3] : Path.Combine(".herd", "runs", info.RunId), cwd);
                Directory.CreateDirectory(dir);
                using (ResultsFile.Rebuild(Path.Combine(dir, "results.ndjson"), store.StreamFinalRecords))
                {
                }
                // The tasks' patches (--isolate) come along as files, so the export is a run directory herd apply can land.
                foreach (var task in RunReader.Open(() => OpenExisting(location, info.RunId), dir).Tasks())
                {
                    if (task.Changes?.Patch is not null && store.ReadPatch(task.Key) is { } patch)
                        new PatchFiles(dir).SavePatch(task.Key, 0, patch);
                }
                var summary = Summary.Build(info, totals, status, exit ?? Math.Min(Summary.Failed(totals), RunExitCodes.MoreThan100Failed), RunReader.Wall(store, null), store.Ledger().Ceiling, null);
                var tmp = Path.Combine(dir, "summary.json.tmp");
                File.WriteAllText(tmp, summary);
                File.Move(tmp, Path.Combine(dir, "summary.json"), overwrite: true);
                stderr.WriteLine($"herd: exported {totals.Tasks - totals.Unfinished} record(s) of run {info.RunId} ({status.Name()})");
                stdout.WriteLine(Path.Combine(dir, "results.ndjson"));
                return 0;
            }
            default:
                stderr.Write("Usage: herd runs list --store URL [--json]\n       herd runs show RUN --store URL [--json]\n       herd runs watch RUN --store URL [--json] [--once] [--interval DURATION]\n       herd runs export RUN --store URL [--out DIR]\n");
                return ExitCodes.For(HerdCommand.Runs).Usage;
        }
    }

    /// <summary>The store bound to an existing run; a missing run is one line naming the fix.</summary>
    internal static ISharedRunStore OpenExisting(PgLocation location, string runId)
    {
        ISharedRunStore store = PostgresRunStore.Open(location, runId);
        if (store.ReadRun() is null)
        {
            store.Dispose();
            throw new HerdUsageException($"Error: no run '{runId}' in {location.Redacted}. `herd runs list --store URL` shows the runs.");
        }
        return store;
    }

    private static (RunInfo Info, RunStatus Status, int? Exit, RunTotals Totals) Read(IRunStore store)
    {
        var info = store.ReadRun()!;
        var (status, exit) = store.ReadStatus();
        return (info, status, exit, store.Totals());
    }

    private static string Json(Action<Utf8JsonWriter> body)
    {
        using var buffer = new MemoryStream();
        using (var w = new Utf8JsonWriter(buffer))
            body(w);
        return System.Text.Encoding.UTF8.GetString(buffer.ToArray());
    }
}
