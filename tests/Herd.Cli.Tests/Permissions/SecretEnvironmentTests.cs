using System.Text.Json.Nodes;
using Herd.Testing;

namespace Herd.Cli.Tests.Permissions;

public sealed class SecretEnvironmentTests : HerdTestBase
{
    /// <summary>
    /// Finds herd (the Bash tool's shell runs below <c>setsid</c>, herd's child) and tries what a hostile command would:
    /// read its environment block and open its memory.
    /// </summary>
    private const string ProbeHerd = """
        H=$PPID; [ "$(cat /proc/$H/comm)" = setsid ] && H=$(awk '/^PPid/{print $2}' /proc/$H/status)
        echo "parent=$(cat /proc/$H/comm)"
        cat /proc/$H/environ > /dev/null 2>&1 && echo environ:readable || echo environ:denied
        (exec 3< /proc/$H/mem) 2> /dev/null && echo mem:readable || echo mem:denied
        cat /proc/self/environ > /dev/null && echo self:readable
        """;

    /// <summary>
    /// Herd as an ordinary user runs: as root, started without capabilities (a process with <c>CAP_SYS_PTRACE</c> may read
    /// any other, and one with fewer capabilities than its target may read none), so only the undumpable flag decides.
    /// </summary>
    private HerdProcess Unprivileged => IsRoot()
        ? new HerdProcess(Server.BaseUrl, Work.Path, Config.Path) { Launcher = ["setpriv", "--bounding-set=-all", "--inh-caps=-all", "--"] }
        : Herd;

    private static bool IsRoot() => File.ReadAllLines("/proc/self/status").Any(l => l.StartsWith("Uid:", StringComparison.Ordinal) && l.Split('\t')[1] == "0");

    [Fact]
    public async Task A_tool_process_can_read_neither_herds_memory_nor_its_environment_block()
    {
        // Given a model whose command finds herd, its grandparent, and tries /proc/<herd>/environ and /proc/<herd>/mem
        Server.Reset(ModelScript.Replies(Reply.WithTool("Bash", new JsonObject { ["command"] = ProbeHerd }), Reply.WithText("done")));

        // When it runs unconfined (no sandbox: no PID namespace hides herd)
        var run = await Unprivileged.RunAsync("-p", "read herd", "--dangerously-skip-permissions", "--sandbox", "off", "--output-format", "json");

        // Then the kernel refuses both (herd made itself undumpable at start), while the command's own /proc works
        run.ExitCode.ShouldBe(0, run.Stderr);
        var toolResult = ToolResult();
        toolResult.ShouldMatch("parent=(herd|dotnet)");
        toolResult.ShouldContain("environ:denied");
        toolResult.ShouldContain("mem:denied");
        toolResult.ShouldContain("self:readable");
        toolResult.ShouldNotContain("sk-ant-test-secret");
        ((string?)Server.Requests[1].Headers["x-api-key"]).ShouldBe("sk-ant-test-secret-0123456789");
    }

    /// <summary>What the command printed, as the model received it (not the command text, which names every outcome).</summary>
    private string ToolResult() =>
        Server.Requests[1].Json["messages"]!.AsArray()[^1]!["content"]!.AsArray().Single(c => (string?)c!["type"] == "tool_result")!["content"]!.ToJsonString();

    [Fact]
    public async Task The_api_key_is_not_in_a_tool_processs_environment()
    {
        Server.Reset(ModelScript.Replies(Reply.WithTool("Bash", new JsonObject { ["command"] = "env; tr '\\0' '\\n' < /proc/self/environ" }), Reply.WithText("done")));

        var run = await Herd.RunAsync("-p", "show the environment", "--dangerously-skip-permissions", "--output-format", "json");

        run.ExitCode.ShouldBe(0, run.Stderr);
        var toolResult = ToolResult();
        toolResult.ShouldContain("HERD_CONFIG_DIR="); // control: the environment was really printed
        toolResult.ShouldNotContain("ANTHROPIC_API_KEY");
        toolResult.ShouldNotContain("sk-ant-test-secret");
    }
}
