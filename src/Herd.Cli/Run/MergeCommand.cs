using System.Globalization;
using Herd.Agent;
using Herd.Fleet.Engines;
using Herd.Fleet.Reports;
using Herd.Fleet.Runs;

namespace Herd.Cli.Run;

/// <summary>
/// <c>herd merge OUT RUN_DIR…</c>: the shards of one plan become one run directory (<see cref="RunMerger"/>;
/// docs/ci.md). Exit 0 when every shard and task is there, 1 when the merge was written but shards or tasks are
/// missing (each named on stderr), 255 when the inputs cannot be merged (different plans, a shard twice) or an input
/// or OUT could not be read or written — then nothing is written (<see cref="ExitCodes"/>).
/// </summary>
public static class MergeCommand
{
    public const int Incomplete = ExitCodes.MergeIncomplete;

    private static readonly OptionSpec Help = new(["-h", "--help"], Arity.Flag, "Show this help");

    private const string Usage = "herd merge OUT RUN_DIR…";

    private const string Description = """
        Merge the run directories of a sharded run (herd run --shard k/n, one per CI job) into one run directory OUT:
        run.db, results.ndjson, summary.json and plan.json, which herd runs show, herd report, herd gate and
        herd run --retry-failed --run-dir OUT accept. Every input must be a shard of the same plan, each shard once;
        missing shards and missing tasks are named. Merging again replaces an earlier merge in OUT.
        """;

    private const string Footer = """
        Examples:
          herd merge merged shards/*/
          herd merge merged herd-shard-1 herd-shard-2 herd-shard-3 herd-shard-4

        Exit codes: 0 merged and complete, 1 merged with shards or tasks missing, 255 refused (different plans, a shard
        twice, not a run directory) or an input or OUT that could not be read or written. Failed tasks do not change
        the exit code: herd gate decides. See docs/ci.md.
        """;

    public static int Run(string[] argv, TextWriter stdout, TextWriter stderr) =>
        ErrorEdge.Run(HerdCommand.Merge, stderr, () => RunCore(argv, stdout, stderr));

    private static int RunCore(string[] argv, TextWriter stdout, TextWriter stderr)
    {
        var args = CommandLineParser.Parse(argv, [Help], ExitCodes.For(HerdCommand.Merge));
        if (args.Has(Help))
        {
            stdout.Write(CommandLineParser.FormatHelp(Usage, Description, [Help], Footer + "\n"));
            return 0;
        }
        if (args.Positionals.Count < 2)
            throw new HerdUsageException("Error: herd merge needs OUT and at least one RUN_DIR: herd merge OUT RUN_DIR… (see herd merge --help).");
        var result = new RunMerger().Merge(args.Positionals[0], args.Positionals.Skip(1).ToArray());

        foreach (var shard in result.MissingShards)
            stderr.WriteLine($"herd merge: missing shard {shard}: no input holds it (did its job fail before uploading?).");
        // The merge names the first few missing tasks, one line each; summary.json counts them all.
        foreach (var task in result.MissingTasks)
            stderr.WriteLine($"herd merge: missing task '{task.Name}' (key {task.Key[..12]}, shard {Shard.Of(task.Key, result.Plan.ShardTotal)})");
        if (result.MissingTaskCount > result.MissingTasks.Count)
            stderr.WriteLine($"herd merge: … and {result.MissingTaskCount - result.MissingTasks.Count} more missing task(s).");

        var totals = result.Totals;
        var classes = string.Join(", ", totals.ByClass.Select(kv => $"{kv.Key.Name()} {kv.Value}"));
        var planned = result.Plan.TaskCount;
        stderr.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"herd merge: {result.Plan.Shards.Count}/{result.Plan.ShardTotal} shard(s), {totals.Tasks - totals.Unfinished}/{planned} task(s) finished ({(classes.Length == 0 ? "none" : classes)}); spent ${totals.SpentUsd:0.####}; plan {result.Plan.PlanHash[..12]} → {result.Directory}"));
        stdout.WriteLine(Path.Combine(result.Directory, "results.ndjson"));
        return result.Complete ? 0 : Incomplete;
    }
}
