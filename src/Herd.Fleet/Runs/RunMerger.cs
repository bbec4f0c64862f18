using System.Data.Common;
using System.Text.Json;
using Herd.Agent;
using Herd.Fleet.Engines;
using Herd.Fleet.Jobs;
using Herd.Fleet.Reports;
using Herd.Fleet.Store;

namespace Herd.Fleet.Runs;

/// <summary>What a merge produced: the run directory and what it lacks.</summary>
/// <param name="Plan">The merged run's plan.json: the plan's hash and task count, and the shards it holds.</param>
/// <param name="MissingShards">Shards of the plan no input held, as <c>k/n</c>.</param>
/// <param name="MissingTasks">The first <see cref="NamedMissingTasks"/> tasks of the plan without a final record in the merge (their shard is missing or did not finish them).</param>
/// <param name="MissingTaskCount">How many tasks of the plan have no final record in the merge.</param>
/// <param name="ExitCode">What the merged run's exit code is under spec §2 (0, 1–100 failed, 101 more): stored in run.db.</param>
public sealed record MergeResult(string Directory, PlanManifestHeader Plan, IReadOnlyList<string> MissingShards, IReadOnlyList<PlanEntry> MissingTasks, int MissingTaskCount, RunTotals Totals, RunStatus Status, int ExitCode)
{
    /// <summary>Missing tasks a merge names (herd merge prints them); the rest are counted (a million-task plan with a shard missing names a few, not all).</summary>
    public const int NamedMissingTasks = 20;

    public bool Complete => MissingShards.Count == 0 && MissingTaskCount == 0;
}

/// <summary>
/// <c>herd merge OUT RUN_DIR…</c> (issue #11, spec fanout §11): the shards of one plan, each a run directory as a CI
/// artifact unpacks it, become one run directory — run.db, results.ndjson, summary.json, plan.json — that every reader
/// of a run accepts (<c>herd runs show</c>, reports, <c>--retry-failed</c>, <c>--resume</c> for the tasks a shard left
/// unfinished).
/// </summary>
/// <remarks>
/// <para>Refused, with nothing written: an input that is not a run, a run without plan.json, inputs of different plans
/// or shard counts, a shard given twice, a task in a shard it does not belong to.</para>
/// <para>Every stored attempt is replayed into the new store through <see cref="IRunStore"/> (so spend and tokens count
/// retries and interrupted attempts too), and each finished task keeps its record byte for byte. The output is built
/// in a sibling directory and moved into place, so a reader never sees half a merge; merging again with the same
/// inputs replaces an earlier merge with the same content (idempotent). A directory that holds anything but an
/// earlier merge is never overwritten.</para>
/// <para>Memory does not grow with the plan (issue #23): each input is read a task at a time, twice (its plan into the
/// new store, then its attempts), and plan.json is read and written as it streams past.</para>
/// </remarks>
public sealed class RunMerger(TimeProvider? time = null)
{
    private readonly TimeProvider _time = time ?? TimeProvider.System;

    private sealed record Input(string Directory, string Given, PlanManifestHeader Manifest);

    /// <exception cref="HerdUsageException">The inputs cannot be merged; the message says which input and why.</exception>
    /// <exception cref="HerdFatalException">An input's run.db or plan.json is damaged, or the output cannot be written.</exception>
    public MergeResult Merge(string outDirectory, IReadOnlyList<string> inputDirectories)
    {
        var output = Path.TrimEndingDirectorySeparator(Path.GetFullPath(outDirectory));
        var inputs = Validate(output, inputDirectories);
        CheckOutput(output);

        var parent = Path.GetDirectoryName(output) ?? ".";
        Directory.CreateDirectory(parent);
        var staging = Path.Combine(parent, $".{Path.GetFileName(output)}.merging-{Guid.NewGuid():N}");
        try
        {
            var result = Build(staging, output, inputs);
            if (Directory.Exists(output))
                Directory.Delete(output, recursive: true); // an earlier merge (CheckOutput), replaced whole
            Directory.Move(staging, output);
            return result with { Directory = output };
        }
        catch (DbException ex)
        {
            throw new HerdFatalException($"Error: writing the merge to '{output}' failed ({ex.Message}). Nothing was replaced; fix the cause and merge again.", ex);
        }
        finally
        {
            if (Directory.Exists(staging))
                Directory.Delete(staging, recursive: true);
        }
    }

    private static List<Input> Validate(string output, IReadOnlyList<string> inputDirectories)
    {
        if (inputDirectories.Count == 0)
            throw new HerdUsageException("Error: no run directories to merge. Usage: herd merge OUT RUN_DIR… (the shards' run directories).");
        var inputs = new List<Input>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var given in inputDirectories)
        {
            var dir = Path.TrimEndingDirectorySeparator(Path.GetFullPath(given));
            if (dir == output)
                throw new HerdUsageException($"Error: '{given}' is both the output and an input. Pass a new directory as OUT.");
            if (!seen.Add(dir))
                throw new HerdUsageException($"Error: '{given}' is given twice. Pass each shard's run directory once.");
            if (!Directory.Exists(dir))
                throw new HerdUsageException($"Error: '{given}' does not exist. Pass the run directories of the shards (as the CI artifacts unpack them).");
            if (!File.Exists(Path.Combine(dir, "run.db")))
                throw new HerdUsageException($"Error: '{given}' holds no run (no run.db). Pass the run directories of the shards (herd run --run-dir DIR).");
            var manifest = PlanManifestHeader.Read(dir)
                ?? throw new HerdUsageException($"Error: '{given}' has no {PlanManifest.FileName}: it was written by a herd without shards. Run the shard again with this herd.");
            inputs.Add(new Input(dir, given, manifest));
        }

        var plans = inputs.GroupBy(i => i.Manifest.PlanHash).ToArray();
        if (plans.Length > 1)
        {
            var which = string.Join("; ", plans.Select(g => $"{string.Join(", ", g.Select(i => Quote(i)))} to plan {g.Key[..12]}"));
            throw new HerdUsageException($"Error: the inputs are shards of different plans ({which}). Merge only shards of one plan: the same inputs, prompt and options in every shard.");
        }
        var totals = inputs.GroupBy(i => i.Manifest.ShardTotal).ToArray();
        if (totals.Length > 1)
        {
            var which = string.Join("; ", totals.Select(g => $"{string.Join(", ", g.Select(i => Quote(i)))} of {g.Key}"));
            throw new HerdUsageException($"Error: the inputs split the plan into different numbers of shards ({which}). Merge shards of one --shard k/n split.");
        }
        var holder = new Dictionary<int, Input>();
        foreach (var input in inputs)
        {
            foreach (var k in input.Manifest.Shards)
            {
                if (holder.TryGetValue(k, out var first))
                    throw new HerdUsageException($"Error: shard {new Shard(k, input.Manifest.ShardTotal)} appears twice: in {Quote(first)} and {Quote(input)}. Pass each shard once.");
                holder[k] = input;
            }
        }
        return inputs.OrderBy(i => i.Manifest.Shards.Min()).ToList();
    }

    /// <summary>OUT may be new, empty, or an earlier merge (replaced); anything else is somebody's data.</summary>
    private static void CheckOutput(string output)
    {
        if (File.Exists(output))
            throw new HerdUsageException($"Error: OUT '{output}' is a file. Pass a directory for the merged run.");
        if (!Directory.Exists(output) || !Directory.EnumerateFileSystemEntries(output).Any())
            return;
        var earlier = PlanManifestHeader.Read(output);
        if (earlier is not { Merged: true })
            throw new HerdUsageException($"Error: OUT '{output}' already holds {(earlier is null ? "files" : "a run")} that herd merge did not write. Pass a new directory; nothing there is overwritten.");
    }

    /// <summary>Transitions replayed per transaction: the merge's commits, not its tasks, set what it writes.</summary>
    private const int ReplayBatch = 512;

    private MergeResult Build(string staging, string output, List<Input> inputs)
    {
        var first = inputs[0].Manifest;
        var total = first.ShardTotal;
        var stores = new List<(Input Input, SqliteRunStore Store)>();
        try
        {
            foreach (var input in inputs)
                stores.Add((input, SqliteRunStore.OpenReadOnly(input.Directory)));
            var infos = stores.Select(s => s.Store.ReadRun() ?? throw new HerdFatalException($"Error: '{s.Input.Directory}/run.db' has no run row; it was not written by herd run.")).ToArray();

            // ---- the plan: every input's tasks, each checked to be in its input's shards, into the new store ----
            Directory.CreateDirectory(staging);
            // The shards' stored definitions, read as any host reads them (one a newer Herd wrote is refused): the merged
            // run is the whole plan, so it keeps the first one without its shard. Argv is carried for display only.
            var definition = infos.Select((i, n) => i.DefinitionJson is { } json ? RunDefinition.Parse(json, Quote(inputs[n])) : null)
                .ToArray().FirstOrDefault(d => d is not null);
            var info = new RunInfo(Path.GetFileName(output), infos.Min(i => i.Created), infos[0].ArgvJson, infos[0].Cwd, infos[0].Engine, infos[0].EngineVersion,
                (definition is null ? null : definition with { Shard = null })?.ToJson());
            using var merged = SqliteRunStore.Open(staging, _time);
            var read = 0;
            merged.CreateRunFrom(info, PlanOf(stores, total, () => read++));
            if (merged.CountTasks().Total != read)
                throw new HerdUsageException($"Error: a task appears in more than one of {string.Join(", ", inputs.Select(Quote))}; each task must come from exactly one shard. Merge the shards of one --shard k/n split.");

            // ---- every attempt, replayed as it happened, a batch of tasks per transaction ----
            foreach (var (_, store) in stores)
            {
                foreach (var batch in store.StreamTasks().Chunk(ReplayBatch))
                    merged.InOneTransaction(() =>
                    {
                        foreach (var task in batch)
                            Replay(merged, store, task);
                    });
            }

            var present = inputs.SelectMany(i => i.Manifest.Shards).Order().ToArray();
            var missingShards = Enumerable.Range(1, total).Except(present).Select(k => new Shard(k, total).ToString()).ToArray();
            var sharded = inputs.Any(i => i.Manifest.Sharded);

            // ---- plan.json: the first input's plan, copied as it is read; a planned task without a final record is missing ----
            var missing = new List<PlanEntry>();
            var (missingCount, planCount) = (0, 0);
            var counts = merged.CountTasks();
            var allFinished = counts.Unfinished == 0 && counts.Total == first.TaskCount; // then nothing needs looking up
            using (var writer = new PlanManifestWriter(staging))
            {
                _ = PlanManifestHeader.Read(inputs[0].Directory, entry =>
                    {
                        writer.Add(entry);
                        planCount++;
                        if (allFinished || merged.IsFinished(entry.Key))
                            return;
                        if (missing.Count < MergeResult.NamedMissingTasks)
                            missing.Add(entry);
                        missingCount++;
                    }) ?? throw new HerdFatalException($"Error: {Quote(inputs[0])}'s {PlanManifest.FileName} disappeared during the merge. Merge again.");
                writer.Finish(first.PlanHash, total, present, sharded, merged: true);
            }
            var manifest = new PlanManifestHeader(first.PlanHash, total, present, sharded, Merged: true, planCount);

            var totals = merged.Totals();
            var failed = Summary.Failed(totals);
            var exit = failed > 100 ? RunExitCodes.MoreThan100Failed : failed;
            var status = missingShards.Length == 0 && totals.Unfinished == 0 && missingCount == 0 ? RunStatus.Finished : RunStatus.Stopped;
            merged.SetStatus(status, exit);

            using (ResultsFile.Rebuild(Path.Combine(staging, "results.ndjson"), merged.StreamFinalRecords))
            {
            }
            var plan = new PlanSummary(first.PlanHash, null, planCount)
            {
                MergedShards = present.Select(k => new Shard(k, total).ToString()).ToArray(),
                MissingShards = missingShards,
                MissingTasks = missingCount,
            };
            var wall = TimeSpan.FromSeconds(inputs.Max(i => WallOf(i.Directory)));
            var summary = Summary.Build(info, totals, status, exit, wall, null, null, plan);
            File.WriteAllText(Path.Combine(staging, "summary.json"), summary);
            return new MergeResult(staging, manifest, missingShards, missing, missingCount, totals, status, exit);
        }
        finally
        {
            foreach (var (_, store) in stores)
                store.Dispose();
        }
    }

    /// <summary>
    /// Every input's tasks, finished ones first in the order they finished, then the rest in plan order (the same order
    /// every time). A task outside its input's shards is refused; shards are disjoint, so no task comes from two inputs.
    /// </summary>
    private static IEnumerable<FleetTask> PlanOf(List<(Input Input, SqliteRunStore Store)> stores, int total, Action counted)
    {
        foreach (var (input, store) in stores)
        {
            foreach (var t in store.StreamTasks())
            {
                var shard = Shard.Of(t.Task.Key, total);
                if (input.Manifest.Sharded && !input.Manifest.Shards.Contains(shard.Index))
                    throw new HerdUsageException($"Error: task '{t.Task.Name}' in {Quote(input)} belongs to shard {shard}, not {string.Join(",", input.Manifest.Shards.Select(k => new Shard(k, total).ToString()))}; that directory was not written by one shard of this plan.");
                counted();
                yield return t.Task;
            }
        }
    }

    /// <summary>The task's attempts, one transition each as they happened; the final record is kept as the shard wrote it.</summary>
    private static void Replay(ITaskQueue merged, IRunReads source, TaskWithRecord task)
    {
        var (key, record) = (task.Task.Key, task.Record);
        var rows = source.Attempts(key);
        var retriesLeft = task.Retries;
        for (var i = 0; i < rows.Count; i++)
        {
            var row = rows[i];
            merged.StartAttempt(key, row.N, row.Slot ?? 0, row.Start, row.SessionId);
            var last = i == rows.Count - 1;
            var isFinal = last && record is not null && task.State == TaskState.Done;
            var outcome = new TaskOutcome
            {
                // An attempt the shard never closed (its job was killed) is what recovery would make it: interrupted.
                Class = row.Class ?? OutcomeClass.Interrupted,
                Start = row.Start,
                End = row.End ?? row.Start,
                SessionId = row.SessionId,
                CostUsd = row.CostUsd,
                Usage = row.Usage,
                Error = isFinal ? ErrorOf(record!) : null,
            };
            var usedRetry = !isFinal && retriesLeft > 0 && row.Class is not (null or OutcomeClass.Interrupted or OutcomeClass.Cancelled or OutcomeClass.RunBudget);
            if (usedRetry)
                retriesLeft--;
            merged.FinishAttempt(key, row.N, outcome, usedRetry, isFinal ? _ => record! : null);
        }
    }

    private static string? ErrorOf(string record)
    {
        using var doc = JsonDocument.Parse(record);
        return doc.RootElement.TryGetProperty("error", out var e) && e.ValueKind == JsonValueKind.String ? e.GetString() : null;
    }

    /// <summary>The shard's wall time from its summary.json; shards run side by side, so the merge reports the longest.</summary>
    private static double WallOf(string directory)
    {
        try
        {
            using var doc = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(directory, "summary.json")));
            return doc.RootElement.GetProperty("durations_s").GetProperty("wall").GetDouble();
        }
        catch (Exception ex) when (ex is IOException or JsonException or KeyNotFoundException or InvalidOperationException)
        {
            return 0; // an interrupted shard may have none; the wall is informational
        }
    }

    private static string Quote(Input input) => $"'{input.Given}'";
}
