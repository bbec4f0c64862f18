using System.Diagnostics;
using System.Text.Json;
using Herd.Fleet.Store;
using Herd.Testing;

namespace Herd.Cli.Tests.Run;

/// <summary>The real `herd` binary as a process, killed with SIGKILL mid-run, then resumed (spec §7).</summary>
public sealed class KillResumeTests
{

    [Fact]
    public async Task After_kill_9_mid_run_resume_redoes_only_unfinished_tasks_and_leaves_one_record_per_task()
    {
        // Given a 60-task run of the real binary
        await using var server = await ScriptedModelServer.StartAsync(new ModelScript { LatencyMs = 150 });
        var dir = Path.Combine(Path.GetTempPath(), "herd-kill-" + Guid.NewGuid().ToString("N")[..10]);
        Directory.CreateDirectory(dir);
        var results = Path.Combine(dir, "run", "results.ndjson");
        try
        {
            string[] argv = ["run", "-j", "4", "--prompt", "Do {}", "--run-dir", "run", "--progress", "none", ":::", .. FleetHarness.Inputs(60)];
            using (var first = Start(dir, server, argv))
            {
                // When it is killed with SIGKILL once some tasks have finished
                var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
                while (CountLines(results) < 12 && DateTime.UtcNow < deadline && !first.HasExited)
                    await Task.Delay(25);
                first.HasExited.ShouldBeFalse("the run must still be going when it is killed");
                first.Kill(entireProcessTree: true);
                await first.WaitForExitAsync();
            }
            var before = CountLines(results);
            before.ShouldBeInRange(12, 59);

            // Then --resume (from the stored plan, no inputs) finishes the rest
            using var resume = Start(dir, server, ["run", "--resume", "--run-dir", "run", "--progress", "none"]);
            var stderr = resume.StandardError.ReadToEndAsync();
            await resume.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(90));
            resume.ExitCode.ShouldBe(0, await stderr);

            var keys = File.ReadAllLines(results).Where(l => l.Length > 0)
                .Select(l => JsonDocument.Parse(l).RootElement.GetProperty("key").GetString()).ToArray();
            keys.Length.ShouldBe(60);
            keys.Distinct().Count().ShouldBe(60);
            using var store = SqliteRunStore.Open(Path.Combine(dir, "run"));
            store.Totals().Unfinished.ShouldBe(0);
            store.Totals().ByClass.ShouldNotContainKey(Herd.Fleet.Engines.OutcomeClass.Interrupted);
            (await stderr).ShouldContain("marked interrupted");
        }
        finally
        {
            try
            {
                Directory.Delete(dir, recursive: true);
            }
            catch (IOException)
            {
            }
        }
    }

    private static Process Start(string dir, ScriptedModelServer server, string[] argv)
    {
        var p = new HerdProcess(server.BaseUrl, dir, Path.Combine(dir, ".config")).WithEnvironment("HERD_RETRY_BASE_MS", "1").Start(argv);
        p.StandardInput.Close();
        return p;
    }

    private static int CountLines(string path) => RecordFiles.CountCompleteRecords(path);
}
