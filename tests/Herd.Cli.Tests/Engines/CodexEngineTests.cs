using System.Text.Json.Nodes;
using Herd.Testing;

using Herd.Cli.Tests.Run;

namespace Herd.Cli.Tests.Engines;

/// <summary>
/// <c>herd run --engine codex</c> end to end: the real Codex CLI from npm, pointed at the scripted server's Responses
/// API on loopback (Herd configures a provider from <c>OPENAI_BASE_URL</c>).
/// </summary>
[Collection("external engines")]
public sealed class CodexEngineTests
{
    private static async Task<FleetHarness> StartAsync(ModelScript script)
    {
        Clis.Require("codex");
        var h = await FleetHarness.StartAsync(script);
        h.EngineEnvironment = Clis.Environment(h.Dir, h.Server.BaseUrl);
        return h;
    }

    /// <summary>Ten model turns that each run a command, at 10 000 input tokens a turn.</summary>
    private static Conversation Looping(string match) => new(match, Enumerable.Range(0, 10).Select(i => new Reply
    {
        ToolCalls = [new ScriptedToolCall("exec_command", new JsonObject { ["cmd"] = $"echo step {i}" })],
        Usage = new ScriptedUsage(Input: 10_000, Output: 10),
    }).ToArray());

    [Fact]
    public async Task Forty_tasks_through_the_real_codex_CLI_get_complete_records()
    {
        // Given 40 tasks, each answered after one tool call
        var turns = new[]
        {
            Reply.WithTool("exec_command", new JsonObject { ["cmd"] = "echo hi" }) with { Usage = new ScriptedUsage(Input: 500, Output: 30) },
            Reply.WithText("Done at turn {turn}.", new ScriptedUsage(Input: 700, Output: 40, CacheRead: 300)),
        };
        await using var h = await StartAsync(new ModelScript { Conversations = [new Conversation("Summarize", turns)] });

        // When herd run drives codex, eight at a time
        var exit = await h.RunAsync(["--engine", "codex", "--model", "gpt-5", "-j", "8", "--prompt", "Summarize {}", "--run-dir", "run", "--progress", "none", ":::", .. FleetHarness.Inputs(40)]);

        // Then every record has the thread id, the thread's tokens, a priced (notional) cost and the outcome
        exit.ShouldBe(0, h.Err.ToString());
        var records = h.Records();
        records.Count.ShouldBe(40);
        foreach (var r in records)
        {
            r.GetProperty("engine").GetString().ShouldBe("codex");
            r.GetProperty("engine_version").GetString().ShouldBe(Clis.CodexVersion);
            r.GetProperty("outcome").GetProperty("class").GetString().ShouldBe("success");
            r.GetProperty("Stdout").GetString().ShouldBe("Done at turn 1.");
            Guid.TryParse(r.GetProperty("session_id").GetString(), out _).ShouldBeTrue();
            r.GetProperty("model").GetString().ShouldBe("gpt-5");
            r.GetProperty("num_turns").GetInt32().ShouldBe(2);
            var tokens = r.GetProperty("tokens");
            tokens.GetProperty("input").GetInt64().ShouldBe(1200);
            tokens.GetProperty("cache_read").GetInt64().ShouldBe(300);
            tokens.GetProperty("output").GetInt64().ShouldBe(70);
            r.GetProperty("cost_usd").GetDouble().ShouldBeGreaterThan(0);
            r.GetProperty("cost_notional").GetBoolean().ShouldBeTrue();
        }
        records.Select(r => r.GetProperty("session_id").GetString()).Distinct().Count().ShouldBe(40);
        // And no two codex processes shared a CODEX_HOME: each task's session is in a home of its own
        var homes = Directory.GetDirectories(Path.Combine(h.RunDir(), "engine", "codex", "home"));
        homes.Length.ShouldBe(40);
        homes.ShouldAllBe(home => Directory.GetFiles(Path.Combine(home, "sessions"), "rollout-*.jsonl", SearchOption.AllDirectories).Length == 1);
        h.Server.Requests.Count(q => q.Path == "/v1/responses").ShouldBe(80);
        h.Server.Requests.ShouldAllBe(q => q.Headers["authorization"] == "Bearer " + Clis.TestOpenAiKey);
        (await File.ReadAllTextAsync(Path.Combine(h.RunDir(), "results.ndjson"))).ShouldNotContain(Clis.TestOpenAiKey);
    }

    [Fact]
    public async Task A_budget_cap_stops_a_codex_task_that_would_cross_it()
    {
        // Given a task that would run ten turns at $0.15 each (gpt-5 is priced as an unknown model: $15 per M input)
        // (each answer takes 100 ms, as a real model's take seconds: Herd sees one call's usage before the next ends)
        await using var h = await StartAsync(new ModelScript { LatencyMs = 100, Conversations = [Looping("loop")] });

        // When its cap is $0.40
        var exit = await h.RunAsync("--engine", "codex", "--model", "gpt-5", "--max-budget-usd", "0.4", "--retries", "0",
            "--prompt", "loop {}", "--run-dir", "run", "--progress", "none", ":::", "t1");

        // Then Herd stopped the process tree once the priced tokens reached the cap
        exit.ShouldBe(1, h.Err.ToString());
        var r = h.Records().Single();
        r.GetProperty("outcome").GetProperty("class").GetString().ShouldBe("task_budget");
        r.GetProperty("cost_usd").GetDouble().ShouldBeGreaterThanOrEqualTo(0.4);
        r.GetProperty("Exitval").GetInt32().ShouldBe(-1);
        h.Server.Requests.Count.ShouldBeLessThanOrEqualTo(4);
    }

    [Fact]
    public async Task The_run_wide_budget_stops_codex_tasks_before_the_ceiling_is_crossed_by_more_than_one_call()
    {
        // Given three looping tasks under a $0.50 run-wide ceiling, each reserving $0.20 at a time
        await using var h = await StartAsync(new ModelScript { Conversations = [Looping("loop")] });

        // When they run together
        var exit = await h.RunAsync("--engine", "codex", "--model", "gpt-5", "--budget-usd", "0.5", "-j", "3", "--retries", "0",
            "--prompt", "loop {}", "--run-dir", "run", "--progress", "none", ":::", "t1", "t2", "t3");

        // Then the run halts with 102 and what was spent exceeds the ceiling by at most one call per running task
        exit.ShouldBe(102, h.Err.ToString());
        using var store = Herd.Fleet.Store.SqliteRunStore.Open(h.RunDir());
        store.TotalSpentUsd().ShouldBeLessThanOrEqualTo(0.5 + 3 * 0.1501);
        h.Server.Requests.Count.ShouldBeLessThan(30);
    }

    [Fact]
    public async Task A_turn_cap_stops_codex_after_max_turns()
    {
        await using var h = await StartAsync(new ModelScript { Conversations = [Looping("loop")] });

        var exit = await h.RunAsync("--engine", "codex", "--model", "gpt-5", "--max-turns", "2", "--retries", "0",
            "--prompt", "loop {}", "--run-dir", "run", "--progress", "none", ":::", "t1");

        exit.ShouldBe(1, h.Err.ToString());
        var r = h.Records().Single();
        r.GetProperty("outcome").GetProperty("class").GetString().ShouldBe("max_turns");
        r.GetProperty("num_turns").GetInt32().ShouldBe(3);
        h.Server.Requests.Count.ShouldBeLessThanOrEqualTo(4);
    }

    [Fact]
    public async Task Rate_limits_and_overloads_from_the_Responses_API_are_classified_and_retried()
    {
        // Given a server whose first answers are a 429 and a 529
        await using var h = await StartAsync(ModelScript.Replies(Reply.Error(429, retryAfter: 0), Reply.Error(529)) with { Default = Reply.WithText("ok") });

        // When two tasks run one at a time
        var exit = await h.RunAsync("--engine", "codex", "--model", "gpt-5", "-j", "1", "--retries", "3", "--retry-base", "10ms",
            "--prompt", "Do {}", "--run-dir", "run", "--progress", "none", ":::", "t1", "t2");

        // Then both faults were classified as back-pressure, retried, and both tasks succeeded
        exit.ShouldBe(0, h.Err.ToString());
        var classes = h.Records().SelectMany(r => r.GetProperty("attempts").EnumerateArray()).Select(a => a.GetProperty("class").GetString()).OrderBy(c => c).ToArray();
        classes.ShouldBe(["overloaded", "rate_limited", "success", "success"]);
    }

    [Fact]
    public async Task A_json_schema_becomes_output_schema_and_the_final_message_the_structured_output()
    {
        await using var h = await StartAsync(new ModelScript { Default = Reply.WithText("{\"verdict\":\"ok\"}") });
        const string schema = "{\"type\":\"object\",\"properties\":{\"verdict\":{\"type\":\"string\"}},\"required\":[\"verdict\"],\"additionalProperties\":false}";

        var exit = await h.RunAsync("--engine", "codex", "--model", "gpt-5", "--json-schema", schema, "--prompt", "Judge {}", "--run-dir", "run", "--progress", "none", ":::", "t1");

        exit.ShouldBe(0, h.Err.ToString());
        var r = h.Records().Single();
        r.GetProperty("structured_output").GetProperty("verdict").GetString().ShouldBe("ok");
        r.GetProperty("Command").GetString()!.ShouldContain("--output-schema");
        h.Server.Requests.Single().Body.ShouldContain("\"verdict\"");
    }
}
