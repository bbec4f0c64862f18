using System.Globalization;
using System.Text.Json.Nodes;
using Herd.Testing;
using Xunit.Abstractions;

namespace Herd.Reliability.Tests;

/// <summary>
/// Claim 3 (issue 6, spec fanout §10, headless-compat §8.3): a budget ceiling is never crossed. Seeded random runs
/// vary the task count, concurrency, max_tokens, per-task usage (input, output, cache reads and 5 m / 1 h writes) and
/// the ceiling. Spend is read three ways — Herd's records, run.db, and what the scripted server billed.
/// </summary>
/// <remarks>
/// The scripted server reports whatever usage it is given, so the fuzz only scripts usage the real API could report
/// for the request: output ≤ the request's max_tokens (every output ≤ 1024, Herd's floor) and input tokens ≤ request
/// bytes. Both are asserted, so the fuzz cannot drift into impossible replies that would "overshoot" by fiat.
/// </remarks>
public sealed class BudgetFuzzTests(ITestOutputHelper output)
{
    private static readonly int[] FleetSeeds = [7101, 7102, 7103, 7104, 7105, 7106, 7107, 7108, 7109, 7110];
    private static readonly int[] PrintSeeds = [.. Enumerable.Range(7201, 16)];

    [Fact]
    public async Task Herd_run_never_spends_more_than_budget_usd_across_10_seeded_random_runs_and_exits_102_when_the_ceiling_stops_it()
    {
        await using var ws = await Workspace.StartAsync(new ModelScript());
        ws.Work.WriteFile("notes.txt", "the file tasks read\n");
        var exits = new List<int>();
        foreach (var seed in FleetSeeds)
        {
            // Given a random plan: 8–30 tasks of 1–3 calls each with random usage, -j 1–10, a random max_tokens
            var random = new Random(seed);
            var taskCount = random.Next(8, 31);
            var jobs = random.Next(1, 11);
            var maxTokens = new[] { 1024, 1536, 2048, 4096 }[random.Next(4)];
            var conversations = new List<Conversation>();
            var planned = 0.0;
            for (var i = 1; i <= taskCount; i++)
            {
                var turns = RandomTurns(random, random.Next(1, 4));
                planned += turns.Sum(t => TestPrices.CostOf(t.Usage!));
                conversations.Add(new Conversation($"s{seed}-t{i:D3}", turns));
            }
            // and a ceiling from 10 % to 160 % of what the whole plan would cost
            var ceiling = Math.Round(planned * (0.1 + 1.5 * random.NextDouble()), 4);
            ws.Server.Reset(new ModelScript { LatencyMs = 3, Conversations = conversations });
            var servedBefore = ws.Server.Served.Count;
            var runDir = $"run-{seed}";

            // When herd run runs it with --budget-usd
            var run = await ws.Herd().RunAsync(
                ["run", "-j", $"{jobs}", "--model", TestPrices.Model, "--max-tokens", $"{maxTokens}", "--budget-usd", ceiling.ToString(CultureInfo.InvariantCulture),
                 "--prompt", "Do {}", "--run-dir", runDir, "--progress", "none", ":::", .. Enumerable.Range(1, taskCount).Select(i => $"s{seed}-t{i:D3}")],
                timeout: TimeSpan.FromSeconds(60));

            // Then no reading of the spend exceeds the ceiling
            var served = ws.Server.Served.Skip(servedBefore).ToArray();
            AssertRealistic(served);
            var billed = served.Where(s => s.Completed).Sum(s => TestPrices.CostOf(s.Usage));
            using var db = Workspace.OpenRunDb(ws.RunDir(runDir));
            var stored = Workspace.Scalar<double>(db, "SELECT COALESCE(SUM(cost_usd), 0.0) FROM attempts");
            var records = Workspace.Records(ws.RunDir(runDir));
            var summary = Workspace.SummaryOf(ws.RunDir(runDir));
            output.WriteLine(FormattableString.Invariant(
                $"seed {seed}: {taskCount} tasks, -j {jobs}, max_tokens {maxTokens}, plan ${planned:0.######}, ceiling ${ceiling}, billed ${billed:0.######}, exit {run.ExitCode}, finished {records.Count}"));
            billed.ShouldBeLessThanOrEqualTo(ceiling, $"seed {seed}: billed");
            stored.ShouldBeLessThanOrEqualTo(ceiling, $"seed {seed}: run.db");
            records.Sum(r => (double)r["cost_usd"]!).ShouldBeLessThanOrEqualTo(ceiling, $"seed {seed}: results.ndjson");
            ((double)summary["cost_usd"]!).ShouldBeLessThanOrEqualTo(ceiling, $"seed {seed}: summary.json");
            stored.ShouldBe(billed, 1e-9, $"seed {seed}: every billed call is recorded");

            // and the exit code says whether the ceiling stopped the run
            var unfinished = (int)summary["unfinished"]!;
            if (unfinished > 0)
                run.ExitCode.ShouldBe(102, $"seed {seed}: {run}");
            else
                run.ExitCode.ShouldBe(0, $"seed {seed}: {run}");
            records.ShouldAllBe(r => (string)r["outcome"]!["class"]! == "success");
            exits.Add(run.ExitCode);
        }

        // and the seeds cover both endings, so neither branch above is vacuous
        exits.ShouldContain(102);
        exits.ShouldContain(0);
    }

    [Fact]
    public async Task Herd_p_in_strict_budget_mode_never_reports_more_than_max_budget_usd_across_16_seeded_random_runs()
    {
        await using var ws = await Workspace.StartAsync(new ModelScript());
        ws.Work.WriteFile("notes.txt", "the file the agent reads\n");
        var subtypes = new List<string>();
        foreach (var seed in PrintSeeds)
        {
            // Given a conversation of 2–8 calls with random usage and a random cap from $0.035 to $0.105 (a call
            // costs up to about $0.02 and reserves about twice that, so caps bind before, between and never)
            var random = new Random(seed);
            var turns = RandomTurns(random, random.Next(2, 9));
            var cap = Math.Round(0.035 + 0.07 * random.NextDouble(), 4);
            ws.Server.Reset(new ModelScript { LatencyMs = 2, Conversations = [new Conversation(null, turns)] });
            var servedBefore = ws.Server.Served.Count;

            // When herd -p runs it with --max-budget-usd in strict mode
            var run = await ws.Herd().RunAsync(
                ["-p", $"task {seed}", "--model", TestPrices.Model, "--max-budget-usd", cap.ToString(CultureInfo.InvariantCulture), "--budget-mode", "strict", "--output-format", "json"],
                timeout: TimeSpan.FromSeconds(60));

            // Then the reported and the billed cost stay within the cap, and agree
            run.ExitCode.ShouldBeOneOf(0, 1);
            var result = run.Json;
            var served = ws.Server.Served.Skip(servedBefore).ToArray();
            AssertRealistic(served);
            var billed = served.Where(s => s.Completed).Sum(s => TestPrices.CostOf(s.Usage));
            var reported = (double)result["total_cost_usd"]!;
            var subtype = (string)result["subtype"]!;
            output.WriteLine(FormattableString.Invariant($"seed {seed}: {turns.Count} call(s), cap ${cap}, reported ${reported:0.######}, subtype {subtype}"));
            reported.ShouldBeLessThanOrEqualTo(cap, $"seed {seed}");
            billed.ShouldBeLessThanOrEqualTo(cap, $"seed {seed}");
            reported.ShouldBe(billed, 1e-9);
            subtype.ShouldBeOneOf("success", "error_max_budget_usd");
            subtypes.Add(subtype == "error_max_budget_usd" && reported > 0 ? "stopped mid-run" : subtype);
        }

        // and some runs were stopped by the cap after spending part of it, while others finished
        subtypes.ShouldContain("stopped mid-run");
        subtypes.ShouldContain("success");
    }

    /// <summary>Tool calls (Read) then a final text; input grows a little each turn, as a conversation does.</summary>
    private static List<Reply> RandomTurns(Random random, int count)
    {
        var input = random.Next(100, 1500);
        var cacheRead = random.Next(0, 1500);
        var turns = new List<Reply>();
        for (var k = 0; k < count; k++)
        {
            var cacheWrite = random.Next(0, 600);
            var usage = new ScriptedUsage(Input: input + 20 * k, Output: random.Next(10, 1025), CacheRead: cacheRead,
                CacheCreation: cacheWrite, CacheCreation1h: random.Next(0, cacheWrite + 1));
            turns.Add(k < count - 1
                ? Reply.WithTool("Read", new JsonObject { ["file_path"] = "notes.txt" }) with { Usage = usage }
                : Reply.WithText("done", usage));
        }
        return turns;
    }

    private static void AssertRealistic(IEnumerable<ServedReply> served)
    {
        foreach (var s in served.Where(s => s.Completed))
        {
            s.Usage.Output.ShouldBeLessThanOrEqualTo(s.MaxTokens ?? int.MaxValue, "scripted output must fit the request's max_tokens");
            (s.Usage.Input + s.Usage.CacheRead + s.Usage.CacheCreation).ShouldBeLessThanOrEqualTo(s.Request.Body.Length, "scripted input must fit the request's bytes");
        }
    }
}
