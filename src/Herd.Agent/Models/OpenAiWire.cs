using System.Buffers;
using System.Text;
using System.Text.Json;
using Herd.Agent.Chat;

namespace Herd.Agent.Models;

/// <summary>The OpenAI Chat Completions form of the neutral conversation (request side).</summary>
public static class OpenAiWire
{
    public const string Provider = "openai";

    /// <summary>
    /// The request body: <c>stream</c> with <c>stream_options.include_usage</c>, so the last chunk carries the usage.
    /// Tool results become <c>tool</c> messages right after the assistant message that called them (the API requires
    /// that order); thinking and other providers' blocks are not sent; a user message's text blocks are joined.
    /// </summary>
    /// <param name="maxTokensField">
    /// <c>max_tokens</c> (what vLLM, Ollama, llama.cpp and LiteLLM read) or <c>max_completion_tokens</c> (what
    /// OpenAI's own reasoning models insist on).
    /// </param>
    public static byte[] WriteRequest(ModelRequest request, string maxTokensField = "max_tokens")
    {
        var tools = request.Tools.Tools.Count > 0 ? request.Tools.WireFormat(Provider, WriteTools) : null;
        var buffer = new ArrayBufferWriter<byte>(4096 + (tools?.Length ?? 0));
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            w.WriteString("model", request.Model);
            w.WriteNumber(maxTokensField, request.MaxTokens);
            w.WriteBoolean("stream", true);
            w.WriteStartObject("stream_options");
            w.WriteBoolean("include_usage", true);
            w.WriteEndObject();
            w.WriteStartArray("messages");
            if (!string.IsNullOrEmpty(request.System))
            {
                w.WriteStartObject();
                w.WriteString("role", "system");
                w.WriteString("content", request.System);
                w.WriteEndObject();
            }
            foreach (var message in request.Messages)
            {
                if (message.Role == ChatRole.Assistant)
                    WriteAssistant(w, message);
                else
                    WriteUser(w, message);
            }
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

    private static void WriteUser(Utf8JsonWriter w, ChatMessage message)
    {
        foreach (var result in message.Content.OfType<ToolResultBlock>())
        {
            w.WriteStartObject();
            w.WriteString("role", "tool");
            w.WriteString("tool_call_id", result.ToolUseId);
            w.WriteString("content", result.Content);
            w.WriteEndObject();
        }
        var text = JoinText(message.Content);
        if (text is null)
            return;
        w.WriteStartObject();
        w.WriteString("role", "user");
        w.WriteString("content", text);
        w.WriteEndObject();
    }

    private static void WriteAssistant(Utf8JsonWriter w, ChatMessage message)
    {
        w.WriteStartObject();
        w.WriteString("role", "assistant");
        if (JoinText(message.Content) is { } text)
            w.WriteString("content", text);
        else
            w.WriteNull("content");
        var calls = message.Content.OfType<ToolUseBlock>().ToArray();
        if (calls.Length > 0)
        {
            w.WriteStartArray("tool_calls");
            foreach (var call in calls)
            {
                w.WriteStartObject();
                w.WriteString("id", call.Id);
                w.WriteString("type", "function");
                w.WriteStartObject("function");
                w.WriteString("name", call.Name);
                w.WriteString("arguments", call.Input.ToJsonString());
                w.WriteEndObject();
                w.WriteEndObject();
            }
            w.WriteEndArray();
        }
        w.WriteEndObject();
    }

    /// <returns>The text blocks joined by blank lines; null when there are none.</returns>
    private static string? JoinText(IReadOnlyList<ContentBlock> content)
    {
        StringBuilder? text = null;
        foreach (var block in content.OfType<TextBlock>())
        {
            if (text is null)
                text = new StringBuilder(block.Text);
            else
                text.Append("\n\n").Append(block.Text);
        }
        return text?.ToString();
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
                w.WriteString("type", "function");
                w.WriteStartObject("function");
                w.WriteString("name", tool.Name);
                w.WriteString("description", tool.Description);
                w.WritePropertyName("parameters");
                tool.InputSchema.WriteTo(w);
                w.WriteEndObject();
                w.WriteEndObject();
            }
            w.WriteEndArray();
        }
        return buffer.WrittenSpan.ToArray();
    }
}
