using System.Buffers;
using System.Text.Encodings.Web;
using System.Text.Json;
using Herd.Agent.IO;
using Herd.Agent.Loop;

namespace Herd.Agent.Permissions;

/// <summary>
/// <c>--audit-log FILE</c>: one NDJSON line per tool call with the decision and what decided it (spec §6, Herd goes
/// further). Appended with O_APPEND so several runs can share one log.
/// </summary>
/// <param name="time">The clock each line's timestamp is read from.</param>
public sealed class AuditLog(string path, string sessionId, TimeProvider? time = null) : IAgentEventSink, IDisposable
{
    private readonly TimeProvider _time = time ?? TimeProvider.System;
    private static readonly JsonWriterOptions WriterOptions = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };
    private readonly AppendOnlyFile _file = new(path);

    public void OnEvent(AgentEvent agentEvent)
    {
        if (agentEvent is not ToolCallEvent call)
            return;
        var buffer = new ArrayBufferWriter<byte>(512);
        using (var w = new Utf8JsonWriter(buffer, WriterOptions))
        {
            w.WriteStartObject();
            w.WriteString("timestamp", _time.GetUtcNow().UtcDateTime.ToString("O", System.Globalization.CultureInfo.InvariantCulture));
            w.WriteString("session_id", sessionId);
            w.WriteString("tool", call.ToolName);
            w.WriteString("tool_use_id", call.ToolUseId);
            w.WritePropertyName("input");
            if (call.Input is null)
                w.WriteNullValue();
            else
                call.Input.WriteTo(w);
            w.WriteString("decision", call.Decision.Name());
            if (call.Rule is null)
                w.WriteNull("rule");
            else
                w.WriteString("rule", call.Rule);
            w.WriteString("reason", call.Reason);
            w.WriteNumber("duration_ms", Math.Round(call.Duration.TotalMilliseconds, 3));
            if (call.ExitCode is { } code)
                w.WriteNumber("exit_code", code);
            else
                w.WriteNull("exit_code");
            w.WriteBoolean("is_error", call.IsError);
            w.WriteEndObject();
        }
        buffer.Write("\n"u8);
        _file.Append(buffer.WrittenSpan);
    }

    public void Dispose() => _file.Dispose();
}
