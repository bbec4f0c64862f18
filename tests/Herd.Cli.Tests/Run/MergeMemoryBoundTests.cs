using System.Globalization;
using Herd.Testing;
using Xunit.Abstractions;

namespace Herd.Cli.Tests.Run;

/// <summary>
/// issue #23: <c>herd merge</c> reads its shards a task at a time. The real herd merges the two shards of a small plan
/// and of a ten-times longer one under a managed-heap limit (a merge that holds the records or the plan fails with
/// out-of-memory rather than passing slowly); its peak resident memory must not grow beyond the page caches filling. Each task's record carries about
/// 2 KB of text, so records held in memory show: the code before this test held every record (1.4 GB at 200 000
/// tasks; here about 60 MB of text, over the limit once as UTF-16 strings).
/// </summary>
[Collection(MemoryBoundCollection.Name)]
public sealed class MergeMemoryBoundTests(ITestOutputHelper output)
{
    private const int Small = 3_000;
    private const int Large = 30_000;

    /// <summary>
    /// How much more the longer merge may hold: SQLite's page caches (the merged store's 8 MiB, the shards' readers'
    /// 2 MiB each) fill up only once a run.db outgrows them, which the small plan's do not. Measured: +6.9 MiB (87.9 →
    /// 94.8); Native AOT merges of 200 000 and 1 000 000 tasks peak at 88 and 90 MB, so nothing else grows.
    /// </summary>
    private const long MaxGrowthBytes = 12L * 1024 * 1024;

    private const string HeapHardLimit = "0x4000000"; // 64 MiB

    [Fact]
    public async Task Merging_the_shards_of_a_ten_times_longer_plan_stays_flat_under_a_heap_limit()
    {
        if (!OperatingSystem.IsLinux())
            return; // VmHWM is Linux's
        await using var server = await ScriptedModelServer.StartAsync(new ModelScript { Default = Reply.WithText(new string('r', 2000)) });

        var small = await PeakOfMergeAsync(server, Small);
        var large = await PeakOfMergeAsync(server, Large);

        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"herd merge VmHWM: {Small} tasks {small / 1048576.0:0.0} MiB, {Large} tasks {large / 1048576.0:0.0} MiB ({(large / (double)small - 1) * 100:0.0} %)"));
        large.ShouldBeLessThanOrEqualTo(small + MaxGrowthBytes, "herd merge's peak memory grows with the plan's length");
    }

    /// <summary>Runs both shards of a plan of <paramref name="tasks"/> inputs, merges them, and returns the merge's peak resident memory in bytes.</summary>
    private static async Task<long> PeakOfMergeAsync(ScriptedModelServer server, int tasks)
    {
        using var temp = new TempDirectory("herd-merge-mem");
        var dir = temp.Path;
        var input = Path.Combine(dir, "inputs.txt");
        await File.WriteAllLinesAsync(input, Enumerable.Range(1, tasks).Select(i => $"src/module-{i % 97:D2}/item-{i:D7}.cs"));
        string[] shards = [Path.Combine(dir, "shard-1"), Path.Combine(dir, "shard-2")];
        for (var k = 0; k < shards.Length; k++)
        {
            var (code, _) = await RunAsync(server, dir, ["run", "-j", "64", "--prompt", "Do {}", "--input", input, "--shard", $"{k + 1}/2",
                "--progress", "none", "--sandbox", "off", "--ci", "none", "--run-dir", shards[k]], limitHeap: false);
            code.ShouldBe(0);
        }
        var merged = Path.Combine(dir, "merged");
        var (exit, peak) = await RunAsync(server, dir, ["merge", merged, .. shards], limitHeap: true);
        exit.ShouldBe(0, "the merge did not finish (out of memory under the heap limit?)");
        File.ReadLines(Path.Combine(merged, "results.ndjson")).Count().ShouldBe(tasks);
        peak.ShouldBeGreaterThan(0, "VmHWM was read while herd merged");
        return peak;
    }

    private static async Task<(int Code, long Peak)> RunAsync(ScriptedModelServer server, string dir, string[] args, bool limitHeap)
    {
        var herd = new HerdProcess(server.BaseUrl, dir, Path.Combine(dir, ".config"))
            // Without tiers the JIT compiles each method once: what the two peaks differ by is herd's own memory.
            .WithEnvironment("DOTNET_TieredCompilation", "0");
        if (limitHeap)
            herd = herd.WithEnvironment("DOTNET_GCHeapHardLimit", HeapHardLimit);
        using var process = herd.Start(args);
        process.StandardInput.Close();
        var stderr = process.StandardError.ReadToEndAsync();
        var stdout = process.StandardOutput.ReadToEndAsync();
        var peak = await PeakMemory.UntilExitAsync(process, TimeSpan.FromMinutes(4));
        await stderr;
        await stdout;
        return (process.ExitCode, peak);
    }
}
