using System.Text.Json;
using System.Text.Json.Nodes;
using Herd.Agent.Tools;
using ModelContextProtocol;
using ModelContextProtocol.Client;
using ModelContextProtocol.Protocol;

namespace Herd.Agent.Mcp;

/// <summary>
/// One tool of a connected MCP server, offered to the model as <c>mcp__&lt;server&gt;__&lt;tool&gt;</c> with the server's
/// own description and input schema. Permission rules name it like any tool (<c>mcp__server</c>, <c>mcp__server__tool</c>).
/// </summary>
internal sealed class McpTool(McpClient client, string server, Tool tool) : ITool
{
    private readonly string _description = tool.Description ?? "";
    private readonly string _schema = tool.InputSchema.GetRawText();

    public string Name { get; } = $"mcp__{server}__{tool.Name}";

    public string Description => _description;

    public JsonObject InputSchema() => JsonNode.Parse(_schema) as JsonObject ?? new JsonObject { ["type"] = "object" };

    public bool IsReadOnly => false;

    public async Task<ToolResult> InvokeAsync(JsonElement input, ToolContext context, CancellationToken cancellationToken = default)
    {
        var arguments = new Dictionary<string, JsonElement>(StringComparer.Ordinal);
        if (input.ValueKind == JsonValueKind.Object)
        {
            foreach (var property in input.EnumerateObject())
                arguments[property.Name] = property.Value.Clone();
        }
        CallToolResult result;
        try
        {
            result = await client.CallToolAsync(new CallToolRequestParams { Name = tool.Name, Arguments = arguments }, cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            throw;
        }
        catch (Exception ex) when (ex is McpException or IOException or ObjectDisposedException or InvalidOperationException or OperationCanceledException or HttpRequestException)
        {
            // [2.1.332] a server that went away answers "Connection closed"; the run goes on without it.
            var message = ex is McpProtocolException ? ex.Message : "Connection closed";
            return new ToolResult(message, true, JsonValue.Create("Error: " + message));
        }
        var blocks = new JsonArray();
        var texts = new List<string>();
        foreach (var block in result.Content)
        {
            if (block is TextContentBlock text)
            {
                texts.Add(text.Text);
                blocks.Add((JsonNode)new JsonObject { ["type"] = "text", ["text"] = text.Text });
            }
            else
            {
                // Images, audio and resources are named, not forwarded: Herd's tool results are text (docs/mcp.md).
                texts.Add($"[{block.Type} content]");
                blocks.Add((JsonNode)new JsonObject { ["type"] = block.Type });
            }
        }
        var content = string.Join("\n", texts);
        return new ToolResult(content.Length > 0 ? content : "Tool ran without output", result.IsError == true, StructuredResult(result, blocks));
    }

    /// <summary>
    /// [2.1.332] stream-json's <c>tool_use_result</c>: the content blocks alone, or — when the server sent structured
    /// content or <c>_meta</c> — an object with them beside the blocks, as Claude Code prints it.
    /// </summary>
    private static JsonNode StructuredResult(CallToolResult result, JsonArray blocks)
    {
        var structured = result.StructuredContent is { } sc ? JsonNode.Parse(sc.GetRawText()) : null;
        var meta = result.Meta?.DeepClone();
        if (structured is null && meta is null)
            return blocks;
        var node = new JsonObject { ["content"] = blocks };
        if (structured is not null)
            node["structuredContent"] = structured;
        if (meta is not null)
            node["_meta"] = meta;
        return node;
    }
}
