using System.Buffers;
using System.Text.Json;
using System.Text.Json.Nodes;
using Herd.Agent.Chat;
using Herd.Agent.Models;

namespace Herd.Agent.Loop;

/// <summary>
/// A session saved between the steps of a query (<see cref="AgentSession.Save"/>): the conversation and every counter
/// the query's result is made of, so <see cref="AgentSession.Resume"/> continues it exactly, in this process or another.
/// Its JSON form (<see cref="ToJson"/>) is what a run store keeps; the history is in Claude Code's transcript form.
/// </summary>
public sealed record AgentSessionState
{
    public required string SessionId { get; init; }
    public required IReadOnlyList<ChatMessage> History { get; init; }
    public int NumTurns { get; init; }
    public Usage Usage { get; init; } = Usage.Zero;
    public string? StopReason { get; init; }
    public string LastText { get; init; } = "";
    public long? TtftMs { get; init; }
    public int StructuredFailures { get; init; }
    public bool Nudged { get; init; }
    public IReadOnlyList<PermissionDenial> Denials { get; init; } = [];
    public IReadOnlyDictionary<string, ModelUsageEntry> CostsByModel { get; init; } = new Dictionary<string, ModelUsageEntry>();
    public long ApiDurationMs { get; init; }

    /// <value>How long the query had run when saved; its duration_ms goes on from there.</value>
    public long ElapsedMs { get; init; }

    /// <value>The input-token bound's basis (the last call's input tokens and body length); -1 before any call.</value>
    public long LastInputTokens { get; init; } = -1;
    public int LastBodyLength { get; init; }

    public string ToJson()
    {
        var buffer = new ArrayBufferWriter<byte>();
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            w.WriteNumber("version", 1);
            w.WriteString("session_id", SessionId);
            w.WriteStartArray("history");
            foreach (var message in History)
                AnthropicWire.ToJson(message).WriteTo(w);
            w.WriteEndArray();
            w.WriteNumber("num_turns", NumTurns);
            w.WritePropertyName("usage");
            Usage.WriteTo(w);
            w.WriteString("stop_reason", StopReason);
            w.WriteString("last_text", LastText);
            if (TtftMs is { } ttft)
                w.WriteNumber("ttft_ms", ttft);
            w.WriteNumber("structured_failures", StructuredFailures);
            w.WriteBoolean("nudged", Nudged);
            w.WriteStartArray("denials");
            foreach (var denial in Denials)
            {
                w.WriteStartObject();
                w.WriteString("tool_name", denial.ToolName);
                w.WriteString("tool_use_id", denial.ToolUseId);
                w.WritePropertyName("tool_input");
                if (denial.ToolInput is null)
                    w.WriteNullValue();
                else
                    denial.ToolInput.WriteTo(w);
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteStartObject("costs");
            foreach (var (model, entry) in CostsByModel)
            {
                w.WriteStartObject(model);
                w.WritePropertyName("usage");
                entry.Usage.WriteTo(w);
                w.WriteNumber("cost_usd", entry.CostUsd);
                w.WriteNumber("context_window", entry.ContextWindow);
                w.WriteNumber("max_output_tokens", entry.MaxOutputTokens);
                w.WriteEndObject();
            }
            w.WriteEndObject();
            w.WriteNumber("api_duration_ms", ApiDurationMs);
            w.WriteNumber("elapsed_ms", ElapsedMs);
            w.WriteNumber("last_input_tokens", LastInputTokens);
            w.WriteNumber("last_body_length", LastBodyLength);
            w.WriteEndObject();
        }
        return System.Text.Encoding.UTF8.GetString(buffer.WrittenSpan);
    }

    /// <exception cref="FormatException">The text is not a saved session.</exception>
    public static AgentSessionState Parse(string json)
    {
        try
        {
            using var doc = JsonDocument.Parse(json);
            var root = doc.RootElement;
            if (root.GetProperty("version").GetInt32() != 1)
                throw new FormatException("A saved session of an unknown version.");
            var costs = new Dictionary<string, ModelUsageEntry>(StringComparer.Ordinal);
            foreach (var model in root.GetProperty("costs").EnumerateObject())
            {
                var e = model.Value;
                costs[model.Name] = new ModelUsageEntry(Usage.Parse(e.GetProperty("usage")), e.GetProperty("cost_usd").GetDouble(),
                    e.GetProperty("context_window").GetInt32(), e.GetProperty("max_output_tokens").GetInt32());
            }
            return new AgentSessionState
            {
                SessionId = root.GetProperty("session_id").GetString()!,
                History = root.GetProperty("history").EnumerateArray()
                    .Select(m => AnthropicWire.MessageFromJson(JsonNode.Parse(m.GetRawText())!.AsObject())).ToArray(),
                NumTurns = root.GetProperty("num_turns").GetInt32(),
                Usage = Usage.Parse(root.GetProperty("usage")),
                StopReason = root.GetProperty("stop_reason").GetString(),
                LastText = root.GetProperty("last_text").GetString() ?? "",
                TtftMs = root.TryGetProperty("ttft_ms", out var ttft) ? ttft.GetInt64() : null,
                StructuredFailures = root.GetProperty("structured_failures").GetInt32(),
                Nudged = root.GetProperty("nudged").GetBoolean(),
                Denials = root.GetProperty("denials").EnumerateArray()
                    .Select(d => new PermissionDenial(d.GetProperty("tool_name").GetString()!, d.GetProperty("tool_use_id").GetString()!,
                        JsonNode.Parse(d.GetProperty("tool_input").GetRawText()))).ToArray(),
                CostsByModel = costs,
                ApiDurationMs = root.GetProperty("api_duration_ms").GetInt64(),
                ElapsedMs = root.GetProperty("elapsed_ms").GetInt64(),
                LastInputTokens = root.GetProperty("last_input_tokens").GetInt64(),
                LastBodyLength = root.GetProperty("last_body_length").GetInt32(),
            };
        }
        catch (Exception ex) when (ex is JsonException or KeyNotFoundException or InvalidOperationException or NullReferenceException)
        {
            throw new FormatException("Not a saved session: " + ex.Message, ex);
        }
    }
}
