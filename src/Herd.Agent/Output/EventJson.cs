using System.Buffers;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Nodes;
using Herd.Agent.Loop;
using Herd.Agent.Models;

namespace Herd.Agent.Output;

/// <summary>
/// Agent events in Claude Code's stream-json shapes (spec headless-compat §3.3, §4.4). Written with Utf8JsonWriter so
/// field order is exact and nothing is reflected over.
/// </summary>
public static class EventJson
{
    /// <summary>The Claude Code version whose output Herd reproduces; consumers gate on it (spec §4.4).</summary>
    public const string ClaudeCodeVersion = "2.1.332";

    private static readonly JsonWriterOptions WriterOptions = new()
    {
        // Claude Code prints non-ASCII text as is; escaping it would change what jq users see byte for byte.
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };

    /// <summary>The event as one JSON line (without the newline), or null for events with no stream-json form.</summary>
    public static byte[]? ToJson(AgentEvent agentEvent, string sessionId, bool includePartial)
    {
        var buffer = new ArrayBufferWriter<byte>(512);
        using (var w = new Utf8JsonWriter(buffer, WriterOptions))
        {
            if (!Write(w, agentEvent, sessionId, includePartial))
                return null;
        }
        return buffer.WrittenSpan.ToArray();
    }

    private static bool Write(Utf8JsonWriter w, AgentEvent agentEvent, string sessionId, bool includePartial)
    {
        switch (agentEvent)
        {
            case InitEvent init:
                w.WriteStartObject();
                w.WriteString("type", "system");
                w.WriteString("subtype", "init");
                w.WriteString("cwd", init.Cwd);
                w.WriteString("session_id", init.SessionId);
                w.WriteStartArray("tools");
                foreach (var t in init.Tools)
                    w.WriteStringValue(t);
                w.WriteEndArray();
                w.WriteStartArray("mcp_servers");
                foreach (var server in init.McpServers)
                {
                    w.WriteStartObject();
                    w.WriteString("name", server.Name);
                    w.WriteString("status", server.Status);
                    w.WriteString("source", server.Source);
                    w.WriteEndObject();
                }
                w.WriteEndArray();
                w.WriteString("model", init.Model);
                w.WriteString("permissionMode", init.PermissionMode);
                w.WriteStartArray("slash_commands");
                w.WriteEndArray();
                w.WriteString("apiKeySource", init.ApiKeySource);
                w.WriteString("claude_code_version", ClaudeCodeVersion);
                w.WriteString("output_style", "default");
                w.WriteStartArray("agents");
                w.WriteEndArray();
                w.WriteStartArray("skills");
                w.WriteEndArray();
                w.WriteStartArray("plugins");
                w.WriteEndArray();
                w.WriteString("fast_mode_state", "off");
                w.WriteString("uuid", NewUuid());
                w.WriteEndObject();
                return true;
            case StatusEvent status:
                w.WriteStartObject();
                w.WriteString("type", "system");
                w.WriteString("subtype", "status");
                if (status.Status is null)
                    w.WriteNull("status");
                else
                    w.WriteString("status", status.Status);
                w.WriteString("uuid", NewUuid());
                w.WriteString("session_id", sessionId);
                w.WriteEndObject();
                return true;
            case StreamEvent stream when includePartial:
                w.WriteStartObject();
                w.WriteString("type", "stream_event");
                w.WritePropertyName("event");
                w.WriteRawValue(stream.RawJson, skipInputValidation: true);
                w.WriteString("session_id", sessionId);
                w.WriteNull("parent_tool_use_id");
                w.WriteString("uuid", NewUuid());
                w.WriteEndObject();
                return true;
            case AssistantBlockEvent a:
                w.WriteStartObject();
                w.WriteString("type", "assistant");
                w.WriteStartObject("message");
                w.WriteString("model", a.Model);
                w.WriteString("id", a.MessageId);
                w.WriteString("type", "message");
                w.WriteString("role", "assistant");
                w.WriteStartArray("content");
                a.Block.WriteTo(w);
                w.WriteEndArray();
                w.WriteNull("stop_reason");
                w.WriteNull("stop_sequence");
                w.WritePropertyName("usage");
                a.StartUsage.WriteTo(w);
                w.WriteEndObject();
                w.WriteNull("parent_tool_use_id");
                w.WriteString("session_id", sessionId);
                w.WriteString("uuid", NewUuid());
                w.WriteEndObject();
                return true;
            case UserMessageEvent u:
                w.WriteStartObject();
                w.WriteString("type", "user");
                w.WritePropertyName("message");
                u.Message.WriteTo(w);
                w.WriteNull("parent_tool_use_id");
                w.WriteString("session_id", sessionId);
                w.WriteString("uuid", NewUuid());
                if (u.IsReplay)
                    w.WriteBoolean("isReplay", true);
                if (u.ToolUseResult is not null)
                {
                    w.WritePropertyName("tool_use_result");
                    u.ToolUseResult.WriteTo(w);
                }
                w.WriteEndObject();
                return true;
            case ModelFallbackEvent f:
                // Field order as [2.1.332] prints it.
                w.WriteStartObject();
                w.WriteString("type", "system");
                w.WriteString("subtype", "model_fallback");
                w.WriteString("uuid", NewUuid());
                w.WriteString("trigger", f.Trigger);
                w.WriteString("original_model", f.OriginalModel);
                w.WriteString("fallback_model", f.FallbackModel);
                w.WriteString("content", f.Content);
                w.WriteString("session_id", sessionId);
                w.WriteEndObject();
                return true;
            case ApiErrorMessageEvent e:
                WriteApiErrorMessage(w, e, sessionId);
                return true;
            case ApiRetryEvent r:
                w.WriteStartObject();
                w.WriteString("type", "system");
                w.WriteString("subtype", "api_retry");
                w.WriteNumber("attempt", r.Retry.Attempt);
                w.WriteNumber("max_retries", r.Retry.MaxRetries);
                w.WriteNumber("retry_delay_ms", (long)r.Retry.Delay.TotalMilliseconds);
                if (r.Retry.ErrorStatus is { } s)
                    w.WriteNumber("error_status", s);
                else
                    w.WriteNull("error_status");
                w.WriteString("error", r.Retry.Error);
                w.WriteString("session_id", sessionId);
                w.WriteString("uuid", NewUuid());
                w.WriteEndObject();
                return true;
            case PermissionDeniedEvent d:
                w.WriteStartObject();
                w.WriteString("type", "system");
                w.WriteString("subtype", "permission_denied");
                w.WriteString("tool_name", d.ToolName);
                w.WriteString("tool_use_id", d.ToolUseId);
                w.WritePropertyName("tool_input");
                (d.ToolInput ?? new JsonObject()).WriteTo(w);
                w.WriteString("message", d.Message);
                w.WriteString("session_id", sessionId);
                w.WriteString("uuid", NewUuid());
                w.WriteEndObject();
                return true;
            case ResultEvent r:
                WriteResult(w, r.Result);
                return true;
            case Hooks.HookStartedEvent or Hooks.HookResponseEvent or Hooks.InformationalEvent:
                return HookEventJson.Write(w, agentEvent);
            default:
                return false;
        }
    }

    /// <summary>
    /// [2.1.332] A failed call ends as a synthetic assistant message holding the error text (model
    /// <c>&lt;synthetic&gt;</c>, zero usage), marked with <c>error</c>, <c>is_api_error_message</c>,
    /// <c>api_error_status</c> and <c>api_error_type</c>, before the result.
    /// </summary>
    private static void WriteApiErrorMessage(Utf8JsonWriter w, ApiErrorMessageEvent e, string sessionId)
    {
        w.WriteStartObject();
        w.WriteString("type", "assistant");
        w.WriteStartObject("message");
        w.WriteString("id", NewUuid());
        w.WriteString("model", "<synthetic>");
        w.WriteString("role", "assistant");
        w.WriteString("stop_reason", "stop_sequence");
        w.WriteString("stop_sequence", "");
        w.WriteString("type", "message");
        w.WritePropertyName("usage");
        Usage.Zero.WriteTo(w);
        w.WriteStartArray("content");
        w.WriteStartObject();
        w.WriteString("type", "text");
        w.WriteString("text", e.Text);
        w.WriteEndObject();
        w.WriteEndArray();
        w.WriteEndObject();
        w.WriteNull("parent_tool_use_id");
        w.WriteString("session_id", sessionId);
        w.WriteString("uuid", NewUuid());
        w.WriteString("error", e.Category);
        w.WriteBoolean("is_api_error_message", true);
        if (e.Status is { } status)
            w.WriteNumber("api_error_status", status);
        else
            w.WriteNull("api_error_status");
        if (e.ErrorType is null)
            w.WriteNull("api_error_type");
        else
            w.WriteString("api_error_type", e.ErrorType);
        w.WriteEndObject();
    }

    /// <summary>The result object, fields in the order of public captures (spec §3.3).</summary>
    public static void WriteResult(Utf8JsonWriter w, AgentResult r)
    {
        w.WriteStartObject();
        w.WriteString("type", "result");
        w.WriteString("subtype", r.Subtype);
        w.WriteBoolean("is_error", r.IsError);
        w.WriteNumber("duration_ms", r.DurationMs);
        w.WriteNumber("duration_api_ms", r.DurationApiMs);
        w.WriteNumber("num_turns", r.NumTurns);
        if (r.Subtype == ResultSubtype.Success)
            w.WriteString("result", r.Result ?? "");
        if (r.StopReason is null)
            w.WriteNull("stop_reason");
        else
            w.WriteString("stop_reason", r.StopReason);
        w.WriteString("session_id", r.SessionId);
        w.WriteNumber("total_cost_usd", r.TotalCostUsd);
        w.WritePropertyName("usage");
        r.Usage.WriteTo(w);
        w.WriteStartObject("modelUsage");
        foreach (var (model, e) in r.ModelUsage)
        {
            w.WriteStartObject(model);
            w.WriteNumber("inputTokens", e.Usage.InputTokens);
            w.WriteNumber("outputTokens", e.Usage.OutputTokens);
            w.WriteNumber("cacheReadInputTokens", e.Usage.CacheReadInputTokens);
            w.WriteNumber("cacheCreationInputTokens", e.Usage.CacheCreationInputTokens);
            w.WriteNumber("webSearchRequests", e.Usage.WebSearchRequests);
            w.WriteNumber("costUSD", e.CostUsd);
            w.WriteNumber("contextWindow", e.ContextWindow);
            w.WriteNumber("maxOutputTokens", e.MaxOutputTokens);
            w.WriteEndObject();
        }
        w.WriteEndObject();
        w.WriteStartArray("permission_denials");
        foreach (var d in r.PermissionDenials)
        {
            w.WriteStartObject();
            w.WriteString("tool_name", d.ToolName);
            w.WriteString("tool_use_id", d.ToolUseId);
            w.WritePropertyName("tool_input");
            (d.ToolInput ?? new JsonObject()).WriteTo(w);
            w.WriteEndObject();
        }
        w.WriteEndArray();
        if (r.HasStructuredOutput)
        {
            w.WritePropertyName("structured_output");
            if (r.StructuredOutput is null)
                w.WriteNullValue();
            else
                r.StructuredOutput.WriteTo(w);
        }
        if (r.Errors is not null)
        {
            w.WriteStartArray("errors");
            foreach (var e in r.Errors)
                w.WriteStringValue(e);
            w.WriteEndArray();
        }
        w.WriteString("terminal_reason", r.TerminalReason);
        if (r.ApiErrorStatus is { } status)
            w.WriteNumber("api_error_status", status);
        else
            w.WriteNull("api_error_status");
        if (r.TtftMs is { } ttft)
            w.WriteNumber("ttft_ms", ttft);
        if (r.UserMessageUuid is not null)
            w.WriteString("user_message_uuid", r.UserMessageUuid);
        w.WriteString("fast_mode_state", "off");
        w.WriteString("uuid", r.Uuid);
        w.WriteEndObject();
    }

    private static string NewUuid() => Guid.NewGuid().ToString();
}
