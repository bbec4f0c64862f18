using System.Text.Json.Nodes;
using Herd.Testing;
using Xunit.Abstractions;

namespace Herd.Reliability.Tests;

/// <summary>
/// Claim 1 (issue 6, spec fanout §7.1): SIGKILL at any moment, then <c>--resume</c>, loses no task and duplicates no
/// record. One run of the real herd process is killed again and again, at seeded random moments, and resumed after
/// each kill.
/// </summary>
public sealed class KillNineTests(ITestOutputHelper output)
{
    private const int Seed = 6001;
    private const int TaskCount = 160;
    private const int Kills = 12;

    [Fact]
    public async Task I_can_kill_9_a_run_at_12_random_moments_and_resume_it_with_no_lost_and_no_duplicate_record()
    {
        // Given 120 tasks that each read a file (one tool call) and answer, with small latency
        await using var ws = await Workspace.StartAsync(new ModelScript
        {
            LatencyMs = 15,
            Conversations = [new Conversation(null, [
                Reply.WithTool("Read", new JsonObject { ["file_path"] = "notes.txt" }),
                Reply.WithText("Read it: {prompt}")])],
        });
        ws.Work.WriteFile("notes.txt", "the file each task reads\n");
        var inputs = Enumerable.Range(1, TaskCount).Select(i => $"item-{i:D4}").ToArray();
        string[] planArgs = ["-j", "8", "--model", TestPrices.Model, "--prompt", "Summarize {}", "--progress", "none"];
        var runDir = ws.RunDir();
        var results = Path.Combine(runDir, "results.ndjson");
        var random = new Random(Seed);
        var kills = new List<string>();

        // When the run is killed with SIGKILL at 12 seeded moments, and resumed from the stored plan after each kill
        var launch = 0;
        while (kills.Count < Kills)
        {
            string[] args = launch == 0 ? ["run", .. planArgs, "--run-dir", "run", ":::", .. inputs] : ["run", "--resume", "--run-dir", "run", "--progress", "none"];
            var recordsAtLaunch = Math.Max(0, Workspace.CountRecords(results));
            var (process, _, stderr) = ws.Start(ws.Herd(), args);
            launch++;
            if (launch == 1)
            {
                // The plan is durable once results.ndjson exists (it is rebuilt after the tasks are committed); a kill
                // before that loses nothing, since nothing was accepted yet.
                await WaitUntilAsync(() => File.Exists(results) || process.HasExited, TimeSpan.FromSeconds(60));
            }
            string moment;
            if (random.Next(3) == 0)
            {
                // A moment in time: may land in start-up, in recovery, in the results rebuild, or mid-run. It is also
                // bounded by progress, so that on a fast machine no launch can finish the remaining plan before its
                // kill: 12 kills × at most ~12 tasks each stay below the 160 planned.
                var delay = random.Next(0, 900);
                var started = DateTime.UtcNow;
                await WaitUntilAsync(() => (DateTime.UtcNow - started).TotalMilliseconds >= delay
                    || Workspace.CountRecords(results) >= recordsAtLaunch + 8 || process.HasExited, TimeSpan.FromSeconds(60));
                moment = $"{delay} ms after launch (or 8 more records)";
            }
            else
            {
                // A moment in progress: after 1–7 more tasks finished, then 0–40 ms into whatever runs next.
                var more = random.Next(1, 8);
                var jitter = random.Next(0, 41);
                await WaitUntilAsync(() => Workspace.CountRecords(results) >= recordsAtLaunch + more || process.HasExited, TimeSpan.FromSeconds(60));
                await Task.WhenAny(Task.Delay(jitter), process.WaitForExitAsync());
                moment = $"{more} more record(s) + {jitter} ms";
            }
            process.HasExited.ShouldBeFalse($"launch {launch} finished before its kill ({moment}); stderr: {(process.HasExited ? await stderr : "")}");
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
            process.ExitCode.ShouldBe(137, $"launch {launch} ({moment}) should end by SIGKILL, not exit; stderr: {await stderr}");
            kills.Add($"kill {kills.Count + 1}: {moment}: {Workspace.CountRecords(results)} record(s)");
            output.WriteLine(kills[^1]);
        }
        var final = await ws.Herd().RunAsync(["run", "--resume", "--run-dir", "run", "--progress", "none"], timeout: TimeSpan.FromSeconds(120));

        // Then the resumed run completes, with exactly one successful record per planned task
        final.ExitCode.ShouldBe(0, final.ToString());
        var records = Workspace.Records(runDir);
        var byKey = records.GroupBy(r => (string)r["key"]!).ToDictionary(g => g.Key, g => g.ToArray());
        byKey.Where(g => g.Value.Length > 1).Select(g => g.Key).ShouldBeEmpty("duplicate records");
        records.Count.ShouldBe(TaskCount, string.Join("\n", kills));
        records.Select(r => (string)r["task"]!).Order().ToArray().ShouldBe(inputs); // every planned task has its record
        records.ShouldAllBe(r => (string)r["outcome"]!["class"]! == "success");

        // and the keys are the plan's keys, as a dry run of the same arguments computes them
        var dry = await ws.Herd().RunAsync(["run", .. planArgs, "--dry-run", "--run-dir", "dry", ":::", .. inputs]);
        dry.ExitCode.ShouldBe(0, dry.ToString());
        var plannedPrefixes = dry.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.Split('\t')[0]).Order().ToArray();
        byKey.Keys.Select(k => k[..plannedPrefixes[0].Length]).Order().ShouldBe(plannedPrefixes);

        // and run.db, read directly, agrees: every task done and successful, its stored record the one in the file
        using var db = Workspace.OpenRunDb(runDir);
        var tasks = Workspace.Rows(db, "SELECT key, state, class, record FROM tasks");
        tasks.Count.ShouldBe(TaskCount);
        foreach (var t in tasks)
        {
            t[1].ShouldBe("done");
            t[2].ShouldBe("success");
            JsonNode.DeepEquals(JsonNode.Parse((string)t[3]!), byKey[(string)t[0]!][0]).ShouldBeTrue($"record of {t[0]} differs between run.db and results.ndjson");
        }

        // and no attempt is left without a terminal state: each task has one success, every other attempt was interrupted
        Workspace.Scalar<long>(db, "SELECT COUNT(*) FROM attempts WHERE end IS NULL OR class IS NULL").ShouldBe(0);
        Workspace.Rows(db, "SELECT task, COUNT(*) FROM attempts WHERE class = 'success' GROUP BY task HAVING COUNT(*) <> 1").ShouldBeEmpty();
        Workspace.Scalar<long>(db, "SELECT COUNT(DISTINCT task) FROM attempts WHERE class = 'success'").ShouldBe(TaskCount);
        Workspace.Rows(db, "SELECT DISTINCT class FROM attempts").Select(r => (string)r[0]!).Order().ShouldBe(["interrupted", "success"]);
        var interrupted = Workspace.Scalar<long>(db, "SELECT COUNT(*) FROM attempts WHERE class = 'interrupted'");
        interrupted.ShouldBeGreaterThan(0, "the kills must land while attempts run, or this test proves little");
        Workspace.SummaryOf(runDir)["finished"]!.GetValue<int>().ShouldBe(TaskCount);
    }

    [Fact]
    public async Task A_killed_attempt_keeps_what_it_spent_so_a_resumed_run_counts_it_against_the_budget()
    {
        // Given two tasks whose first call (a tool call) is billed at once and whose second call hangs
        var firstCall = new ScriptedUsage(Input: 1000, Output: 1000);
        await using var ws = await Workspace.StartAsync(new ModelScript
        {
            Conversations = [new Conversation(null, [
                Reply.WithTool("LS", new JsonObject()) with { Usage = firstCall },
                new Reply { Text = "late", LatencyMs = 120_000 }])],
        });
        var runDir = ws.RunDir();
        var (process, _, stderr) = ws.Start(ws.Herd(), ["run", "-j", "2", "--model", TestPrices.Model, "--prompt", "Do {}", "--progress", "none", "--run-dir", "run", ":::", "a", "b"]);

        // When herd is killed with SIGKILL while both second calls are in flight
        await WaitUntilAsync(() => ws.Server.RequestCount >= 4 || process.HasExited, TimeSpan.FromSeconds(60));
        process.HasExited.ShouldBeFalse(process.HasExited ? await stderr : "");
        // The first calls' cost is committed off the scheduling path, in order: wait until run.db shows it, then kill.
        await WaitUntilAsync(() => CommittedCost(runDir) >= 2 * TestPrices.CostOf(firstCall) - 1e-12, TimeSpan.FromSeconds(30));
        process.Kill(entireProcessTree: true);
        await process.WaitForExitAsync();

        // Then run.db still holds what both attempts spent, which is what a resumed run's ledger starts from
        using var db = Workspace.OpenRunDb(runDir);
        Workspace.Scalar<double>(db, "SELECT COALESCE(SUM(cost_usd), 0) FROM attempts").ShouldBe(2 * TestPrices.CostOf(firstCall), 1e-12);
        Workspace.Scalar<long>(db, "SELECT COUNT(*) FROM attempts WHERE end IS NULL").ShouldBe(2);
    }

    private static double CommittedCost(string runDir)
    {
        try
        {
            using var db = Workspace.OpenRunDb(runDir);
            return Workspace.Scalar<double>(db, "SELECT COALESCE(SUM(cost_usd), 0) FROM attempts");
        }
        catch (Microsoft.Data.Sqlite.SqliteException)
        {
            return 0; // not created yet, or busy: look again
        }
    }

    private static async Task WaitUntilAsync(Func<bool> condition, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (!condition())
        {
            if (DateTime.UtcNow > deadline)
                throw new TimeoutException("condition not met in time");
            await Task.Delay(5);
        }
    }
}
