using System.Text.Json.Nodes;
using Herd.Cli.Tests.Permissions;
using Herd.Testing;

namespace Herd.Cli.Tests.Hooks;

/// <summary>The hooks of the settings files under <c>herd run</c>: every task runs them, inside the Bash sandbox.</summary>
public sealed class HookFleetTests : IDisposable
{
    private readonly PermissionsHerdRunner _herd = new();

    public void Dispose() => _herd.Dispose();

    [Fact]
    public async Task Every_herd_run_task_runs_the_policy_hook_confined_and_its_deny_holds_under_bypass()
    {
        // Given a PreToolUse hook that logs each call inside the project, tries to write outside it, and denies
        var outside = Path.Combine(_herd.Root, "escaped.txt");
        var command = $"echo call >> \"$CLAUDE_PROJECT_DIR/hook.log\"; echo out > {outside}; echo 'not in CI' >&2; exit 2";
        _herd.WriteFile(".claude/settings.json", new JsonObject
        {
            ["hooks"] = new JsonObject
            {
                ["PreToolUse"] = new JsonArray(new JsonObject
                {
                    ["matcher"] = "Bash",
                    ["hooks"] = new JsonArray(new JsonObject { ["type"] = "command", ["command"] = command }),
                }),
            },
        }.ToJsonString());
        Reply Touch(string name) => Reply.WithTool("Bash", new JsonObject { ["command"] = $"touch {name}" });
        await using var server = await ScriptedModelServer.StartAsync(ModelScript.Replies(Touch("a.txt"), Reply.WithText("done"), Touch("b.txt"), Reply.WithText("done")));

        // When two tasks run one after the other in bypass mode (the sandbox is on by default in herd run)
        var run = await _herd.RunAsync(server, "run", "-j", "1", "--prompt", "do {}", "--dangerously-skip-permissions", "--progress", "none", ":::", "a", "b");

        // Then the hook ran for each task, confined, and neither command ran
        run.ExitCode.ShouldBe(2, run.ToString()); // two tasks ended denied: herd run's exit code counts failed tasks
        File.ReadAllLines(Path.Combine(_herd.Cwd, "hook.log")).ShouldBe(["call", "call"]);
        File.Exists(outside).ShouldBeFalse("the hook ran outside the sandbox");
        File.Exists(Path.Combine(_herd.Cwd, "a.txt")).ShouldBeFalse();
        File.Exists(Path.Combine(_herd.Cwd, "b.txt")).ShouldBeFalse();
        PermissionsHerdRunner.ToolResults(server).Select(PermissionsHerdRunner.Text).ShouldAllBe(t => t.StartsWith("PreToolUse:Bash hook error: ") && t.EndsWith("not in CI\n"));
    }
}
