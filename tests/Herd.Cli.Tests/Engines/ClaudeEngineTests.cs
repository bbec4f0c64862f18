using System.Text.Json;
using System.Text.Json.Nodes;
using Herd.Testing;

using Herd.Cli.Tests.Run;

namespace Herd.Cli.Tests.Engines;

/// <summary>
/// <c>herd run --engine claude</c> end to end: the real Claude Code 2.1.332 from npm, pointed at the scripted Messages
/// server on loopback through <c>ANTHROPIC_BASE_URL</c>.
/// </summary>
[Collection("external engines")]
public sealed class ClaudeEngineTests
{
    private static async Task<FleetHarness> StartAsync(ModelScript script)
    {
        Clis.Require("claude");
        var h = await FleetHarness.StartAsync(script);
        h.EngineEnvironment = Clis.Environment(h.Dir, h.Server.BaseUrl);
        return h;
    }

    [Fact]
    public async Task Forty_tasks_through_the_real_claude_CLI_get_complete_records()
    {
        // Given 40 tasks
        await using var h = await StartAsync(new ModelScript { Default = Reply.WithText("Summary {turn}") });

        // When herd run drives claude, eight at a time
        var exit = await h.RunAsync(["--engine", "claude", "-j", "8", "--model", "claude-sonnet-4-5", "--prompt", "Summarize {}", "--run-dir", "run", "--progress", "none", ":::", .. FleetHarness.Inputs(40)]);

        // Then every record is complete: session id, tokens, cost, outcome, the CLI's version
        exit.ShouldBe(0, h.Err.ToString());
        var records = h.Records();
        records.Count.ShouldBe(40);
        foreach (var r in records)
        {
            r.GetProperty("engine").GetString().ShouldBe("claude");
            r.GetProperty("engine_version").GetString().ShouldBe(Clis.ClaudeVersion);
            r.GetProperty("outcome").GetProperty("class").GetString().ShouldBe("success");
            r.GetProperty("Stdout").GetString().ShouldBe("Summary 0");
            var session = r.GetProperty("session_id").GetString()!;
            Guid.TryParse(session, out _).ShouldBeTrue();
            r.GetProperty("attempts")[0].GetProperty("session_id").GetString().ShouldBe(session);
            r.GetProperty("num_turns").GetInt32().ShouldBe(1);
            r.GetProperty("tokens").GetProperty("input").GetInt64().ShouldBe(100);
            r.GetProperty("tokens").GetProperty("output").GetInt64().ShouldBe(20);
            r.GetProperty("cost_usd").GetDouble().ShouldBeGreaterThan(0);
            r.GetProperty("cost_notional").GetBoolean().ShouldBeFalse();
            r.GetProperty("model").GetString().ShouldBe("claude-sonnet-4-5");
            r.GetProperty("Exitval").GetInt32().ShouldBe(0);
        }
        records.Select(r => r.GetProperty("session_id").GetString()).Distinct().Count().ShouldBe(40);
        h.Server.Requests.Count(q => q.Path == "/v1/messages").ShouldBe(40);
        // Each prompt went to claude on stdin and from there to the model.
        foreach (var input in FleetHarness.Inputs(40))
            h.Server.Requests.Count(q => q.Body.Contains("Summarize " + input + "\"", StringComparison.Ordinal)).ShouldBe(1, input);

        // And the API key reached the server but no file Herd wrote
        h.Server.Requests.ShouldAllBe(q => q.Headers["x-api-key"] == Clis.TestApiKey);
        foreach (var file in new[] { "results.ndjson", "summary.json", "run.db" })
            (await File.ReadAllTextAsync(Path.Combine(h.RunDir(), file))).ShouldNotContain(Clis.TestApiKey);
    }

    [Fact]
    public async Task A_seeded_mix_of_429_529_and_a_hang_is_classified_and_retried()
    {
        // Given a server whose first three answers are a 429, a 529 and a stalled stream
        await using var h = await StartAsync(ModelScript.Replies(
            Reply.Error(429, retryAfter: 0), Reply.Error(529), new Reply { Text = "late", StallMs = 30_000 }));

        // When three tasks run one at a time, with claude's own retries off
        var exit = await h.RunAsync("--engine", "claude", "--engine-env", "CLAUDE_CODE_MAX_RETRIES=0", "-j", "1", "--idle-timeout", "4s",
            "--retries", "3", "--retry-base", "10ms", "--prompt", "Do {}", "--run-dir", "run", "--progress", "none", ":::", "t1", "t2", "t3");

        // Then each fault was classified in the vocabulary of in-process tasks, retried, and every task succeeded
        exit.ShouldBe(0, h.Err.ToString());
        var records = h.Records();
        records.ShouldAllBe(r => r.GetProperty("outcome").GetProperty("class").GetString() == "success");
        var failedAttempts = records.SelectMany(r => r.GetProperty("attempts").EnumerateArray())
            .Select(a => a.GetProperty("class").GetString()).Where(c => c != "success").OrderBy(c => c).ToArray();
        failedAttempts.ShouldBe(["hang", "overloaded", "rate_limited"]);
        records.Sum(r => r.GetProperty("retries").GetInt32()).ShouldBe(3);
    }

    [Fact]
    public async Task A_task_budget_stops_claude_once_its_cost_reaches_the_cap()
    {
        // Given a conversation that would call tools for ten turns at $0.50 a call (claude-opus-5-5: $5 per M input)
        var file = Path.GetTempFileName();
        var turns = Enumerable.Range(0, 10).Select(_ => new Reply
        {
            ToolCalls = [new ScriptedToolCall("Read", new JsonObject { ["file_path"] = file })],
            Usage = new ScriptedUsage(Input: 100_000, Output: 10),
        }).ToArray();
        await using var h = await StartAsync(new ModelScript { Conversations = [new Conversation("expensive", turns)] });

        // When the task's cap is $0.60
        var exit = await h.RunAsync("--engine", "claude", "--model", "claude-opus-5-5", "--max-budget-usd", "0.6", "--retries", "0",
            "--prompt", "expensive {}", "--run-dir", "run", "--progress", "none", ":::", "t1");

        // Then it stops after the call that crossed the cap, classified task_budget
        exit.ShouldBe(1, h.Err.ToString());
        var r = h.Records().Single();
        r.GetProperty("outcome").GetProperty("class").GetString().ShouldBe("task_budget");
        r.GetProperty("cost_usd").GetDouble().ShouldBeGreaterThanOrEqualTo(0.6);
        h.Server.Requests.Count.ShouldBeLessThanOrEqualTo(3);
        File.Delete(file);
    }

    [Fact]
    public async Task Two_hundred_claude_tasks_leave_every_config_file_valid_JSON()
    {
        // Given 200 tasks, 24 processes at a time, each slot with its own CLAUDE_CONFIG_DIR
        await using var h = await StartAsync(new ModelScript());

        // When they all run
        var exit = await h.RunAsync(["--engine", "claude", "-j", "24", "--prompt", "Do {}", "--run-dir", "run", "--progress", "none", ":::", .. FleetHarness.Inputs(200)]);

        // Then all succeeded and every JSON file any claude process wrote parses
        exit.ShouldBe(0, h.Err.ToString());
        h.Records().Count.ShouldBe(200);
        var configs = Directory.EnumerateFiles(Path.Combine(h.RunDir(), "engine", "claude"), "*.json", SearchOption.AllDirectories).ToArray();
        configs.Count(f => Path.GetFileName(f) == ".claude.json").ShouldBeGreaterThan(1);
        foreach (var config in configs)
            Should.NotThrow(() => JsonDocument.Parse(File.ReadAllText(config)).Dispose(), config);
        var home = Path.Combine(h.Dir, "home", ".claude.json");
        File.Exists(home).ShouldBeFalse("no claude process may write the shared ~/.claude.json");
    }

    [Fact]
    public async Task Ctrl_C_stops_every_claude_process_and_resume_continues_each_session()
    {
        // Given four tasks whose first model calls take a minute
        await using var h = await StartAsync(ModelScript.Replies(
            new Reply { Text = "slow", LatencyMs = 60_000 }, new Reply { Text = "slow", LatencyMs = 60_000 },
            new Reply { Text = "slow", LatencyMs = 60_000 }, new Reply { Text = "slow", LatencyMs = 60_000 }));
        using var cancel = new CancellationTokenSource();
        h.Cancel = cancel.Token;
        var marker = h.Dir;

        // When the run is interrupted while all four claude processes wait
        var run = h.RunAsync("--engine", "claude", "-j", "4", "--prompt", "Do {}", "--run-dir", "run", "--progress", "none", ":::", "a", "b", "c", "d");
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while (h.Server.RequestCount < 4 && DateTime.UtcNow < deadline)
            await Task.Delay(50);
        h.Server.RequestCount.ShouldBe(4);
        Clis.Alive(marker).Count.ShouldBeGreaterThanOrEqualTo(4);
        await cancel.CancelAsync();
        var exit = await run.WaitAsync(TimeSpan.FromSeconds(60));

        // Then it exits 130 with no claude process left behind
        exit.ShouldBe(130, h.Err.ToString());
        Clis.Alive(marker).ShouldBeEmpty();
        h.Records().ShouldBeEmpty();

        // And --resume finishes every task in the session its interrupted attempt started
        h.Cancel = CancellationToken.None;
        var resumed = await h.RunAsync("--resume", "--run-dir", "run", "--progress", "none");
        resumed.ShouldBe(0, h.Err.ToString());
        var records = h.Records();
        records.Count.ShouldBe(4);
        foreach (var r in records)
        {
            var attempts = r.GetProperty("attempts").EnumerateArray().ToArray();
            attempts.Length.ShouldBe(2);
            attempts[0].GetProperty("class").GetString().ShouldBe("cancelled");
            r.GetProperty("session_id").GetString().ShouldBe(attempts[0].GetProperty("session_id").GetString());
            r.GetProperty("Command").GetString()!.ShouldContain("--resume " + attempts[0].GetProperty("session_id").GetString());
        }
    }
}
