using System.Text.Json.Nodes;
using Herd.Cli.Tests.Print;

namespace Herd.Cli.Tests.Mcp;

/// <summary>
/// MCP in herd against Claude Code 2.1.332 recorded on the same scripted replies and the same test servers
/// (Print/ClaudeCode/mcp-*.json, made by record.py): a stdio and a streamable-HTTP server, permission rules naming a
/// tool or a whole server, a server that fails to start, one that crashes. docs/mcp.md lists the differences and why.
/// </summary>
public sealed class ClaudeCodeMcpComparisonTests : ClaudeCodeComparisonTestBase
{
    private static readonly string[] ResultFields = ["subtype", "is_error", "num_turns", "result", "permission_denials", "terminal_reason"];

    private static JsonObject Init(IReadOnlyList<JsonObject> lines) => lines.First(l => (string?)l["subtype"] == "init");

    private static string McpTools(JsonObject init) =>
        string.Join(",", init["tools"]!.AsArray().Select(t => (string)t!).Where(t => t.StartsWith("mcp__", StringComparison.Ordinal)));

    /// <summary>
    /// Each tool call and its result as the stream shows them: the blocks and the structured tool_use_result. A result's
    /// content is compared as its text: 2.1.332 sends an MCP server's text blocks as an array, Herd as one string of the
    /// same text (docs/mcp.md).
    /// </summary>
    private static IEnumerable<string> Calls(IReadOnlyList<JsonObject> lines) => lines
        .Where(l => (string?)l["type"] is "assistant" or "user")
        .Select(l =>
        {
            var block = l["message"]!["content"]![0]!.AsObject();
            if ((string?)l["type"] == "assistant")
                return Pick(block, "type", "name", "input", "text");
            var text = block["content"] is JsonArray parts ? string.Join("\n", parts.Select(p => (string?)p!["text"])) : (string?)block["content"];
            return $"{block["type"]} {text} is_error={block["is_error"]} {l["tool_use_result"]?.ToJsonString()}";
        });

    [Fact]
    public async Task A_stdio_and_an_http_server_s_tools_are_listed_called_and_answered_like_Claude_Code()
    {
        var (claude, herd) = await CompareAsync("mcp-calls");

        herd.Run.ExitCode.ShouldBe(claude.ExitCode, herd.Run.ToString());
        Init(herd.StdoutJson)["mcp_servers"]!.ToJsonString().ShouldBe(Init(claude.StdoutJson)["mcp_servers"]!.ToJsonString());
        McpTools(Init(herd.StdoutJson)).ShouldBe(McpTools(Init(claude.StdoutJson)));
        Shape(herd.StdoutJson).ShouldBe(Shape(claude.StdoutJson));
        Calls(herd.StdoutJson).ShouldBe(Calls(claude.StdoutJson));
        Pick(Result(herd.StdoutJson), ResultFields).ShouldBe(Pick(Result(claude.StdoutJson), ResultFields));
    }

    [Fact]
    public async Task A_tool_outside_the_allow_rule_is_denied_and_listed_like_Claude_Code()
    {
        var (claude, herd) = await CompareAsync("mcp-denied");

        herd.Run.ExitCode.ShouldBe(claude.ExitCode, herd.Run.ToString());
        Shape(herd.StdoutJson).ShouldBe(Shape(claude.StdoutJson));
        Calls(herd.StdoutJson).ShouldBe(Calls(claude.StdoutJson));
        var denied = herd.StdoutJson.Single(l => (string?)l["subtype"] == "permission_denied");
        Pick(denied, "tool_name", "message").ShouldBe(Pick(claude.StdoutJson.Single(l => (string?)l["subtype"] == "permission_denied"), "tool_name", "message"));
        Pick(Result(herd.StdoutJson), ResultFields).ShouldBe(Pick(Result(claude.StdoutJson), ResultFields));
    }

    [Fact]
    public async Task A_server_denied_by_name_is_taken_from_the_model_like_Claude_Code()
    {
        var (claude, herd) = await CompareAsync("mcp-server-denied");

        herd.Run.ExitCode.ShouldBe(claude.ExitCode, herd.Run.ToString());
        Pick(Result(herd.StdoutJson), ResultFields).ShouldBe(Pick(Result(claude.StdoutJson), ResultFields));
        herd.Requests[0]["tools"]!.AsArray().Select(t => (string?)t!["name"]).ShouldNotContain(n => n!.StartsWith("mcp__", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_server_that_fails_to_start_is_listed_failed_and_the_query_goes_on_like_Claude_Code()
    {
        var (claude, herd) = await CompareAsync("mcp-failing");

        herd.Run.ExitCode.ShouldBe(claude.ExitCode, herd.Run.ToString());
        Init(herd.StdoutJson)["mcp_servers"]!.ToJsonString().ShouldBe(Init(claude.StdoutJson)["mcp_servers"]!.ToJsonString());
        McpTools(Init(herd.StdoutJson)).ShouldBe(McpTools(Init(claude.StdoutJson)));
        string[] fields = ["subtype", "is_error", "num_turns", "result", "terminal_reason"];
        Pick(Result(herd.StdoutJson), fields).ShouldBe(Pick(Result(claude.StdoutJson), fields));
    }

    [Fact]
    public async Task A_server_that_crashes_mid_call_answers_Connection_closed_like_Claude_Code()
    {
        var (claude, herd) = await CompareAsync("mcp-crash");

        herd.Run.ExitCode.ShouldBe(claude.ExitCode, herd.Run.ToString());
        Calls(herd.StdoutJson).Take(2).ShouldBe(Calls(claude.StdoutJson).Take(2));
        string[] fields = ["subtype", "is_error", "num_turns", "result", "terminal_reason"];
        Pick(Result(herd.StdoutJson), fields).ShouldBe(Pick(Result(claude.StdoutJson), fields));
    }
}
