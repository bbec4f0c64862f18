using System.Text.Json.Nodes;
using Herd.Testing;

namespace Herd.Cli.Tests.Run;

/// <summary><c>herd runs watch</c> following a real run in progress in another process, read-only on its store.</summary>
public sealed class WatchTests : HerdTestBase
{
    [Fact]
    public async Task I_can_watch_a_run_in_progress_from_another_process_until_it_finishes()
    {
        // Given a run in progress: slow replies, two at a time, one task the model refuses, a budget
        Server.Reset(new ModelScript { LatencyMs = 700, Conversations = [new Conversation("bad", [Reply.Error(400)])], Default = Reply.WithText("ok") });
        string[] inputs = ["t-1", "t-2", "t-3", "bad-4", "t-5", "t-6"];
        using var run = Herd.Start(["run", "-j", "2", "--budget-usd", "5", "--prompt", "Do {}", "--run-dir", "run", "--progress", "plain", "--progress-interval", "300ms", ":::", .. inputs]);
        var runErr = run.StandardError.ReadToEndAsync();
        var runOut = run.StandardOutput.ReadToEndAsync();
        run.StandardInput.Close();

        // When a watcher looks once, in plain lines, while tasks are running (bounded: the run takes a few seconds)
        HerdRun? plain = null;
        for (var i = 0; i < 100 && !(plain?.Stdout.Contains("  running t-", StringComparison.Ordinal) ?? false); i++)
        {
            if (File.Exists(Path.Combine(Work.Path, "run", "run.db")))
                plain = await Herd.RunAsync("runs", "watch", "run", "--once");
            else
                await Task.Delay(50);
        }

        // Then it shows the progress line and a line per running task
        plain.ShouldNotBeNull();
        plain.ExitCode.ShouldBe(0, plain.ToString());
        plain.Stdout.ShouldContain("running ");
        plain.Stdout.ShouldContain("/6 done");
        plain.Stdout.ShouldContain("  running t-");

        // And following it with --json gives snapshots until the run ends, the last one final
        var follow = await Herd.RunAsync(["runs", "watch", "run", "--json", "--interval", "200ms"], null, TimeSpan.FromSeconds(60));
        follow.ExitCode.ShouldBe(0, follow.ToString());
        await run.WaitForExitAsync();
        var snapshots = follow.JsonLines;
        snapshots.Count.ShouldBeGreaterThan(1);
        var live = snapshots.Where(s => (string?)s["status"] == "running" && ((JsonArray)s["running_tasks"]!).Count > 0).ToArray();
        live.ShouldNotBeEmpty(follow.ToString());
        live.ShouldContain(s => (int?)s["limit"] == 2 && (double?)s["budget_usd"] == 5);
        var tasks = live.SelectMany(s => ((JsonArray)s["running_tasks"]!).Cast<JsonObject>()).ToArray();
        tasks.ShouldAllBe(t => inputs.Contains((string)t["task"]!) && (double)t["elapsed_s"]! >= 0);
        // Turns come from the run's live row (rewritten every second), so an attempt younger than that may not have them yet.
        tasks.ShouldContain(t => t["turns"] != null);
        snapshots.ShouldContain(s => s["tasks_per_minute"] != null);
        var last = snapshots[^1];
        ((string?)last["status"]).ShouldBe("finished");
        ((int)last["done"]!).ShouldBe(6);
        ((int)last["failed"]!).ShouldBe(1);
        ((JsonArray)last["recent_failures"]!).ShouldContain(f => (string?)f!["class"] == "invalid_request" && (string?)f["task"] == "bad-4");

        // And the run's own plain display had the same per-task lines
        run.ExitCode.ShouldBe(1, await runErr);
        (await runErr).ShouldContain("herd:   running t-");
        await runOut;
    }

    [Fact]
    public async Task Watching_a_directory_without_a_run_is_one_line_and_exit_255()
    {
        var result = await Herd.RunAsync("runs", "watch", "nowhere");

        result.ExitCode.ShouldBe(255);
        result.Stderr.Trim().Split('\n').Length.ShouldBe(1);
        result.Stderr.ShouldContain("no run 'nowhere'");
    }
}

/// <summary>The in-run display's per-task lines, from a scheduler snapshot.</summary>
public sealed class ProgressTaskLineTests
{
    [Fact]
    public void The_in_run_display_lists_each_running_task_with_elapsed_turns_and_spend_and_counts_the_rest()
    {
        // Given ten running tasks
        var now = DateTimeOffset.Parse("2026-11-29T10:00:00Z", System.Globalization.CultureInfo.InvariantCulture);
        var running = Enumerable.Range(1, 10).Select(i => new Herd.Fleet.Scheduling.RunningAttempt($"k{i}", $"task-{i}", 1, i, now.AddSeconds(-i * 10), i, i * 0.01)).ToArray();
        var status = new Herd.Fleet.Scheduling.FleetStatus(20, 5, 1, 10, 4, 0, 10, 10, false, null, null, 0.5, 0, null, null, TimeSpan.FromMinutes(1), null, Herd.Fleet.Scheduling.HaltReason.None)
        {
            RunningTasks = running,
        };

        // When the lines are drawn
        var lines = Herd.Cli.Run.ProgressDisplay.TaskLines(status, now);

        // Then the first eight have a line each and the rest are counted
        lines.Count.ShouldBe(9);
        lines[0].ShouldBe("  running task-1 #1 10s, 1 turn, $0.01");
        lines[7].ShouldBe("  running task-8 #1 1m20s, 8 turns, $0.08");
        lines[8].ShouldBe("  … 2 more running");
    }
}

/// <summary>A watcher must not follow a dead run forever.</summary>
public sealed class WatchOrphanTests : HerdTestBase
{
    [Fact]
    public async Task Watching_a_run_whose_process_died_ends_and_says_how_to_continue_it()
    {
        // Given a run killed with -9 while its tasks were running, whose lock heartbeat has since gone stale
        Server.Reset(new ModelScript { Default = new Reply { Text = "late", LatencyMs = 5000 } });
        using var run = Herd.Start(["run", "-j", "2", "--prompt", "Do {}", "--run-dir", "run", "--progress", "none", ":::", "a", "b"]);
        run.StandardInput.Close();
        HerdRun? look = null;
        for (var i = 0; i < 100 && !(look?.Stdout.Contains("\"running\":2", StringComparison.Ordinal) ?? false); i++)
        {
            if (File.Exists(Path.Combine(Work.Path, "run", "run.db")))
                look = await Herd.RunAsync("runs", "watch", "run", "--once", "--json");
            else
                await Task.Delay(50);
        }
        look.ShouldNotBeNull();
        run.Kill();
        await run.WaitForExitAsync();
        using (var db = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={Path.Combine(Work.Path, "run", "run.db")};Pooling=False"))
        {
            db.Open();
            using var cmd = db.CreateCommand();
            cmd.CommandText = "UPDATE lock SET heartbeat = '2020-01-01T00:00:00.000Z'";
            cmd.ExecuteNonQuery().ShouldBe(1);
        }

        // When it is watched
        var watch = await Herd.RunAsync(["runs", "watch", "run"], null, TimeSpan.FromSeconds(30));

        // Then the watcher ends at once and names the way to continue
        watch.ExitCode.ShouldBe(0, watch.ToString());
        watch.Stdout.ShouldContain("is not running any more");
        watch.Stdout.ShouldContain("herd run --resume --run-dir");
        var json = await Herd.RunAsync(["runs", "watch", "run", "--json"], null, TimeSpan.FromSeconds(30));
        ((bool)json.JsonLines[^1]["orphaned"]!).ShouldBeTrue();
    }
}
