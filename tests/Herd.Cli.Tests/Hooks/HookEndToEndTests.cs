using System.Text.Json.Nodes;
using Herd.Cli.Tests.Permissions;
using Herd.Testing;

namespace Herd.Cli.Tests.Hooks;

/// <summary>
/// Hooks from settings files, run by the built herd against a scripted model in a throwaway project (docs/hooks.md):
/// what the hook scripts receive, what the model is told, and what stream-json prints.
/// </summary>
public sealed class HookEndToEndTests : IDisposable
{
    private readonly PermissionsHerdRunner _herd = new();

    public void Dispose() => _herd.Dispose();

    private static Reply Bash(string command) => Reply.WithTool("Bash", new JsonObject { ["command"] = command, ["description"] = "run" });

    /// <summary>A settings file whose <c>hooks</c> run <paramref name="command"/> on <paramref name="hookEvent"/>.</summary>
    private static string Settings(string hookEvent, string command, string? matcher = null, int? timeout = null)
    {
        var hook = new JsonObject { ["type"] = "command", ["command"] = command };
        if (timeout is { } t)
            hook["timeout"] = t;
        var group = new JsonObject { ["hooks"] = new JsonArray(hook) };
        if (matcher is not null)
            group["matcher"] = matcher;
        return new JsonObject { ["hooks"] = new JsonObject { [hookEvent] = new JsonArray(group) } }.ToJsonString();
    }

    private static IEnumerable<JsonObject> UserBlocks(ScriptedModelServer server, int request) =>
        ((JsonArray)server.Requests[request].Json["messages"]!).OfType<JsonObject>()
            .Where(m => (string?)m["role"] == "user" && m["content"] is JsonArray)
            .SelectMany(m => ((JsonArray)m["content"]!).OfType<JsonObject>());

    [Fact]
    public async Task A_PreToolUse_hook_that_exits_2_denies_a_command_even_under_bypassPermissions()
    {
        // Given a policy hook on Bash that saves its input and blocks with a reason on stderr
        _herd.WriteFile(".claude/settings.json", Settings("PreToolUse", $"cat > {_herd.Root}/pre.json; echo 'blocked by policy' >&2; exit 2", "Bash"));
        var target = Path.Combine(_herd.Cwd, "x.txt");
        await using var server = await ScriptedModelServer.StartAsync(ModelScript.Replies(Bash($"echo hi > {target}"), Reply.WithText("done")));

        // When the model runs a command in bypass mode
        var run = await _herd.RunAsync(server, "-p", "go", "--output-format", "stream-json", "--verbose", "--dangerously-skip-permissions", "--include-hook-events");

        // Then the command never ran, the model got Claude Code's words, and the result lists the denial
        run.ExitCode.ShouldBe(0, run.ToString());
        File.Exists(target).ShouldBeFalse();
        var toolResult = PermissionsHerdRunner.ToolResults(server).Single();
        PermissionsHerdRunner.Text(toolResult).ShouldBe($"PreToolUse:Bash hook error: [cat > {_herd.Root}/pre.json; echo 'blocked by policy' >&2; exit 2]: blocked by policy\n");
        ((bool)toolResult["is_error"]!).ShouldBeTrue();
        var result = run.JsonLines.Last();
        ((JsonArray)result["permission_denials"]!).Count.ShouldBe(1);
        ((bool)result["is_error"]!).ShouldBeFalse();
        run.JsonLines.ShouldNotContain(l => (string?)l["subtype"] == "permission_denied");
        var response = run.JsonLines.Single(l => (string?)l["subtype"] == "hook_response" && (string?)l["hook_event"] == "PreToolUse");
        ((string?)response["hook_name"]).ShouldBe("PreToolUse:Bash");
        ((int)response["exit_code"]!).ShouldBe(2);
        ((string?)response["outcome"]).ShouldBe("error");
        ((string?)response["stderr"]).ShouldBe("blocked by policy\n");
        var input = JsonNode.Parse(File.ReadAllText(Path.Combine(_herd.Root, "pre.json")))!;
        ((string?)input["hook_event_name"]).ShouldBe("PreToolUse");
        ((string?)input["tool_name"]).ShouldBe("Bash");
        ((string?)input["tool_input"]!["command"]).ShouldBe($"echo hi > {target}");
        ((string?)input["permission_mode"]).ShouldBe("bypassPermissions");
        ((string?)input["cwd"]).ShouldBe(_herd.Cwd);
        ((string?)input["tool_use_id"]).ShouldBe((string?)toolResult["tool_use_id"]);
    }

    [Fact]
    public async Task A_PreToolUse_hook_s_JSON_deny_is_final_and_its_allow_grants_a_call_no_rule_allows()
    {
        // Given a hook that denies Bash by JSON and allows Write (which no rule allows in default mode)
        var settings = new JsonObject
        {
            ["hooks"] = new JsonObject
            {
                ["PreToolUse"] = new JsonArray(
                    new JsonObject { ["matcher"] = "Bash", ["hooks"] = new JsonArray(new JsonObject { ["type"] = "command", ["command"] = """echo '{"hookSpecificOutput":{"hookEventName":"PreToolUse","permissionDecision":"deny","permissionDecisionReason":"no bash here"}}'""" }) },
                    new JsonObject { ["matcher"] = "Write|Edit", ["hooks"] = new JsonArray(new JsonObject { ["type"] = "command", ["command"] = """echo '{"hookSpecificOutput":{"hookEventName":"PreToolUse","permissionDecision":"allow"}}'""" }) }),
            },
        };
        _herd.WriteFile(".claude/settings.json", settings.ToJsonString());
        var written = Path.Combine(_herd.Cwd, "w.txt");
        await using var server = await ScriptedModelServer.StartAsync(ModelScript.Replies(
            Bash("echo hi"),
            Reply.WithTool("Write", new JsonObject { ["file_path"] = written, ["content"] = "ok" }),
            Reply.WithText("done")));

        // When the model calls both (--allowedTools Bash would allow Bash)
        var run = await _herd.RunAsync(server, "-p", "go", "--output-format", "json", "--allowedTools", "Bash");

        // Then Bash is denied with the hook's reason and Write ran
        run.ExitCode.ShouldBe(0, run.ToString());
        var results = PermissionsHerdRunner.ToolResults(server);
        PermissionsHerdRunner.Text(results[0]).ShouldBe("PreToolUse:Bash hook error: no bash here");
        File.ReadAllText(written).ShouldBe("ok");
        ((JsonArray)run.Json["permission_denials"]!).Select(d => (string?)d!["tool_name"]).ShouldBe(["Bash"]);
    }

    [Fact]
    public async Task A_PostToolUse_hook_s_additional_context_reaches_the_model_with_the_tool_result()
    {
        _herd.WriteFile("a.txt", "hello\n");
        _herd.WriteFile(".claude/settings.json", Settings("PostToolUse", $"cat > {_herd.Root}/post.json; echo '{{\"hookSpecificOutput\":{{\"hookEventName\":\"PostToolUse\",\"additionalContext\":\"post ctx\"}}}}'", "Read|Bash"));
        await using var server = await ScriptedModelServer.StartAsync(ModelScript.Replies(
            Reply.WithTool("Read", new JsonObject { ["file_path"] = Path.Combine(_herd.Cwd, "a.txt") }), Reply.WithText("done")));

        var run = await _herd.RunAsync(server, "-p", "go", "--output-format", "json", "--allowedTools", "Read");

        run.ExitCode.ShouldBe(0, run.ToString());
        UserBlocks(server, 1).Where(b => (string?)b["type"] == "text").Select(b => (string?)b["text"])
            .ShouldContain("PostToolUse:Read hook additional context: post ctx");
        var input = JsonNode.Parse(File.ReadAllText(Path.Combine(_herd.Root, "post.json")))!;
        ((string?)input["hook_event_name"]).ShouldBe("PostToolUse");
        ((string?)input["tool_response"]!["file"]!["content"]).ShouldBe("hello\n");
    }

    [Fact]
    public async Task A_Stop_hook_with_continue_false_ends_the_query_as_stop_hook_prevented()
    {
        _herd.WriteFile(".claude/settings.json", Settings("Stop", $"cat > {_herd.Root}/stop.json; echo '{{\"continue\":false,\"stopReason\":\"stop now\"}}'"));
        await using var server = await ScriptedModelServer.StartAsync(ModelScript.Replies(Reply.WithText("done"), Reply.WithText("again")));

        var run = await _herd.RunAsync(server, "-p", "go", "--output-format", "json");

        run.ExitCode.ShouldBe(0, run.ToString());
        ((string?)run.Json["terminal_reason"]).ShouldBe("stop_hook_prevented");
        ((string?)run.Json["result"]).ShouldBe("done");
        server.Requests.Count.ShouldBe(1);
        var input = JsonNode.Parse(File.ReadAllText(Path.Combine(_herd.Root, "stop.json")))!;
        ((bool)input["stop_hook_active"]!).ShouldBeFalse();
        ((string?)input["last_assistant_message"]).ShouldBe("done");
    }

    [Fact]
    public async Task A_Stop_hook_that_exits_2_sends_the_model_back_to_work_once()
    {
        // The hook blocks only while stop_hook_active is false, as a well-behaved hook must.
        _herd.WriteFile(".claude/settings.json", Settings("Stop", "grep -q '\"stop_hook_active\":true' && exit 0; echo 'run the tests first' >&2; exit 2"));
        await using var server = await ScriptedModelServer.StartAsync(ModelScript.Replies(Reply.WithText("done"), Reply.WithText("tests pass")));

        var run = await _herd.RunAsync(server, "-p", "go", "--output-format", "json");

        run.ExitCode.ShouldBe(0, run.ToString());
        ((string?)run.Json["result"]).ShouldBe("tests pass");
        server.Requests.Count.ShouldBe(2);
        UserBlocks(server, 1).Select(b => (string?)b["text"]).ShouldContain(t => t != null && t.StartsWith("Stop hook feedback:\n") && t.EndsWith("run the tests first\n"));
    }

    [Fact]
    public async Task A_hook_that_hangs_is_killed_with_its_children_at_its_timeout_and_reported()
    {
        // Given a PreToolUse hook that records its shell's pid and a child's, then hangs far beyond its 1 s timeout
        var pids = Path.Combine(_herd.Root, "pids");
        _herd.WriteFile(".claude/settings.json", Settings("PreToolUse", $"sleep 300 & echo $$ $! > {pids}; wait", "Bash", timeout: 1));
        await using var server = await ScriptedModelServer.StartAsync(ModelScript.Replies(Bash("echo ran"), Reply.WithText("done")));

        // When the model runs a command
        var started = DateTime.UtcNow;
        var run = await _herd.RunAsync(server, "-p", "go", "--output-format", "stream-json", "--verbose", "--dangerously-skip-permissions", "--include-hook-events");

        // Then the hook was cancelled, said so as Claude Code does, the call went on, and nothing of the hook survives
        run.ExitCode.ShouldBe(0, run.ToString());
        (DateTime.UtcNow - started).ShouldBeLessThan(TimeSpan.FromSeconds(120));
        var response = run.JsonLines.Single(l => (string?)l["subtype"] == "hook_response");
        ((string?)response["outcome"]).ShouldBe("cancelled");
        ((int)response["exit_code"]!).ShouldBe(1);
        var notice = run.JsonLines.Single(l => (string?)l["subtype"] == "informational");
        ((string?)notice["tag"]).ShouldBe("hook_no_verdict");
        ((bool)notice["hook_no_verdict"]!["timed_out"]!).ShouldBeTrue();
        PermissionsHerdRunner.Text(PermissionsHerdRunner.ToolResults(server).Single()).ShouldBe("ran");
        foreach (var pid in File.ReadAllText(pids).Split(' ', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            IsAlive(pid).ShouldBeFalse($"hook process {pid} is still running");
    }

    /// <summary>Running, or stopped but not dead: a zombie (state Z) waiting for its reaper is dead.</summary>
    private static bool IsAlive(string pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            return stat[(stat.LastIndexOf(')') + 2)] != 'Z';
        }
        catch (IOException)
        {
            return false;
        }
    }

    [Fact]
    public async Task A_UserPromptSubmit_hook_that_exits_2_blocks_the_prompt_before_any_call()
    {
        _herd.WriteFile(".claude/settings.json", Settings("UserPromptSubmit", "echo nope >&2; exit 2"));
        await using var server = await ScriptedModelServer.StartAsync(ModelScript.Replies(Reply.WithText("done")));

        var run = await _herd.RunAsync(server, "-p", "go", "--output-format", "stream-json", "--verbose");

        run.ExitCode.ShouldBe(0, run.ToString());
        server.Requests.Count.ShouldBe(0);
        var result = run.JsonLines.Last();
        ((string?)result["result"]).ShouldBe("UserPromptSubmit operation blocked by hook:\n[echo nope >&2; exit 2]: nope\n\n\nOriginal prompt: go");
        ((int)result["num_turns"]!).ShouldBe(0);
        var notice = run.JsonLines.Single(l => (string?)l["subtype"] == "informational");
        ((string?)notice["prompt_submit_outcome"]!["kind"]).ShouldBe("blocked_by_hook");
    }

    [Fact]
    public async Task SessionStart_events_are_printed_without_include_hook_events_and_others_only_with_it()
    {
        var settings = new JsonObject
        {
            ["hooks"] = new JsonObject
            {
                ["SessionStart"] = new JsonArray(new JsonObject { ["hooks"] = new JsonArray(new JsonObject { ["type"] = "command", ["command"] = "echo start-context" }) }),
                ["UserPromptSubmit"] = new JsonArray(new JsonObject { ["hooks"] = new JsonArray(new JsonObject { ["type"] = "command", ["command"] = "true" }) }),
            },
        };
        _herd.WriteFile(".claude/settings.json", settings.ToJsonString());
        await using var server = await ScriptedModelServer.StartAsync(ModelScript.Replies(Reply.WithText("done")));

        var run = await _herd.RunAsync(server, "-p", "go", "--output-format", "stream-json", "--verbose");

        run.ExitCode.ShouldBe(0, run.ToString());
        run.JsonLines.Where(l => (string?)l["subtype"] is "hook_started" or "hook_response").Select(l => (string?)l["hook_name"])
            .ShouldBe(["SessionStart:startup", "SessionStart:startup"]);
        run.JsonLines.Select(l => (string?)l["subtype"]).Take(3).ShouldBe(["hook_started", "hook_response", "init"]);
        UserBlocks(server, 0).Select(b => (string?)b["text"]).ShouldContain("SessionStart:startup hook success: start-context\n");
    }
}
