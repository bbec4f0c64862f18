using Herd.Testing;

namespace Herd.Cli.Tests.Run;

/// <summary>
/// A run directory on a small tmpfs mounted by the test (CI runs as root; a real full disk is the honest test): a disk
/// that fills while the plan is stored leaves no half-made run and says how to start again; one that fills while the
/// run writes its records stops with one line and resumes to the end once there is space.
/// </summary>
public sealed class DiskFullTests
{
    private static string OneLine(string err)
    {
        var lines = err.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        lines.Length.ShouldBe(1, $"one line on stderr, got: {err}");
        lines[0].ShouldNotContain("   at ");
        return lines[0];
    }

    [Fact]
    public async Task A_disk_that_fills_while_the_plan_is_stored_says_to_start_again_and_the_same_command_then_runs()
    {
        // Given a 256 KB filesystem and a plan larger than that
        await using var h = await FleetHarness.StartAsync(new ModelScript { Default = Reply.WithText("ok") });
        var small = Path.Combine(h.Dir, "small");
        Directory.CreateDirectory(small);
        Root.Run("mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", small);
        try
        {
            var inputs = Enumerable.Range(0, 600).Select(i => $"input-{i:D4}-" + new string('x', 500)).ToArray();
            string[] command = ["-j", "32", "--prompt", "Do {}", "--run-dir", "small/run", "--progress", "none", ":::", .. inputs];

            // When the run is started, the plan does not fit: one line, saying to start it again (not to resume)
            (await h.RunAsync(command)).ShouldBe(255);
            OneLine(h.Err.ToString()).ShouldBe($"Error: the disk holding '{Path.Combine(h.Dir, "small", "run")}' filled before the run's plan was stored, so no run was created. Free space, then start it again with the same command (not --resume).");
            h.Server.RequestCount.ShouldBe(0);

            // And --resume says there is nothing to resume and what to do instead
            (await h.RunAsync("--resume", "--run-dir", "small/run", "--progress", "none")).ShouldBe(255);
            OneLine(h.Err.ToString()).ShouldContain("its creation did not finish (the disk filled or herd stopped while the plan was stored), so there is nothing to resume. Start the run again with the same command, without --resume.");

            // Then, with space, the same command runs the whole plan in the same directory
            Root.Run("mount", "-o", "remount,size=20m", small);
            (await h.RunAsync(command)).ShouldBe(0, h.Err.ToString());
            h.Records("small/run").Select(r => r.GetProperty("Seq").GetInt64()).Distinct().Count().ShouldBe(600);
        }
        finally
        {
            Root.Run("umount", small);
        }
    }

    [Fact]
    public async Task A_disk_that_fills_during_the_run_stops_in_one_line_and_the_run_resumes_to_the_end()
    {
        // Given a 1 MB filesystem and 300 tasks whose answers need more than that
        await using var h = await FleetHarness.StartAsync(new ModelScript { Default = Reply.WithText(new string('y', 6000)) });
        var small = Path.Combine(h.Dir, "small");
        Directory.CreateDirectory(small);
        Root.Run("mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", small);
        try
        {
            // When the run fills it
            var exit = await h.RunAsync(["-j", "8", "--prompt", "Do {}", "--run-dir", "small/run", "--progress", "none", ":::", .. FleetHarness.Inputs(300)]);

            // Then it stops with one line naming the full disk and how to continue
            exit.ShouldBe(255);
            var line = OneLine(h.Err.ToString());
            line.ShouldContain("is full");
            line.ShouldContain("--resume");

            // And once there is space it resumes to exactly one record per task
            Root.Run("mount", "-o", "remount,size=20m", small);
            (await h.RunAsync("--resume", "--run-dir", "small/run", "--progress", "none")).ShouldBe(0, h.Err.ToString());
            var seqs = h.Records("small/run").Select(r => r.GetProperty("Seq").GetInt64()).ToArray();
            seqs.Length.ShouldBe(300);
            seqs.Distinct().Count().ShouldBe(300);
        }
        finally
        {
            Root.Run("umount", small);
        }
    }
}
