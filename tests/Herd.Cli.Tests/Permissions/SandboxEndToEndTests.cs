using System.Text.Json.Nodes;
using Herd.Testing;

namespace Herd.Cli.Tests.Permissions;

/// <summary>
/// Issue #9 through the built herd: <c>--sandbox</c>, <c>sandbox.enabled</c>, the refusal when no mechanism exists, and
/// issue #10's Write/Edit allow split compared with Claude Code 2.1.332's recorded answers.
/// </summary>
public sealed class SandboxEndToEndTests : IDisposable
{
    private readonly PermissionsHerdRunner _herd = new();

    public void Dispose() => _herd.Dispose();

    private static Reply Bash(string command) => Reply.WithTool("Bash", new JsonObject { ["command"] = command });

    private string Outside()
    {
        var path = Path.Combine(_herd.Root, "outside.txt");
        File.WriteAllText(path, "keep me");
        return path;
    }

    [Fact]
    public async Task With_sandbox_a_bypassed_command_still_cannot_write_outside_the_project()
    {
        var outside = Outside();
        await using var server = await ScriptedModelServer.StartAsync(ModelScript.Replies(Bash($"echo pwned > {outside}"), Reply.WithText("done")));

        var run = await _herd.RunAsync(server, "-p", "go", "--output-format", "json", "--dangerously-skip-permissions", "--sandbox");

        run.ExitCode.ShouldBe(0, run.Stderr);
        // The file lies under /tmp, which the sandbox replaces with a private, throwaway /tmp: the write lands there.
        File.ReadAllText(outside).ShouldBe("keep me");
    }

    [Fact]
    public async Task Print_mode_stays_unconfined_by_default_for_parity_with_claude_code()
    {
        var outside = Outside();
        await using var server = await ScriptedModelServer.StartAsync(ModelScript.Replies(Bash($"echo changed > {outside}"), Reply.WithText("done")));

        var run = await _herd.RunAsync(server, "-p", "go", "--dangerously-skip-permissions");

        run.ExitCode.ShouldBe(0, run.Stderr);
        File.ReadAllText(outside).ShouldBe("changed\n");
    }

    [Fact]
    public async Task The_claude_code_setting_sandbox_enabled_confines_bash()
    {
        var outside = Outside();
        _herd.WriteFile(".claude/settings.json", """{"sandbox":{"enabled":true}}""");
        await using var server = await ScriptedModelServer.StartAsync(ModelScript.Replies(Bash($"echo pwned > {outside}"), Reply.WithText("done")));

        var run = await _herd.RunAsync(server, "-p", "go", "--dangerously-skip-permissions");

        run.ExitCode.ShouldBe(0, run.Stderr);
        File.ReadAllText(outside).ShouldBe("keep me");
    }

    [Fact]
    public async Task A_confining_run_without_a_sandbox_refuses_to_start_unless_sandbox_off()
    {
        await using var server = await ScriptedModelServer.StartAsync(ModelScript.Replies(Reply.WithText("done")));
        (string, string)[] noBwrap = [("HERD_BWRAP", "/nonexistent/bwrap")];

        var refused = await _herd.RunWithAsync(server, noBwrap, "-p", "go", "--sandbox");
        var off = await _herd.RunWithAsync(server, noBwrap, "-p", "go", "--sandbox", "off");
        var noBash = await _herd.RunWithAsync(server, noBwrap, "-p", "go", "--sandbox", "--tools", "Read");

        refused.ExitCode.ShouldBe(1);
        refused.Stderr.Trim().Split('\n').Length.ShouldBe(1, refused.Stderr);
        refused.Stderr.ShouldContain("the sandbox is unavailable");
        refused.Stderr.ShouldContain("--sandbox off");
        server.Requests.Count.ShouldBe(2, "the refused run made no API call");
        off.ExitCode.ShouldBe(0, off.Stderr);
        noBash.ExitCode.ShouldBe(0, noBash.Stderr);
    }

    [Fact]
    public async Task Herd_run_confines_by_default()
    {
        await using var server = await ScriptedModelServer.StartAsync(ModelScript.Replies(Reply.WithText("done")));

        var run = await _herd.RunWithAsync(server, [("HERD_BWRAP", "/nonexistent/bwrap")], "run", "--prompt", "say {}", ":::", "a");

        run.ExitCode.ShouldNotBe(0);
        run.Stderr.ShouldContain("the sandbox is unavailable");
        server.Requests.ShouldBeEmpty();
    }

    [Fact]
    public async Task A_herd_run_task_runs_bash_confined_without_being_asked()
    {
        var outside = Outside();
        await using var server = await ScriptedModelServer.StartAsync(ModelScript.Replies(Bash($"echo pwned > {outside}; touch inside.txt"), Reply.WithText("done")));

        var run = await _herd.RunAsync(server, "run", "--prompt", "do {}", "--dangerously-skip-permissions", "--progress", "none", ":::", "a");

        run.ExitCode.ShouldBe(0, run.ToString());
        File.ReadAllText(outside).ShouldBe("keep me");
        File.Exists(Path.Combine(_herd.Cwd, "inside.txt")).ShouldBeTrue("writes inside the project still work");
    }

    [Fact]
    public async Task An_unknown_sandbox_mode_is_a_usage_error()
    {
        await using var server = await ScriptedModelServer.StartAsync(ModelScript.Replies(Reply.WithText("done")));

        var run = await _herd.RunAsync(server, "-p", "go", "--sandbox=maybe");

        run.ExitCode.ShouldBe(1);
        run.Stderr.Trim().ShouldBe("Error: --sandbox 'maybe' is not one of on, off, no-network.");
    }

    [Fact]
    public async Task A_rule_that_does_not_parse_fails_the_run_instead_of_being_dropped()
    {
        await using var server = await ScriptedModelServer.StartAsync(ModelScript.Replies(Reply.WithText("done")));

        var run = await _herd.RunAsync(server, "-p", "go", "--disallowedTools", "bash(rm *)");

        run.ExitCode.ShouldBe(1);
        run.Stderr.ShouldContain("case-sensitive: write Bash");
        server.Requests.ShouldBeEmpty();
    }

    [Fact]
    public async Task Allowed_tools_write_allows_write_and_edit_does_not_as_in_claude_code_2_1_332()
    {
        var target = Path.Combine(_herd.Cwd, "w1.txt");
        var write = Reply.WithTool("Write", new JsonObject { ["file_path"] = target, ["content"] = "x" });
        await using var withWrite = await ScriptedModelServer.StartAsync(ModelScript.Replies(write, Reply.WithText("done")));
        await using var withEdit = await ScriptedModelServer.StartAsync(ModelScript.Replies(write, Reply.WithText("done")));

        var allowed = await _herd.RunAsync(withWrite, "-p", "go", "--allowedTools", "Write");
        File.Delete(target);
        var denied = await _herd.RunAsync(withEdit, "-p", "go", "--allowedTools", "Edit");

        allowed.ExitCode.ShouldBe(0, allowed.Stderr);
        PermissionsHerdRunner.Text(PermissionsHerdRunner.ToolResults(withWrite).Single()).ShouldStartWith($"File created successfully at: {target}");
        // Claude Code 2.1.332, recorded: "Claude requested permissions to write to <path>, but you haven't granted it yet."
        PermissionsHerdRunner.Text(PermissionsHerdRunner.ToolResults(withEdit).Single())
            .ShouldBe($"Claude requested permissions to write to {target}, but you haven't granted it yet.");
        File.Exists(target).ShouldBeFalse();
    }
}
