using System.Text.Json.Nodes;
using Herd.Testing;

namespace Herd.Reliability.Tests;

/// <summary>
/// Claim 2 (issue 6): under a seeded storm of faults every task still finishes within its caps, and the recorded cost
/// equals the sum of what each call cost — computed here from what the scripted server served (its log of replies and
/// the usage it reported) and the test's own price arithmetic, not from Herd's numbers.
/// </summary>
public sealed class FaultSoakTests
{
    private const int Seed = 6002;
    private const int MaxTurns = 4;
    private const double TaskBudgetUsd = 0.25;

    [Fact]
    public async Task Every_task_finishes_within_its_caps_through_seeded_faults_and_the_recorded_cost_is_the_sum_of_the_served_calls()
    {
        // Given three kinds of task (one, two and three calls, with tool calls and cache usage), 90 tasks in all,
        // and a server that answers about a quarter of all calls with 429 (retry-after), 529, 500, a dropped
        // connection, a truncated stream or a mid-stream error event
        var faults = new FaultPlan
        {
            Seed = Seed, Rate429 = 0.05, Rate529 = 0.04, Rate500 = 0.03, RateDrop = 0.04, RateTruncate = 0.04, RateStreamError = 0.04, RetryAfter = 0.05,
        };
        var read = new JsonObject { ["file_path"] = "notes.txt" };
        await using var ws = await Workspace.StartAsync(new ModelScript
        {
            LatencyMs = 5,
            Faults = faults,
            Conversations =
            [
                new Conversation("alpha-", [Reply.WithText("alpha done", new ScriptedUsage(Input: 1200, Output: 300, CacheRead: 800))]),
                new Conversation("beta-", [
                    Reply.WithTool("Read", read) with { Usage = new ScriptedUsage(Input: 900, Output: 120, CacheCreation: 1500, CacheCreation1h: 500) },
                    Reply.WithText("beta done", new ScriptedUsage(Input: 950, Output: 410, CacheRead: 1500))]),
                new Conversation("gamma-", [
                    Reply.WithTool("Read", read) with { Usage = new ScriptedUsage(Input: 700, Output: 90, CacheCreation: 2000) },
                    Reply.WithTool("Read", read) with { Usage = new ScriptedUsage(Input: 760, Output: 95, CacheRead: 2000) },
                    Reply.WithText("gamma done", new ScriptedUsage(Input: 820, Output: 640, CacheRead: 2000, CacheCreation: 60))]),
            ],
        });
        ws.Work.WriteFile("notes.txt", "the file tasks read\n");
        string[] inputs = [.. Names("alpha", 30), .. Names("beta", 30), .. Names("gamma", 30)];

        // When they run as one herd run with per-task caps and fast fleet retries. One inner retry per call (the
        // default is two) makes the fleet's own retries certain rather than probable: a call now reaches the fleet
        // after two faults in a row, about 10 times in this run (none would happen with p ≈ 5e-5).
        var run = await ws.Herd().WithEnvironment("HERD_MAX_RETRIES", "1").RunAsync(
            ["run", "-j", "8", "--model", TestPrices.Model, "--max-turns", $"{MaxTurns}", "--task-budget-usd", $"{TaskBudgetUsd}", "--budget-mode", "strict",
             "--retries", "8", "--retry-base", "5ms", "--prompt", "Work on {}", "--run-dir", "run", "--progress", "none", ":::", .. inputs],
            timeout: TimeSpan.FromSeconds(120));

        // Then every task succeeded, once, within --max-turns and within --task-budget-usd over all its attempts
        run.ExitCode.ShouldBe(0, run.ToString());
        var records = Workspace.Records(ws.RunDir());
        records.Count.ShouldBe(inputs.Length);
        records.Select(r => (string)r["task"]!).Order().ToArray().ShouldBe(inputs.Order().ToArray());
        records.Select(r => (string)r["key"]!).Distinct().Count().ShouldBe(inputs.Length);
        foreach (var r in records)
        {
            ((string)r["outcome"]!["class"]!).ShouldBe("success", r.ToJsonString());
            ((int)r["num_turns"]!).ShouldBeLessThanOrEqualTo(MaxTurns);
            var attempts = r["attempts"]!.AsArray();
            ((double)r["cost_usd"]!).ShouldBe(attempts.Sum(a => (double)a!["cost_usd"]!), 1e-9);
            ((double)r["cost_usd"]!).ShouldBeLessThanOrEqualTo(TaskBudgetUsd);
        }

        // and the faults really happened, and forced fleet retries
        var served = ws.Server.Served;
        served.Count(s => s.Reply.Status == 429).ShouldBeGreaterThan(0);
        served.Count(s => s.Reply.Status == 529).ShouldBeGreaterThan(0);
        served.Count(s => s.Reply.Status == 500).ShouldBeGreaterThan(0);
        served.Count(s => s.Reply.DropAfterEvents is not null).ShouldBeGreaterThan(0);
        served.Count(s => s.Reply.Truncate).ShouldBeGreaterThan(0);
        served.Count(s => s.Reply.StreamError is not null).ShouldBeGreaterThan(0);
        served.Where(s => s.Reply.Status is not null || s.Reply.DropAfterEvents is not null || s.Reply.StreamError is not null || s.Reply.Truncate)
            .ShouldAllBe(s => !s.Completed);
        records.Sum(r => (int)r["retries"]!).ShouldBeGreaterThan(0);
        served.ShouldAllBe(s => s.Model == TestPrices.Model);

        // and each task's recorded cost is the sum of the calls served to it that completed, priced independently
        foreach (var r in records)
        {
            var task = (string)r["task"]!;
            var expected = served.Where(s => s.Completed && Requests.FirstUserText(s.Request) == $"Work on {task}").Sum(s => TestPrices.CostOf(s.Usage));
            ((double)r["cost_usd"]!).ShouldBe(expected, 1e-9, task);
        }

        // and so is the run's: in results.ndjson, in summary.json and in run.db
        var billed = TestPrices.ServedCost(ws.Server);
        billed.ShouldBeGreaterThan(0);
        records.Sum(r => (double)r["cost_usd"]!).ShouldBe(billed, 1e-9);
        ((double)Workspace.SummaryOf(ws.RunDir())["cost_usd"]!).ShouldBe(billed, 1e-9);
        using var db = Workspace.OpenRunDb(ws.RunDir());
        Workspace.Scalar<double>(db, "SELECT SUM(cost_usd) FROM attempts").ShouldBe(billed, 1e-9);
        Workspace.Scalar<double>(db, "SELECT SUM(cost_usd) FROM tasks").ShouldBe(billed, 1e-9);
    }

    private static IEnumerable<string> Names(string kind, int n) => Enumerable.Range(1, n).Select(i => $"{kind}-{i:D3}");
}
