using System.Globalization;
using Herd.Testing;
using Xunit.Abstractions;

namespace Herd.Cli.Tests.Run;

/// <summary>
/// issue #23 for the shared store: <c>herd run --store</c> and <c>herd worker</c> hold their leases, not the plan. Each
/// real herd process works a small and a five-times larger plan at -j 64 in a real PostgreSQL (HERD_TEST_PG) against
/// the scripted server with no latency; its peak resident memory (VmHWM from /proc) may grow by only a little per extra
/// task. A heap snapshot (dotnet-gcdump) halfway through a 40 000-task run measured 2.7 MB live in a worker and 5.7–7.1 MB
/// in <c>herd run --store</c>; what the peak gains over a longer run is the runtime's own growth.
/// </summary>
[Collection(MemoryBoundCollection.Name)]
public sealed class SharedRunMemoryBoundTests(ITestOutputHelper output)
{
    private const int Small = 5_000;
    private const int Large = 25_000;

    /// <summary>Measured on this test's Debug build: about 0.5 KB a task for both, from the runtime, not the plan.</summary>
    private const double MaxBytesPerExtraTask = 1_200;

    private static string StoreUrl => Environment.GetEnvironmentVariable("HERD_TEST_PG") is { Length: > 0 } url ? url : "postgres://herd_test:herd_test@127.0.0.1:5432/herd_test";

    [Fact]
    public async Task A_worker_and_a_shared_run_peak_at_little_more_when_the_plan_is_five_times_longer()
    {
        if (!OperatingSystem.IsLinux())
            return; // VmHWM is Linux's
        // Given a scripted model server that answers at once
        await using var server = await ScriptedModelServer.StartAsync(new ModelScript { Default = Reply.WithText("ok") });

        // When herd worker works an enqueued plan of 5 000 tasks and one of 25 000, and herd run --store runs both itself
        var workerSmall = await PeakAsync(server, Small, worker: true);
        var workerLarge = await PeakAsync(server, Large, worker: true);
        var runSmall = await PeakAsync(server, Small, worker: false);
        var runLarge = await PeakAsync(server, Large, worker: false);

        // Then each larger plan's peak is the smaller one's plus at most ~1.2 KB per extra task
        foreach (var (what, small, large) in new[] { ("herd worker", workerSmall, workerLarge), ("herd run --store", runSmall, runLarge) })
        {
            var perTask = (large - small) / (double)(Large - Small);
            output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{what} VmHWM: {Small} tasks {small / 1048576.0:0.0} MiB, {Large} tasks {large / 1048576.0:0.0} MiB: {perTask:0} bytes per extra task"));
            perTask.ShouldBeLessThan(MaxBytesPerExtraTask, $"{what}'s peak memory grows with the plan's length");
        }
    }

    /// <summary>Works a plan of <paramref name="tasks"/> in the store and returns the working process's peak resident memory in bytes.</summary>
    private static async Task<long> PeakAsync(ScriptedModelServer server, int tasks, bool worker)
    {
        using var temp = new TempDirectory("herd-pgmem");
        var dir = temp.Path;
        var input = Path.Combine(dir, "inputs.txt");
        await File.WriteAllLinesAsync(input, Enumerable.Range(1, tasks).Select(i => $"item-{i}"));
        var runId = "mem-" + Guid.NewGuid().ToString("N");
        string[] plan = ["--store", StoreUrl, "--prompt", "Do {}", "--input", input, "--run-dir", Path.Combine(dir, runId)];
        if (worker)
        {
            using var enqueue = new HerdProcess(server.BaseUrl, dir, Path.Combine(dir, ".config")).Start(["run", "--enqueue", .. plan]);
            enqueue.StandardInput.Close();
            var err = enqueue.StandardError.ReadToEndAsync();
            (await enqueue.StandardOutput.ReadToEndAsync()).Trim().ShouldBe(runId, await err);
            await enqueue.WaitForExitAsync();
        }
        string[] args = worker
            ? ["worker", "--store", StoreUrl, "--run", runId, "-j", "64"]
            : ["run", "-j", "64", "--progress", "none", "--sandbox", "off", "--ci", "none", .. plan];
        using var process = new HerdProcess(server.BaseUrl, dir, Path.Combine(dir, ".config")).Start(args);
        process.StandardInput.Close();
        var stderr = process.StandardError.ReadToEndAsync();
        var stdout = process.StandardOutput.ReadToEndAsync();
        var peak = await PeakMemory.UntilExitAsync(process, TimeSpan.FromMinutes(4));
        await stdout;
        process.ExitCode.ShouldBe(0, await stderr);
        peak.ShouldBeGreaterThan(0, "VmHWM was read while herd ran");
        return peak;
    }
}
