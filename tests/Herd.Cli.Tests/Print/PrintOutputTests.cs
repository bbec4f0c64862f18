using System.Text.Json.Nodes;
using Herd.Testing;

namespace Herd.Cli.Tests.Print;

public sealed class PrintOutputTests : HerdTestBase
{
    [Fact]
    public async Task I_get_the_final_text_on_stdout_in_text_mode()
    {
        // Given
        Server.Reset(ModelScript.Replies(Reply.WithText("The auth module checks tokens.")));

        // When
        var run = await Herd.RunAsync("-p", "What does the auth module do?");

        // Then
        run.ExitCode.ShouldBe(0, run.Stderr);
        run.Stdout.ShouldBe("The auth module checks tokens.\n");
    }

    [Fact]
    public async Task I_get_one_result_object_with_every_field_in_json_mode()
    {
        Server.Reset(ModelScript.Replies(Reply.WithText("hi", new ScriptedUsage(Input: 100, Output: 20))));

        var run = await Herd.RunAsync("-p", "Summarize this project", "--output-format", "json", "--model", "sonnet");

        run.ExitCode.ShouldBe(0, run.Stderr);
        run.Stdout.Count(c => c == '\n').ShouldBe(1);
        var result = run.Json;
        result.Select(p => p.Key).ShouldBe([
            "type", "subtype", "is_error", "duration_ms", "duration_api_ms", "num_turns", "result", "stop_reason", "session_id",
            "total_cost_usd", "usage", "modelUsage", "permission_denials", "terminal_reason", "api_error_status", "ttft_ms", "fast_mode_state", "uuid",
        ]);
        ((string?)result["subtype"]).ShouldBe("success");
        ((bool)result["is_error"]!).ShouldBeFalse();
        ((string?)result["result"]).ShouldBe("hi");
        ((int)result["num_turns"]!).ShouldBe(1);
        ((string?)result["stop_reason"]).ShouldBe("end_turn");
        ((string?)result["terminal_reason"]).ShouldBe("completed");
        Guid.TryParse((string?)result["session_id"], out _).ShouldBeTrue();
        // 100 in × $2/MTok + 20 out × $10/MTok (sonnet = Sonnet 5.5, as Claude Code 2.1.332 resolves it).
        ((double)result["total_cost_usd"]!).ShouldBe(0.0004, 1e-12);
        var usage = (JsonObject)result["usage"]!;
        usage.Select(p => p.Key).ShouldBe(["input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens", "output_tokens", "server_tool_use", "service_tier", "cache_creation"]);
        var model = (JsonObject)result["modelUsage"]!["claude-sonnet-5-5"]!;
        model.Select(p => p.Key).ShouldBe(["inputTokens", "outputTokens", "cacheReadInputTokens", "cacheCreationInputTokens", "webSearchRequests", "costUSD", "contextWindow", "maxOutputTokens"]);
        ((long)model["inputTokens"]!).ShouldBe(100);
    }

    [Fact]
    public async Task I_get_an_array_of_every_message_with_json_and_verbose()
    {
        var file = Work.WriteFile("a.txt", "alpha\n");
        Server.Reset(ModelScript.Replies(Reply.WithTool("Read", new JsonObject { ["file_path"] = file }), Reply.WithText("read it")));

        var run = await Herd.RunAsync("-p", "read a.txt", "--output-format", "json", "--verbose");

        run.ExitCode.ShouldBe(0, run.Stderr);
        var array = JsonNode.Parse(run.Stdout)!.AsArray();
        array.Select(m => (string?)m!["type"]).ShouldBe(["system", "assistant", "user", "assistant", "result"]);
        ((string?)array[0]!["subtype"]).ShouldBe("init");
    }

    [Fact]
    public async Task I_get_init_then_one_assistant_event_per_block_then_tool_results_then_the_result_in_stream_json()
    {
        var file = Work.WriteFile("notes.txt", "one\ntwo\n");
        Server.Reset(ModelScript.Replies(
            new Reply { Text = "Let me read it.", ToolCalls = [new ScriptedToolCall("Read", new JsonObject { ["file_path"] = file })] },
            Reply.WithText("It has two lines.")));

        var run = await Herd.RunAsync("-p", "How many lines?", "--output-format", "stream-json", "--verbose");

        run.ExitCode.ShouldBe(0, run.Stderr);
        var lines = run.JsonLines;
        lines.Select(l => $"{l["type"]}/{l["subtype"]}").ShouldBe([
            "system/init", "system/status", "assistant/", "assistant/", "user/", "assistant/", "result/success",
        ]);
        var init = lines[0];
        ((string?)init["claude_code_version"]).ShouldBe("2.1.332");
        ((string?)init["cwd"]).ShouldBe(Work.Path);
        init["tools"]!.AsArray().Select(t => (string?)t).ShouldContain("Read");
        // The two blocks of the first message share its id.
        ((string?)lines[2]["message"]!["id"]).ShouldBe((string?)lines[3]["message"]!["id"]);
        ((string?)lines[3]["message"]!["content"]![0]!["type"]).ShouldBe("tool_use");
        var toolResult = lines[4]["message"]!["content"]![0]!;
        // 2.1.332's shape: number, TAB, line; the final newline yields an empty last numbered line.
        ((string?)toolResult["content"]).ShouldBe("1\tone\n2\ttwo\n3\t");
        ((int)lines[4]["tool_use_result"]!["file"]!["totalLines"]!).ShouldBe(3);
        lines.ShouldAllBe(l => (string?)l["session_id"] == (string?)init["session_id"]);
    }

    [Fact]
    public async Task I_can_pipe_the_partial_text_deltas_through_the_documented_jq_filter()
    {
        const string text = "Recursion is when a function calls itself until a base case stops it.";
        Server.Reset(ModelScript.Replies(Reply.WithText(text)));

        var run = await Herd.RunAsync("-p", "Explain recursion", "--output-format", "stream-json", "--verbose", "--include-partial-messages");

        run.ExitCode.ShouldBe(0, run.Stderr);
        var lines = run.JsonLines;
        // select(.type=="stream_event" and .event.delta.type?=="text_delta") | .event.delta.text
        var deltas = lines.Where(l => (string?)l["type"] == "stream_event" && (string?)l["event"]!["delta"]?["type"] == "text_delta")
            .Select(l => (string?)l["event"]!["delta"]!["text"]);
        string.Concat(deltas).ShouldBe(text);
        var kinds = lines.Select(l => (string?)l["type"] == "stream_event" ? (string?)l["event"]!["type"] : (string?)l["type"]).ToList();
        // The complete block is emitted before its content_block_stop (spec §4.3).
        kinds.IndexOf("assistant").ShouldBe(kinds.IndexOf("content_block_stop") - 1);
        kinds[^1].ShouldBe("result");
        kinds.ShouldContain("message_start");
        kinds.ShouldContain("message_stop");
        lines.Where(l => (string?)l["type"] == "stream_event").ShouldAllBe(l => l["parent_tool_use_id"] == null);
    }

    [Fact]
    public async Task I_can_pipe_stdin_and_it_follows_the_prompt_after_a_newline()
    {
        Server.Reset(ModelScript.Replies(Reply.WithText("ok")));

        var run = await Herd.RunAsync(["-p", "Summarize errors and likely root causes"], stdin: "ERROR db timeout\nERROR db timeout\n");

        run.ExitCode.ShouldBe(0, run.Stderr);
        var sent = Server.Requests.Single().Json["messages"]![0]!["content"]![0]!;
        ((string?)sent["text"]).ShouldBe("Summarize errors and likely root causes\nERROR db timeout\nERROR db timeout\n");
    }

    [Fact]
    public async Task I_get_an_error_when_stdin_is_larger_than_10_MB()
    {
        var run = await Herd.RunAsync(["-p", "Summarize"], stdin: new string('x', 10 * 1024 * 1024 + 10));

        run.ExitCode.ShouldBe(1);
        run.Stderr.ShouldContain("10 MB");
        run.Stdout.ShouldBeEmpty();
        Server.RequestCount.ShouldBe(0);
    }

    [Fact]
    public async Task The_request_carries_the_api_headers_and_cache_breakpoints()
    {
        var file = Work.WriteFile("a.txt", "x");
        Server.Reset(ModelScript.Replies(Reply.WithTool("Read", new JsonObject { ["file_path"] = file }), Reply.WithText("done")));

        var run = await Herd.RunAsync("-p", "go", "--system-prompt", "You are terse.", "--append-system-prompt", "Answer in French.");

        run.ExitCode.ShouldBe(0, run.Stderr);
        var requests = Server.Requests;
        requests.Count.ShouldBe(2);
        var first = requests[0];
        first.Headers["x-api-key"].ShouldBe("sk-ant-test-secret-0123456789");
        first.Headers["anthropic-version"].ShouldBe("2023-06-01");
        first.Headers.ShouldNotContainKey("authorization");
        first.Headers["user-agent"].ShouldStartWith("herd/");
        var body = first.Json;
        ((bool)body["stream"]!).ShouldBeTrue();
        ((string?)body["system"]![0]!["text"]).ShouldBe("You are terse.\n\nAnswer in French.");
        ((string?)body["system"]![0]!["cache_control"]!["type"]).ShouldBe("ephemeral");
        // Only the last user block carries a breakpoint, on every turn.
        var second = requests[1].Json["messages"]!.AsArray();
        second.Count.ShouldBe(3);
        // Earlier user messages are sent as stored, without a breakpoint.
        ((string?)second[0]!["content"]).ShouldBe("go");
        ((string?)second[2]!["content"]![0]!["cache_control"]!["type"]).ShouldBe("ephemeral");
        ((string?)second[2]!["content"]![0]!["content"]).ShouldBe("1\tx");
    }

    [Theory]
    [InlineData("opus", "claude-opus-5-5")]
    [InlineData("haiku", "claude-haiku-5-5")]
    [InlineData("sonnet", "claude-sonnet-5-5")]
    [InlineData("fable", "claude-fable-5-2")]
    [InlineData("opusplan", "claude-sonnet-5-5")]
    [InlineData("claude-sonnet-4-5-20250929", "claude-sonnet-4-5-20250929")]
    public async Task I_can_name_a_model_by_alias_or_id(string flag, string expected)
    {
        Server.Reset(ModelScript.Replies(Reply.WithText("ok")));

        var run = await Herd.RunAsync("-p", "hi", "--model", flag);

        run.ExitCode.ShouldBe(0, run.Stderr);
        ((string?)Server.Requests.Single().Json["model"]).ShouldBe(expected);
    }

    [Fact]
    public async Task ANTHROPIC_MODEL_sets_the_default_model_and_the_flag_overrides_it()
    {
        Server.Reset(ModelScript.Replies(Reply.WithText("a"), Reply.WithText("b")));
        var herd = Herd.WithEnvironment("ANTHROPIC_MODEL", "haiku");

        (await herd.RunAsync("-p", "hi")).ExitCode.ShouldBe(0);
        (await herd.RunAsync("-p", "hi", "--model", "opus")).ExitCode.ShouldBe(0);

        Server.Requests.Select(r => (string?)r.Json["model"]).ShouldBe(["claude-haiku-5-5", "claude-opus-5-5"]);
    }

    [Fact]
    public async Task I_can_override_prices_with_a_file()
    {
        var prices = Work.WriteFile("prices.json", """{"models":{"claude-opus-5-5":{"input":10,"output":100}}}""");
        Server.Reset(ModelScript.Replies(Reply.WithText("ok", new ScriptedUsage(Input: 1000, Output: 100))));

        var run = await Herd.RunAsync("-p", "hi", "--output-format", "json", "--prices", prices);

        run.ExitCode.ShouldBe(0, run.Stderr);
        ((double)run.Json["total_cost_usd"]!).ShouldBe(0.02, 1e-12);
    }

    [Fact]
    public async Task The_api_key_never_appears_in_output_or_transcripts()
    {
        Server.Reset(ModelScript.Replies(Reply.Error(401, errorType: "authentication_error")));

        var run = await Herd.RunAsync("-p", "hi", "--output-format", "stream-json", "--verbose");

        run.ExitCode.ShouldBe(1);
        run.Stdout.ShouldNotContain("sk-ant-test-secret");
        run.Stderr.ShouldNotContain("sk-ant-test-secret");
        foreach (var file in Directory.EnumerateFiles(Config.Path, "*", SearchOption.AllDirectories))
            File.ReadAllText(file).ShouldNotContain("sk-ant-test-secret");
    }

    [Fact]
    public async Task Every_seed_command_line_runs_as_written()
    {
        Server.Reset(new ModelScript { Default = Reply.WithText("ok") });
        string[][] seeds =
        [
            ["-p", "What does the auth module do?"],
            ["-p", "Run unit tests and fix failures", "--allowedTools", "Bash,Read,Edit", "--max-budget-usd", "5.00", "--max-turns", "6"],
            ["-p", "Summarize this project", "--output-format", "json"],
            ["-p", "Explain recursion", "--output-format", "stream-json", "--verbose", "--include-partial-messages"],
            ["-p", "Generate migration plan for this repo", "--max-budget-usd", "10.00"],
            ["-p", "Refactor the code to remove dead branches", "--max-turns", "4"],
            ["-p", "Review this diff", "--no-session-persistence"],
            ["-p", "Run quick review", "--fallback-model", "sonnet"],
        ];
        foreach (var seed in seeds)
        {
            var run = await Herd.RunAsync(seed);
            run.ExitCode.ShouldBe(0, $"{string.Join(' ', seed)}: {run.Stderr}");
            run.Stderr.ShouldBeEmpty();
        }
        var piped = await Herd.RunAsync(["-p", "Summarize errors and likely root causes"], stdin: "ERROR x\n");
        piped.ExitCode.ShouldBe(0, piped.Stderr);
    }
}
