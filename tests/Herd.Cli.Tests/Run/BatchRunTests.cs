using System.Text.Json;
using System.Text.Json.Nodes;
using Herd.Fleet.Batches;
using Herd.Fleet.Store;
using Herd.Testing;

namespace Herd.Cli.Tests.Run;

/// <summary><c>herd run --batch</c>: every task advanced one turn per Message Batch, against the scripted server.</summary>
public sealed class BatchRunTests
{
    private const string Model = "claude-batch-test-1";
    private const double InputPerMTok = 3, OutputPerMTok = 15;

    static BatchRunTests() => Environment.SetEnvironmentVariable("HERD_BATCH_POLL_MS", "20");

    /// <summary>Three turns: the model lists the directory twice, then answers. <paramref name="seeded"/> answers the first requests the server sees.</summary>
    private static ModelScript Script(int processingMs, params Reply[] seeded) => new()
    {
        BatchProcessingMs = processingMs,
        Queue = seeded,
        Conversations =
        [
            new Conversation("Review", [
                new Reply { ToolCalls = [new ScriptedToolCall("LS", new JsonObject())], Usage = new ScriptedUsage(1000, 40) },
                new Reply { ToolCalls = [new ScriptedToolCall("LS", new JsonObject())], Usage = new ScriptedUsage(1300, 40, CacheRead: 800) },
                new Reply { Text = "no findings in {prompt}", Usage = new ScriptedUsage(1500, 30, CacheRead: 1000) },
            ]),
        ],
    };

    private static double PriceOf(ScriptedUsage u) => (u.Input * InputPerMTok + u.CacheRead * InputPerMTok * 0.1 + u.Output * OutputPerMTok) / 1e6;

    private static string[] Argv(FleetHarness h, string runDir, int tasks, params string[] more) =>
    [
        "--prompt", "Review {}", "--model", Model, "--prices", Prices(h), "--run-dir", runDir, "--progress", "none", .. more, ":::", .. FleetHarness.Inputs(tasks),
    ];

    private static string Prices(FleetHarness h)
    {
        var path = Path.Combine(h.Dir, "prices.json");
        var models = new JsonObject { [Model] = new JsonObject { ["input"] = InputPerMTok, ["output"] = OutputPerMTok, ["context_window"] = 200000, ["max_output_tokens"] = 4096 } };
        File.WriteAllText(path, new JsonObject { ["models"] = models }.ToJsonString());
        return path;
    }

    [Fact]
    public async Task Two_hundred_tasks_of_three_turns_in_batch_rounds_with_errored_and_expired_requests_end_with_one_record_each_at_half_the_live_cost()
    {
        // Given the same 200-task, 3-turn run made live
        const int Tasks = 200;
        await using var h = await FleetHarness.StartAsync(Script(processingMs: 0));
        var liveExit = await h.RunAsync(Argv(h, "live", Tasks, "-j", "16"));
        liveExit.ShouldBe(0, h.Err.ToString());
        var live = h.Records("live");

        // When it runs with --batch, the first batch's first request errored (500) and its second expired
        h.Server.Reset(Script(processingMs: 100, new Reply { Status = 500 }, new Reply { Expired = true }));
        var servedBefore = h.Server.Served.Count;
        var exit = await h.RunAsync(Argv(h, "batch", Tasks, "--batch", "--progress", "plain", "--progress-interval", "50ms"));

        // Then every task has one record, of the same shape as a live run's, and succeeded
        exit.ShouldBe(0, h.Err.ToString());
        var records = h.Records("batch");
        records.Count.ShouldBe(Tasks);
        records.Select(r => r.GetProperty("key").GetString()).Distinct().Count().ShouldBe(Tasks);
        records.ShouldAllBe(r => r.GetProperty("outcome").GetProperty("class").GetString() == "success" && r.GetProperty("num_turns").GetInt32() == 3);
        records[0].EnumerateObject().Select(p => p.Name).ShouldBe(live[0].EnumerateObject().Select(p => p.Name));
        // And the progress lines showed the rounds, the batch state and its request counts
        h.Err.ToString().ShouldMatch(@"herd: batch round 1 msgbatch_\w+ (in_progress|ended): \d+ processing, \d+ succeeded, \d+ errored, \d+ expired; \d+ of \d+ tasks waiting");
        h.Err.ToString().ShouldContain("herd: batch round 4 ");
        // And it cost half of the live run, as the server's own usage log prices it at the batch rate
        var liveCost = live.Sum(r => r.GetProperty("cost_usd").GetDouble());
        var batchCost = records.Sum(r => r.GetProperty("cost_usd").GetDouble());
        batchCost.ShouldBe(liveCost * 0.5, liveCost * 1e-6);
        var served = h.Server.Served.Skip(servedBefore).ToArray();
        served.ShouldAllBe(s => s.Batch);
        (served.Where(s => s.Completed).Sum(s => PriceOf(s.Usage)) * 0.5).ShouldBe(batchCost, liveCost * 1e-6);
        // And the rounds were turn-synchronous: all first calls; then the second calls and the two retried first calls; …
        var creates = h.Server.Requests.Where(r => r.Path == "/v1/messages/batches").Select(r => r.Json["requests"]!.AsArray()).ToArray();
        creates.Select(c => c.Count).ShouldBe([Tasks, Tasks, Tasks, 2]);
        var customIds = creates.SelectMany(c => c.Select(r => (string)r!["custom_id"]!)).ToArray();
        customIds.Distinct().Count().ShouldBe(customIds.Length);
        h.Server.Requests.Count(r => r.Path == "/v1/messages").ShouldBe(3 * Tasks); // the live run's only
        // And each request's cache breakpoints carry the 1-hour TTL, so the shared prefix outlives a round
        var firstParams = creates[0][0]!["params"]!.ToJsonString();
        firstParams.ShouldContain("\"cache_control\":{\"type\":\"ephemeral\",\"ttl\":\"1h\"}");
        firstParams.ShouldNotContain("\"type\":\"ephemeral\"}");
        // And the run store holds the four rounds, each collected
        using var store = SqliteRunStore.Open(h.RunDir("batch"));
        ((IBatchLedger)store).Batches().Select(b => (b.Round, b.State)).ShouldBe(
            [(1, BatchState.Collected), (2, BatchState.Collected), (3, BatchState.Collected), (4, BatchState.Collected)]);
    }

    [Fact]
    public async Task A_budget_holds_at_the_batch_rate_and_the_definition_says_the_run_is_a_batch_run()
    {
        // Given a ceiling that holds the whole run at the batch rate, but not live
        await using var h = await FleetHarness.StartAsync(Script(processingMs: 0));
        var perTaskLive = PriceOf(new ScriptedUsage(1000, 40)) + PriceOf(new ScriptedUsage(1300, 40, CacheRead: 800)) + PriceOf(new ScriptedUsage(1500, 30, CacheRead: 1000));

        // When 4 tasks run in batch rounds
        var exit = await h.RunAsync(Argv(h, "run", 4, "--batch", "--on-interrupt", "cancel", "--max-tokens", "1024", "--budget-usd", "1"));

        // Then they all finish and the spend is half the live price
        exit.ShouldBe(0, h.Err.ToString());
        h.Records().Sum(r => r.GetProperty("cost_usd").GetDouble()).ShouldBe(4 * perTaskLive * 0.5, 1e-9);
        using var store = SqliteRunStore.Open(h.RunDir());
        var definition = Herd.Fleet.Runs.RunDefinition.Parse(store.ReadRun()!.DefinitionJson!, "test");
        definition.Batch.ShouldNotBeNull().OnInterrupt.ShouldBe(InterruptPolicy.Cancel);
    }

    [Fact]
    public async Task A_batch_whose_retrieval_fails_for_a_while_is_polled_again_and_none_of_its_requests_is_submitted_twice()
    {
        // Given a server whose first five answers to "has the batch ended?" are 500s
        await using var h = await FleetHarness.StartAsync(Script(processingMs: 50) with { BatchPollFailures = 5 });

        // When 10 tasks run in batch rounds
        var exit = await h.RunAsync(Argv(h, "run", 10, "--batch"));

        // Then the run ends as if nothing had happened: three rounds, each request submitted once
        exit.ShouldBe(0, h.Err.ToString());
        h.Records().Count.ShouldBe(10);
        var ids = h.Server.Requests.Where(r => r.Path == "/v1/messages/batches").SelectMany(r => r.Json["requests"]!.AsArray().Select(q => (string)q!["custom_id"]!)).ToArray();
        ids.Length.ShouldBe(30);
        ids.Distinct().Count().ShouldBe(30);
    }

    [Fact]
    public async Task On_interrupt_without_batch_is_refused_with_one_line()
    {
        await using var h = await FleetHarness.StartAsync(Script(processingMs: 0));
        var exit = await h.RunAsync(Argv(h, "run", 1, "--on-interrupt", "cancel"));
        exit.ShouldBe(255);
        h.Err.ToString().Trim().ShouldBe("Error: --on-interrupt says what happens to a Message Batch in flight; it needs --batch.");
    }
}
