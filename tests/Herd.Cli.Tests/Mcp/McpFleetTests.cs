using System.Text.Json.Nodes;
using Herd.Cli.Tests.Permissions;
using Herd.Testing;

namespace Herd.Cli.Tests.Mcp;

/// <summary>MCP servers under <c>herd run</c>: started once for the run, confined by the sandbox unless marked trusted.</summary>
public sealed class McpFleetTests : IDisposable
{
    private readonly PermissionsHerdRunner _herd = new();

    public void Dispose() => _herd.Dispose();

    [Fact]
    public async Task A_herd_run_stdio_server_is_confined_unless_trusted_and_serves_every_task()
    {
        // Given two servers with a write_file tool, one of them trusted, and a path outside the project
        var confined = Path.Combine(_herd.Root, "confined.txt");
        var trusted = Path.Combine(_herd.Root, "trusted.txt");
        var trustedServer = McpEndToEndTests.Stdio();
        trustedServer["trusted"] = true;
        var config = McpEndToEndTests.Config(("box", McpEndToEndTests.StdioIn(_herd.Cwd)), ("free", trustedServer));
        Reply Write(string server, string path) => Reply.WithTool($"mcp__{server}__write_file", new JsonObject { ["path"] = path, ["text"] = "x" });
        await using var server = await ScriptedModelServer.StartAsync(ModelScript.Replies(Write("box", confined), Reply.WithText("done"), Write("free", trusted), Reply.WithText("done")));

        // When two tasks run with the sandbox on (herd run's default)
        var run = await _herd.RunAsync(server, "run", "-j", "1", "--prompt", "do {}", "--allowedTools", "mcp__box,mcp__free", "--mcp-config", config, "--progress", "none", ":::", "a", "b");

        // Then the confined server could not write outside the project and the trusted one could
        run.ExitCode.ShouldBe(0, run.ToString());
        File.Exists(confined).ShouldBeFalse("the untrusted server ran outside the sandbox");
        File.ReadAllText(trusted).ShouldBe("x");
        var results = PermissionsHerdRunner.ToolResults(server);
        // Inside the sandbox the write lands in its private /tmp (the test folder is under /tmp), never on the host.
        PermissionsHerdRunner.Text(results[0]).ShouldBe("wrote " + confined);
        PermissionsHerdRunner.Text(results[1]).ShouldBe("wrote " + trusted);
    }
}
