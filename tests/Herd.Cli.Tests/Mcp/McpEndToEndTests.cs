using System.Diagnostics;
using System.Text.Json.Nodes;
using Herd.Cli.Tests.Permissions;
using Herd.Testing;

namespace Herd.Cli.Tests.Mcp;

/// <summary>
/// MCP servers end to end (docs/mcp.md): the test server of tests/Herd.McpTestServer, built on the official SDK's server
/// side, started by the built herd over stdio and streamable HTTP, and called through the scripted model.
/// </summary>
public sealed class McpEndToEndTests : IDisposable
{
    private readonly PermissionsHerdRunner _herd = new();

    public void Dispose() => _herd.Dispose();

    internal static string ServerDll => McpTestServer.Dll;

    internal static JsonObject Stdio(params string[] extra) => McpTestServer.Stdio(extra);

    internal static JsonObject StdioIn(string directory) => McpTestServer.StdioIn(directory);

    internal static string Config(params (string Name, JsonObject Server)[] servers) => McpTestServer.Config(servers);

    private static Reply Call(string tool, JsonObject? input = null) => Reply.WithTool(tool, input ?? []);

    private static JsonObject Init(HerdRun run) => run.JsonLines.First(l => (string?)l["subtype"] == "init");

    [Fact]
    public async Task A_stdio_server_s_tools_are_offered_with_their_schemas_and_answer_through_the_model()
    {
        await using var server = await ScriptedModelServer.StartAsync(ModelScript.Replies(Call("mcp__test__echo", new JsonObject { ["text"] = "hello" }), Reply.WithText("done")));

        var run = await _herd.RunAsync(server, "-p", "go", "--output-format", "stream-json", "--verbose", "--allowedTools", "mcp__test", "--mcp-config", Config(("test", Stdio())));

        run.ExitCode.ShouldBe(0, run.ToString());
        var init = Init(run);
        ((JsonArray)init["tools"]!).Select(t => (string?)t).ShouldContain("mcp__test__echo");
        init["mcp_servers"]!.ToJsonString().ShouldBe("""[{"name":"test","status":"connected","source":"dynamic"}]""");
        var offered = ((JsonArray)server.Requests[0].Json["tools"]!).OfType<JsonObject>().Single(t => (string?)t["name"] == "mcp__test__echo");
        ((string?)offered["description"]).ShouldBe("Echoes the text back.");
        ((string?)offered["input_schema"]!["properties"]!["text"]!["type"]).ShouldBe("string");
        PermissionsHerdRunner.Text(PermissionsHerdRunner.ToolResults(server).Single()).ShouldBe("echo: hello (env MCP_TEST_VALUE=v1)");
    }

    [Fact]
    public async Task A_streamable_HTTP_server_answers_like_a_stdio_one()
    {
        using var http = Process.Start(new ProcessStartInfo("dotnet") { ArgumentList = { ServerDll, "--http" }, RedirectStandardOutput = true, UseShellExecute = false })!;
        try
        {
            var url = await http.StandardOutput.ReadLineAsync();
            url.ShouldNotBeNull();
            await using var server = await ScriptedModelServer.StartAsync(ModelScript.Replies(Call("mcp__web__add", new JsonObject { ["a"] = 2, ["b"] = 40 }), Reply.WithText("done")));

            var run = await _herd.RunAsync(server, "-p", "go", "--output-format", "stream-json", "--verbose", "--allowedTools", "mcp__web__add",
                "--mcp-config", Config(("web", new JsonObject { ["type"] = "http", ["url"] = url })));

            run.ExitCode.ShouldBe(0, run.ToString());
            ((string?)Init(run)["mcp_servers"]![0]!["status"]).ShouldBe("connected");
            PermissionsHerdRunner.Text(PermissionsHerdRunner.ToolResults(server).Single()).ShouldBe("42");
        }
        finally
        {
            http.Kill(entireProcessTree: true);
        }
    }

    [Fact]
    public async Task A_server_that_fails_to_start_or_hangs_on_initialise_is_reported_failed_and_never_holds_up_the_run()
    {
        await using var server = await ScriptedModelServer.StartAsync(ModelScript.Replies(Reply.WithText("done")));
        var started = Stopwatch.StartNew();

        var run = await _herd.RunWithAsync(server, [("MCP_TIMEOUT", "3000")], "-p", "go", "--output-format", "stream-json", "--verbose",
            "--mcp-config", Config(("broken", Stdio("--fail-on-start")), ("stuck", Stdio("--hang-on-start")), ("test", Stdio())));

        run.ExitCode.ShouldBe(0, run.ToString());
        started.Elapsed.ShouldBeLessThan(TimeSpan.FromSeconds(90));
        var statuses = ((JsonArray)Init(run)["mcp_servers"]!).ToDictionary(s => (string)s!["name"]!, s => (string?)s!["status"]);
        statuses.ShouldBe(new Dictionary<string, string?> { ["broken"] = "failed", ["stuck"] = "failed", ["test"] = "connected" });
        ((JsonArray)Init(run)["tools"]!).Select(t => (string?)t).ShouldNotContain(t => t!.StartsWith("mcp__stuck__"));
    }

    [Fact]
    public async Task A_server_that_crashes_mid_run_answers_connection_closed_and_the_run_ends_normally()
    {
        await using var server = await ScriptedModelServer.StartAsync(ModelScript.Replies(
            Call("mcp__test__crash"), Call("mcp__test__echo", new JsonObject { ["text"] = "again" }), Reply.WithText("done")));

        var run = await _herd.RunAsync(server, "-p", "go", "--output-format", "json", "--allowedTools", "mcp__test", "--mcp-config", Config(("test", Stdio())));

        run.ExitCode.ShouldBe(0, run.ToString());
        ((string?)run.Json["result"]).ShouldBe("done");
        var results = PermissionsHerdRunner.ToolResults(server);
        PermissionsHerdRunner.Text(results[0]).ShouldBe("Connection closed");
        ((bool)results[0]["is_error"]!).ShouldBeTrue();
    }

    [Fact]
    public async Task Permission_rules_name_servers_and_tools_and_a_bare_deny_hides_them()
    {
        // Given: allowed by server, one tool denied by name; another server hidden entirely
        await using var server = await ScriptedModelServer.StartAsync(ModelScript.Replies(
            Call("mcp__test__echo", new JsonObject { ["text"] = "ok" }), Call("mcp__test__add", new JsonObject { ["a"] = 1, ["b"] = 1 }), Reply.WithText("done")));

        var run = await _herd.RunAsync(server, "-p", "go", "--output-format", "stream-json", "--verbose",
            "--allowedTools", "mcp__test", "--disallowedTools", "mcp__test__add,mcp__other",
            "--mcp-config", Config(("test", Stdio()), ("other", Stdio())));

        run.ExitCode.ShouldBe(0, run.ToString());
        var tools = ((JsonArray)Init(run)["tools"]!).Select(t => (string?)t).ToArray();
        tools.ShouldContain("mcp__test__echo");
        tools.ShouldNotContain("mcp__test__add");
        tools.ShouldNotContain(t => t!.StartsWith("mcp__other__"));
        var results = PermissionsHerdRunner.ToolResults(server);
        PermissionsHerdRunner.Text(results[0]).ShouldStartWith("echo: ok");
        PermissionsHerdRunner.Text(results[1]).ShouldContain("No such tool available: mcp__test__add");
    }

    [Fact]
    public async Task Without_an_allow_rule_an_MCP_call_is_denied_in_print_mode_and_audited()
    {
        var audit = Path.Combine(_herd.Root, "audit.ndjson");
        await using var server = await ScriptedModelServer.StartAsync(ModelScript.Replies(Call("mcp__test__echo", new JsonObject { ["text"] = "x" }), Reply.WithText("done")));

        var run = await _herd.RunAsync(server, "-p", "go", "--output-format", "json", "--audit-log", audit, "--mcp-config", Config(("test", Stdio())));

        run.ExitCode.ShouldBe(0, run.ToString());
        ((JsonArray)run.Json["permission_denials"]!).Select(d => (string?)d!["tool_name"]).ShouldBe(["mcp__test__echo"]);
        File.ReadAllText(audit).ShouldContain("mcp__test__echo");
    }

    [Fact]
    public async Task Servers_come_from_mcp_json_and_settings_unless_strict_mcp_config_is_given()
    {
        _herd.WriteFile(".mcp.json", Config(("proj", Stdio())));
        _herd.WriteFile(".claude/settings.json", Config(("fromsettings", Stdio())));
        await using var server = await ScriptedModelServer.StartAsync(ModelScript.Replies(Reply.WithText("done"), Reply.WithText("done")));

        var loose = await _herd.RunAsync(server, "-p", "go", "--output-format", "stream-json", "--verbose");
        var strict = await _herd.RunAsync(server, "-p", "go", "--output-format", "stream-json", "--verbose", "--strict-mcp-config", "--mcp-config", Config(("flag", Stdio())));

        loose.ExitCode.ShouldBe(0, loose.ToString());
        ((JsonArray)Init(loose)["mcp_servers"]!).Select(s => (string?)s!["name"]).Order().ShouldBe(["fromsettings", "proj"]);
        ((JsonArray)Init(strict)["mcp_servers"]!).Select(s => (string?)s!["name"]).ShouldBe(["flag"]);
    }

    [Theory]
    [InlineData("""{"mcpServers": {"x": {"args": []}}}""", "mcpServers.x needs a \"command\" string")]
    [InlineData("""{"mcpServers": {"x": {"type": "http", "url": "ftp://a"}}}""", "is not an http(s) URL")]
    [InlineData("""{"servers": {}}""", "must hold an object like")]
    [InlineData("not-a-file.json", "does not exist")]
    public async Task A_malformed_mcp_config_is_one_line_and_exit_1(string config, string expected)
    {
        await using var server = await ScriptedModelServer.StartAsync(ModelScript.Replies(Reply.WithText("done")));

        var run = await _herd.RunAsync(server, "-p", "go", "--mcp-config", config);

        run.ExitCode.ShouldBe(1);
        run.Stderr.Trim().Split('\n').Length.ShouldBe(1, run.Stderr);
        run.Stderr.ShouldContain(expected);
        server.Requests.Count.ShouldBe(0);
    }
}
