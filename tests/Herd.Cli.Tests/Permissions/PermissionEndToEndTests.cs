using System.Text.Json.Nodes;
using Herd.Testing;

namespace Herd.Cli.Tests.Permissions;

/// <summary>The built herd, a scripted model, a real project folder: permission decisions as the model and the user see them.</summary>
public sealed class PermissionEndToEndTests : IDisposable
{
    private readonly PermissionsHerdRunner _herd = new();

    public void Dispose() => _herd.Dispose();

    private static Reply Bash(string command) => Reply.WithTool("Bash", new JsonObject { ["command"] = command });

    [Fact]
    public async Task A_smuggled_command_is_denied_reported_and_the_run_continues()
    {
        var victim = _herd.WriteFile("x", "keep me");
        await using var server = await ScriptedModelServer.StartAsync(ModelScript.Replies(Bash("git diff; rm -rf x"), Reply.WithText("done")));

        var run = await _herd.RunAsync(server, "-p", "go", "--output-format", "json", "--allowedTools", "Bash(git diff *)");

        run.ExitCode.ShouldBe(0, run.Stderr);
        var result = run.Json;
        ((bool)result["is_error"]!).ShouldBeFalse();
        var denials = (JsonArray)result["permission_denials"]!;
        denials.Count.ShouldBe(1);
        ((string)denials[0]!["tool_name"]!).ShouldBe("Bash");
        ((string)denials[0]!["tool_input"]!["command"]!).ShouldBe("git diff; rm -rf x");
        var toolResult = PermissionsHerdRunner.ToolResults(server).Single();
        PermissionsHerdRunner.Text(toolResult).ShouldBe("Claude requested permissions to use Bash, but you haven't granted it yet.");
        ((bool)toolResult["is_error"]!).ShouldBeTrue();
        File.ReadAllText(victim).ShouldBe("keep me");
    }

    [Fact]
    public async Task Fail_on_denial_turns_a_denied_run_into_an_error_with_exit_1()
    {
        await using var server = await ScriptedModelServer.StartAsync(ModelScript.Replies(Bash("curl evil"), Reply.WithText("done")));

        var run = await _herd.RunAsync(server, "-p", "go", "--output-format", "json", "--fail-on-denial");

        run.ExitCode.ShouldBe(1);
        ((bool)run.Json["is_error"]!).ShouldBeTrue();
        ((JsonArray)run.Json["permission_denials"]!).Count.ShouldBe(1);
    }

    [Fact]
    public async Task A_deny_rule_in_claude_project_settings_blocks_a_read_and_the_audit_log_names_it()
    {
        var secret = _herd.WriteFile(".env", "KEY=1");
        _herd.WriteFile(".claude/settings.json", """{"permissions":{"deny":["Read(./.env)"]}}""");
        var audit = Path.Combine(_herd.Root, "audit.ndjson");
        await using var server = await ScriptedModelServer.StartAsync(ModelScript.Replies(
            Reply.WithTool("Read", new JsonObject { ["file_path"] = secret }), Reply.WithText("done")));

        var run = await _herd.RunAsync(server, "-p", "go", "--output-format", "json", "--audit-log", audit, "--allowedTools", "Read");

        run.ExitCode.ShouldBe(0, run.Stderr);
        PermissionsHerdRunner.Text(PermissionsHerdRunner.ToolResults(server).Single()).ShouldBe($"Permission to read {secret} has been denied.");
        var line = (JsonObject)JsonNode.Parse(File.ReadAllLines(audit).Single())!;
        ((string)line["decision"]!).ShouldBe("deny");
        ((string)line["rule"]!).ShouldBe("Read(./.env)");
        ((string)line["reason"]!).ShouldContain("project settings");
    }

    [Fact]
    public async Task Accept_edits_lets_the_model_read_then_edit_twice_and_the_audit_log_records_allows()
    {
        var file = _herd.WriteFile("src/a.cs", "int a = 1; int b = 2;\n");
        var audit = Path.Combine(_herd.Root, "audit.ndjson");
        await using var server = await ScriptedModelServer.StartAsync(ModelScript.Replies(
            Reply.WithTool("Read", new JsonObject { ["file_path"] = file }),
            Reply.WithTool("Edit", new JsonObject { ["file_path"] = file, ["old_string"] = "1", ["new_string"] = "10" }),
            Reply.WithTool("Edit", new JsonObject { ["file_path"] = file, ["old_string"] = "2", ["new_string"] = "20" }),
            Bash("git status --short 2>/dev/null; echo ok"),
            Reply.WithText("done")));

        var run = await _herd.RunAsync(server, "-p", "go", "--output-format", "json", "--permission-mode", "acceptEdits", "--audit-log", audit);

        run.ExitCode.ShouldBe(0, run.Stderr);
        ((JsonArray)run.Json["permission_denials"]!).Count.ShouldBe(0);
        File.ReadAllText(file).ShouldBe("int a = 10; int b = 20;\n");
        var results = PermissionsHerdRunner.ToolResults(server);
        PermissionsHerdRunner.Text(results[0]).ShouldBe("1\tint a = 1; int b = 2;\n2\t");
        PermissionsHerdRunner.Text(results[3]).ShouldEndWith("ok");
        var lines = File.ReadAllLines(audit).Select(l => (JsonObject)JsonNode.Parse(l)!).ToList();
        lines.Select(l => (string)l["decision"]!).ShouldBe(["allow", "allow", "allow", "allow"]);
        ((string)lines[1]["reason"]!).ShouldContain("acceptEdits");
        ((int)lines[3]["exit_code"]!).ShouldBe(0);
    }

    [Fact]
    public async Task Tools_flag_and_bare_deny_rules_shape_the_tool_list_sent_to_the_model()
    {
        await using var server = await ScriptedModelServer.StartAsync(new ModelScript { Default = Reply.WithText("ok") });

        (await _herd.RunAsync(server, "-p", "go", "--output-format", "json", "--tools", "")).ExitCode.ShouldBe(0);
        (await _herd.RunAsync(server, "-p", "go", "--output-format", "json", "--tools", "Read,Grep")).ExitCode.ShouldBe(0);
        (await _herd.RunAsync(server, "-p", "go", "--output-format", "json", "--disallowedTools", "Bash")).ExitCode.ShouldBe(0);

        List<string> Names(int i) => server.Requests[i].Json["tools"] is JsonArray a ? a.Select(t => (string)t!["name"]!).ToList() : [];
        Names(0).ShouldBeEmpty();
        Names(1).ShouldBe(["Grep", "Read"]);
        Names(2).ShouldBe(["Edit", "Glob", "Grep", "LS", "Read", "Write"]);
    }

    [Fact]
    public async Task A_malformed_settings_file_stops_the_run_with_a_message_naming_it()
    {
        var settings = _herd.WriteFile(".herd/settings.json", """{"permissions":{"allow":"Bash"}}""");
        await using var server = await ScriptedModelServer.StartAsync(new ModelScript { Default = Reply.WithText("ok") });

        var run = await _herd.RunAsync(server, "-p", "go", "--output-format", "json");

        run.ExitCode.ShouldBe(1);
        run.Stderr.ShouldContain(settings);
        run.Stdout.ShouldBeEmpty();
        server.RequestCount.ShouldBe(0);
    }

    [Fact]
    public async Task Settings_flag_sets_the_mode_and_auto_warns_once()
    {
        await using var server = await ScriptedModelServer.StartAsync(ModelScript.Replies(
            Reply.WithTool("Write", new JsonObject { ["file_path"] = Path.Combine(_herd.Cwd, "n.txt"), ["content"] = "hi" }), Reply.WithText("done")));

        var run = await _herd.RunAsync(server, "-p", "go", "--output-format", "json", "--settings", """{"permissions":{"defaultMode":"acceptEdits"}}""");
        run.ExitCode.ShouldBe(0, run.Stderr);
        File.ReadAllText(Path.Combine(_herd.Cwd, "n.txt")).ShouldBe("hi");

        server.Reset(new ModelScript { Default = Reply.WithText("ok") });
        var auto = await _herd.RunAsync(server, "-p", "go", "--permission-mode", "auto");
        auto.ExitCode.ShouldBe(0);
        auto.Stderr.Split('\n').Count(l => l.Contains("auto")).ShouldBe(1);
    }

    [Fact]
    public async Task A_Write_path_rule_grants_nothing_as_in_Claude_Code_and_says_what_to_write_instead()
    {
        // Given a Write(path) allow rule, which Claude Code 2.1.332 accepts and never matches
        var target = Path.Combine(_herd.Cwd, "src", "a.txt");
        await using var server = await ScriptedModelServer.StartAsync(ModelScript.Replies(
            Reply.WithTool("Write", new JsonObject { ["file_path"] = target, ["content"] = "hi" }), Reply.WithText("done")));

        var run = await _herd.RunAsync(server, "-p", "go", "--output-format", "json", "--allowedTools", "Write(src/**)");

        // Then the write is not granted, and one warning names the rule and the rule that would grant it
        run.ExitCode.ShouldBe(0, run.Stderr);
        ((JsonArray)run.Json["permission_denials"]!).Count.ShouldBe(1);
        File.Exists(target).ShouldBeFalse();
        run.Stderr.Trim().ShouldBe("herd: warning: allow rule Write(src/**) (cli) grants nothing: Claude Code reads path rules only for Read(...) and Edit(...); write Edit(src/**), which covers Edit, Write and NotebookEdit.");

        // And a Glob(path) deny, which blocks nothing in either program, is named too
        server.Reset(new ModelScript { Default = Reply.WithText("ok") });
        var deny = await _herd.RunAsync(server, "-p", "go", "--disallowedTools", "Glob(secrets/**)");
        deny.ExitCode.ShouldBe(0, deny.Stderr);
        deny.Stderr.ShouldContain("deny rule Glob(secrets/**) (cli) blocks nothing");
        deny.Stderr.ShouldContain("write Read(secrets/**)");
    }
}
