using System.Buffers;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Nodes;
using Herd.Agent.Loop;

namespace Herd.Agent.Sessions;

/// <summary>
/// Appends a session's events to its JSONL transcript as they happen, each line chained to the previous one by
/// uuid/parentUuid. Assistant blocks are held until their call succeeds, so a retried call leaves no orphan lines.
/// </summary>
public sealed class TranscriptWriter : IAgentEventSink, IDisposable
{
    private static readonly JsonWriterOptions WriterOptions = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };
    private readonly IO.AppendOnlyFile _file;
    private readonly string _sessionId;
    private readonly string _cwd;
    private readonly string _permissionMode;
    private readonly List<(string MessageId, JsonObject Line)> _pendingAssistant = [];
    private readonly Lock _gate = new();
    private string? _parentUuid;
    private readonly TimeProvider _time;

    /// <param name="time">The clock each line's timestamp is read from.</param>
    public TranscriptWriter(string path, string sessionId, string cwd, string permissionMode, string? parentUuid, TimeProvider? time = null)
    {
        _time = time ?? TimeProvider.System;
        _file = new IO.AppendOnlyFile(path);
        _sessionId = sessionId;
        _cwd = cwd;
        _permissionMode = permissionMode;
        _parentUuid = parentUuid;
        FilePath = path;
    }

    public string FilePath { get; }

    /// <summary>Copies a transcript's lines into a new session file under a new id (fork, spec §7.3).</summary>
    public static string? CopyForFork(IReadOnlyList<JsonObject> lines, string path, string newSessionId)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        using var file = new FileStream(path, FileMode.CreateNew, FileAccess.Write, FileShare.Read);
        string? leaf = null;
        foreach (var line in lines)
        {
            var copy = (JsonObject)line.DeepClone();
            if (copy.ContainsKey("sessionId"))
                copy["sessionId"] = newSessionId;
            file.Write(Serialize(copy));
            if ((string?)copy["type"] is "user" or "assistant" && (string?)copy["uuid"] is { } uuid)
                leaf = uuid;
        }
        return leaf;
    }

    public void OnEvent(AgentEvent agentEvent)
    {
        lock (_gate)
        {
            switch (agentEvent)
            {
                case PromptEvent p:
                    Append("user", p.Message, null);
                    break;
                case UserMessageEvent u when !u.IsReplay:
                    Append("user", u.Message, u.ToolUseResult);
                    break;
                case ApiRetryEvent:
                    _pendingAssistant.Clear();
                    break;
                case AssistantBlockEvent a:
                    var message = new JsonObject
                    {
                        ["model"] = a.Model,
                        ["id"] = a.MessageId,
                        ["type"] = "message",
                        ["role"] = "assistant",
                        ["content"] = new JsonArray((JsonNode)a.Block.DeepClone()),
                        ["stop_reason"] = null,
                        ["stop_sequence"] = null,
                    };
                    _pendingAssistant.Add((a.MessageId, message));
                    break;
                case ModelCallEvent call:
                    foreach (var (id, line) in _pendingAssistant)
                    {
                        if (id == call.MessageId)
                            Append("assistant", line, null);
                    }
                    _pendingAssistant.Clear();
                    break;
            }
        }
    }

    private void Append(string type, JsonObject message, JsonNode? toolUseResult)
    {
        var uuid = Guid.NewGuid().ToString();
        var line = new JsonObject
        {
            ["parentUuid"] = _parentUuid,
            ["isSidechain"] = false,
            ["userType"] = "external",
            ["cwd"] = _cwd,
            ["sessionId"] = _sessionId,
            ["version"] = typeof(TranscriptWriter).Assembly.GetName().Version?.ToString(3),
            ["type"] = type,
            ["message"] = message.DeepClone(),
            ["uuid"] = uuid,
            ["timestamp"] = _time.GetUtcNow().UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ss.fffZ", System.Globalization.CultureInfo.InvariantCulture),
            ["permissionMode"] = _permissionMode,
            ["entrypoint"] = "sdk-cli",
        };
        if (toolUseResult is not null)
            line["toolUseResult"] = toolUseResult.DeepClone();
        _file.Append(Serialize(line));
        _parentUuid = uuid;
    }

    private static byte[] Serialize(JsonObject line)
    {
        var buffer = new ArrayBufferWriter<byte>(1024);
        using (var w = new Utf8JsonWriter(buffer, WriterOptions))
            line.WriteTo(w);
        buffer.Write("\n"u8);
        return buffer.WrittenSpan.ToArray();
    }

    public void Dispose() => _file.Dispose();
}
