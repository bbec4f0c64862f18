using System.Buffers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Herd.Agent.Chat;

namespace Herd.Agent.Models;

/// <summary>
/// The Messages API form of the neutral conversation, both ways. It is also the form of Claude Code's transcripts and
/// stream-json lines, so Herd's output reads the same whichever provider answered.
/// </summary>
public static class AnthropicWire
{
    public const string Provider = "anthropic";

    /// <summary>Reads a Messages API message (from a transcript or a stream-json input line).</summary>
    public static ChatMessage MessageFromJson(JsonObject message)
    {
        var role = (string?)message["role"] == "assistant" ? ChatRole.Assistant : ChatRole.User;
        return new ChatMessage(role, BlocksFromJson(message["content"]));
    }

    /// <summary>A message's <c>content</c>: a string, or an array of blocks.</summary>
    public static IReadOnlyList<ContentBlock> BlocksFromJson(JsonNode? content) => content switch
    {
        JsonValue v when v.TryGetValue<string>(out var s) => [new TextBlock(s)],
        JsonArray a => a.OfType<JsonObject>().Select(BlockFromJson).ToArray(),
        _ => [],
    };

    public static ContentBlock BlockFromJson(JsonObject block)
    {
        switch ((string?)block["type"])
        {
            case "text" when block["text"] is JsonValue text && text.TryGetValue<string>(out var t):
                return new TextBlock(t);
            case "tool_use" when (string?)block["id"] is { } id && (string?)block["name"] is { } name:
                return new ToolUseBlock(id, name, block["input"]?.DeepClone() ?? new JsonObject());
            case "tool_result" when (string?)block["tool_use_id"] is { } useId && ToolResultText(block["content"]) is { } text:
                return new ToolResultBlock(useId, text, block["is_error"] is JsonValue e && e.TryGetValue<bool>(out var isError) && isError);
            case "thinking" when block["thinking"] is JsonValue th && th.TryGetValue<string>(out var thinking):
                return new ThinkingBlock(thinking, (string?)block["signature"]);
            default:
                return new ProviderBlock(Provider, (JsonObject)block.DeepClone());
        }
    }

    /// <summary>A tool result's text; null when it holds more than text (an image), which stays a provider block.</summary>
    private static string? ToolResultText(JsonNode? content)
    {
        switch (content)
        {
            case null:
                return "";
            case JsonValue v when v.TryGetValue<string>(out var s):
                return s;
            case JsonArray parts when parts.All(p => p is JsonObject o && (string?)o["type"] == "text"):
                var text = new StringBuilder();
                foreach (var part in parts)
                    text.Append((string?)part!["text"]);
                return text.ToString();
            default:
                return null;
        }
    }

    /// <summary>A block as Claude Code prints and stores it (a tool result leads with <c>tool_use_id</c>, as Claude Code's does).</summary>
    public static JsonObject ToJson(ContentBlock block) => block switch
    {
        TextBlock t => new JsonObject { ["type"] = "text", ["text"] = t.Text },
        ToolUseBlock u => new JsonObject { ["type"] = "tool_use", ["id"] = u.Id, ["name"] = u.Name, ["input"] = u.Input.DeepClone() },
        ToolResultBlock r => r.IsError
            ? new JsonObject { ["tool_use_id"] = r.ToolUseId, ["type"] = "tool_result", ["content"] = r.Content, ["is_error"] = true }
            : new JsonObject { ["tool_use_id"] = r.ToolUseId, ["type"] = "tool_result", ["content"] = r.Content },
        ThinkingBlock th => th.Signature is null
            ? new JsonObject { ["type"] = "thinking", ["thinking"] = th.Thinking }
            : new JsonObject { ["type"] = "thinking", ["thinking"] = th.Thinking, ["signature"] = th.Signature },
        ProviderBlock p => (JsonObject)p.Raw.DeepClone(),
        _ => throw new ArgumentOutOfRangeException(nameof(block), block.GetType().Name, "Unknown content block."),
    };

    public static JsonObject ToJson(ChatMessage message) => new()
    {
        ["role"] = message.Role == ChatRole.Assistant ? "assistant" : "user",
        ["content"] = new JsonArray(message.Content.Select(b => (JsonNode)ToJson(b)).ToArray()),
    };

    /// <summary>
    /// The request body. Prompt-cache breakpoints go where Claude Code puts them (spec §1): on the system block, so the
    /// tools + system prefix is cached, and on the last block of the last user message, so each turn reads the previous
    /// turn's cache.
    /// </summary>
    /// <param name="stream">False for Message Batches, whose requests must not stream.</param>
    /// <param name="longCache">
    /// Mark the cache breakpoints with the 1-hour TTL: a Message Batch round can take longer than the default 5 minutes,
    /// and the next round's requests should still read the shared prefix from the cache.
    /// </param>
    public static byte[] WriteRequest(ModelRequest request, bool stream = true, bool longCache = false)
    {
        var tools = request.Tools.Tools.Count > 0 ? request.Tools.WireFormat(Provider, WriteTools) : null;
        var buffer = new ArrayBufferWriter<byte>(4096 + (tools?.Length ?? 0));
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            w.WriteString("model", request.Model);
            w.WriteNumber("max_tokens", request.MaxTokens);
            if (stream)
                w.WriteBoolean("stream", true);
            if (!string.IsNullOrEmpty(request.System))
            {
                w.WritePropertyName("system");
                w.WriteStartArray();
                w.WriteStartObject();
                w.WriteString("type", "text");
                w.WriteString("text", request.System);
                WriteCacheControl(w, longCache);
                w.WriteEndObject();
                w.WriteEndArray();
            }
            w.WritePropertyName("messages");
            w.WriteStartArray();
            var messages = request.Messages;
            var lastUser = -1;
            for (var i = messages.Count - 1; i >= 0 && lastUser < 0; i--)
            {
                if (messages[i].Role == ChatRole.User)
                    lastUser = i;
            }
            for (var i = 0; i < messages.Count; i++)
                WriteMessage(w, messages[i], cacheLastBlock: i == lastUser, longCache);
            w.WriteEndArray();
            if (tools is not null)
            {
                w.WritePropertyName("tools");
                w.WriteRawValue(tools, skipInputValidation: true);
            }
            w.WriteEndObject();
        }
        return buffer.WrittenSpan.ToArray();
    }

    private static byte[] WriteTools(IReadOnlyList<ToolSpec> tools)
    {
        var buffer = new ArrayBufferWriter<byte>(8192);
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartArray();
            foreach (var tool in tools)
            {
                w.WriteStartObject();
                w.WriteString("name", tool.Name);
                w.WriteString("description", tool.Description);
                w.WritePropertyName("input_schema");
                tool.InputSchema.WriteTo(w);
                w.WriteEndObject();
            }
            w.WriteEndArray();
        }
        return buffer.WrittenSpan.ToArray();
    }

    private static void WriteMessage(Utf8JsonWriter w, ChatMessage message, bool cacheLastBlock, bool longCache)
    {
        w.WriteStartObject();
        w.WriteString("role", message.Role == ChatRole.Assistant ? "assistant" : "user");
        // Another provider's blocks (none today) mean nothing to this API.
        var blocks = message.Content.Where(b => b is not ProviderBlock p || p.Provider == Provider).ToArray();
        // A prompt of plain text goes as a string, as Claude Code sends it; only a breakpoint needs the block form.
        if (message.Role == ChatRole.User && !cacheLastBlock && blocks is [TextBlock only])
        {
            w.WriteString("content", only.Text);
            w.WriteEndObject();
            return;
        }
        w.WritePropertyName("content");
        w.WriteStartArray();
        for (var i = 0; i < blocks.Length; i++)
            WriteBlock(w, blocks[i], cacheLastBlock && i == blocks.Length - 1, longCache);
        w.WriteEndArray();
        w.WriteEndObject();
    }

    private static void WriteBlock(Utf8JsonWriter w, ContentBlock block, bool cache, bool longCache)
    {
        w.WriteStartObject();
        switch (block)
        {
            case TextBlock t:
                w.WriteString("type", "text");
                w.WriteString("text", t.Text);
                break;
            case ToolUseBlock u:
                w.WriteString("type", "tool_use");
                w.WriteString("id", u.Id);
                w.WriteString("name", u.Name);
                w.WritePropertyName("input");
                u.Input.WriteTo(w);
                break;
            case ToolResultBlock r:
                w.WriteString("type", "tool_result");
                w.WriteString("tool_use_id", r.ToolUseId);
                w.WriteString("content", r.Content);
                if (r.IsError)
                    w.WriteBoolean("is_error", true);
                break;
            case ThinkingBlock th:
                w.WriteString("type", "thinking");
                w.WriteString("thinking", th.Thinking);
                if (th.Signature is not null)
                    w.WriteString("signature", th.Signature);
                break;
            case ProviderBlock p:
                // Verbatim, but with Herd's breakpoint in place of any cache_control it carried.
                foreach (var (name, value) in p.Raw)
                {
                    if (name == "cache_control")
                        continue;
                    w.WritePropertyName(name);
                    if (value is null)
                        w.WriteNullValue();
                    else
                        value.WriteTo(w);
                }
                break;
        }
        if (cache)
            WriteCacheControl(w, longCache);
        w.WriteEndObject();
    }

    private static void WriteCacheControl(Utf8JsonWriter w, bool longCache)
    {
        w.WritePropertyName("cache_control");
        w.WriteStartObject();
        w.WriteString("type", "ephemeral");
        if (longCache)
            w.WriteString("ttl", "1h");
        w.WriteEndObject();
    }
}
