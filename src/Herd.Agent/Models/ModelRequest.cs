using System.Buffers;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Herd.Agent.Models;

/// <summary>One Messages API request: everything but transport concerns.</summary>
public sealed record ModelRequest(
    string Model,
    int MaxTokens,
    JsonArray? System,
    IReadOnlyList<JsonObject> Messages,
    JsonArray? Tools)
{
    private byte[]? _body;

    /// <summary>A copy (<c>with</c>) starts without the original's serialised body: its fields may differ.</summary>
    private ModelRequest(ModelRequest original)
    {
        Model = original.Model;
        MaxTokens = original.MaxTokens;
        System = original.System;
        Messages = original.Messages;
        Tools = original.Tools;
        ToolsJson = original.ToolsJson;
        OverloadAttemptsBeforeFallback = original.OverloadAttemptsBeforeFallback;
    }

    /// <summary>
    /// When set, an overloaded model (529) is given up after this many attempts so the caller can switch to its
    /// fallback model instead of retrying the same one.
    /// </summary>
    public int? OverloadAttemptsBeforeFallback { get; init; }

    /// <summary>
    /// <see cref="Tools"/> already serialised (UTF-8 JSON array), written verbatim instead of walking the nodes. Sessions
    /// that share a tool set share these bytes, so the largest part of every body is serialised once per process.
    /// </summary>
    public byte[]? ToolsJson { get; init; }

    /// <summary>Value equality over the request's fields; the serialised body is a cache and takes no part.</summary>
    public bool Equals(ModelRequest? other) =>
        other is not null && Model == other.Model && MaxTokens == other.MaxTokens && Equals(System, other.System)
        && Equals(Messages, other.Messages) && Equals(Tools, other.Tools) && Equals(ToolsJson, other.ToolsJson)
        && OverloadAttemptsBeforeFallback == other.OverloadAttemptsBeforeFallback;

    public override int GetHashCode() => HashCode.Combine(Model, MaxTokens, System, Messages, Tools, ToolsJson, OverloadAttemptsBeforeFallback);

    /// <summary>The body's length in bytes (serialising it once, if not done yet).</summary>
    public int BodyLength => ToJsonBytes().Length;

    /// <summary>
    /// The request body. Prompt-cache breakpoints go where Claude Code puts them (spec §1): on the last system block,
    /// so the tools + system prefix is cached, and on the last block of the last user message, so each turn reads
    /// the previous turn's cache. The stored history is never modified.
    /// </summary>
    /// <remarks>
    /// Serialised once, on first use, and kept: the client sends it (and resends it on retries), the session measures
    /// it for the input-token bound. A request is a snapshot of the conversation at the time it is sent; the caller
    /// must not change <see cref="Messages"/> between building the request and its last use. The returned array is
    /// shared: do not modify it.
    /// </remarks>
    public byte[] ToJsonBytes() => _body ??= Serialize();

    private byte[] Serialize()
    {
        var buffer = new ArrayBufferWriter<byte>(4096 + (ToolsJson?.Length ?? 0));
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            w.WriteString("model", Model);
            w.WriteNumber("max_tokens", MaxTokens);
            w.WriteBoolean("stream", true);
            if (System is { Count: > 0 })
            {
                w.WritePropertyName("system");
                w.WriteStartArray();
                for (var i = 0; i < System.Count; i++)
                {
                    if (i == System.Count - 1 && System[i] is JsonObject last)
                        WriteWithCacheControl(w, last);
                    else
                        WriteNode(w, System[i]);
                }
                w.WriteEndArray();
            }
            w.WritePropertyName("messages");
            w.WriteStartArray();
            var lastUser = -1;
            for (var i = Messages.Count - 1; i >= 0; i--)
            {
                if ((string?)Messages[i]["role"] == "user")
                {
                    lastUser = i;
                    break;
                }
            }
            for (var i = 0; i < Messages.Count; i++)
            {
                if (i == lastUser)
                    WriteWithLastBlockCached(w, Messages[i]);
                else
                    Messages[i].WriteTo(w);
            }
            w.WriteEndArray();
            if (ToolsJson is { Length: > 2 })
            {
                w.WritePropertyName("tools");
                w.WriteRawValue(ToolsJson, skipInputValidation: true);
            }
            else if (Tools is { Count: > 0 })
            {
                w.WritePropertyName("tools");
                Tools.WriteTo(w);
            }
            w.WriteEndObject();
        }
        return buffer.WrittenSpan.ToArray();
    }

    private static void WriteNode(Utf8JsonWriter w, JsonNode? node)
    {
        if (node is null)
            w.WriteNullValue();
        else
            node.WriteTo(w);
    }

    private static void WriteCacheControl(Utf8JsonWriter w)
    {
        w.WriteStartObject();
        w.WriteString("type", "ephemeral");
        w.WriteEndObject();
    }

    /// <summary>
    /// Writes <paramref name="block"/> as if <c>block["cache_control"] = {"type":"ephemeral"}</c> had been set on a copy:
    /// an existing cache_control is replaced where it stands, otherwise it is added last. No clone, no mutation.
    /// </summary>
    private static void WriteWithCacheControl(Utf8JsonWriter w, JsonObject block)
    {
        w.WriteStartObject();
        var replaced = false;
        foreach (var (name, value) in block)
        {
            w.WritePropertyName(name);
            if (name == "cache_control")
            {
                WriteCacheControl(w);
                replaced = true;
            }
            else
            {
                WriteNode(w, value);
            }
        }
        if (!replaced)
        {
            w.WritePropertyName("cache_control");
            WriteCacheControl(w);
        }
        w.WriteEndObject();
    }

    private static void WriteWithLastBlockCached(Utf8JsonWriter w, JsonObject message)
    {
        w.WriteStartObject();
        foreach (var (name, value) in message)
        {
            w.WritePropertyName(name);
            if (name != "content")
            {
                WriteNode(w, value);
            }
            else if (value is JsonValue v && v.TryGetValue<string>(out var text))
            {
                w.WriteStartArray();
                w.WriteStartObject();
                w.WriteString("type", "text");
                w.WriteString("text", text);
                w.WritePropertyName("cache_control");
                WriteCacheControl(w);
                w.WriteEndObject();
                w.WriteEndArray();
            }
            else if (value is JsonArray { Count: > 0 } blocks && blocks[^1] is JsonObject)
            {
                w.WriteStartArray();
                for (var i = 0; i < blocks.Count; i++)
                {
                    if (i == blocks.Count - 1)
                        WriteWithCacheControl(w, (JsonObject)blocks[i]!);
                    else
                        WriteNode(w, blocks[i]);
                }
                w.WriteEndArray();
            }
            else
            {
                WriteNode(w, value);
            }
        }
        w.WriteEndObject();
    }
}

/// <summary>An assembled model reply.</summary>
public sealed record ModelResponse(
    string Id,
    string Model,
    JsonArray Content,
    string? StopReason,
    string? StopSequence,
    Usage Usage,
    Usage StartUsage,
    string? RequestId,
    TimeSpan Duration,
    TimeSpan? TimeToFirstToken);

/// <summary>A retry the client is about to make; surfaces as <c>system/api_retry</c>.</summary>
/// <param name="RetryAfter">The server's <c>retry-after</c>, when it sent one (the fan-out pauses the fleet on it).</param>
public sealed record ApiRetryInfo(int Attempt, int MaxRetries, TimeSpan Delay, int? ErrorStatus, string Error, TimeSpan? RetryAfter = null);

/// <summary>Receives what a streaming call yields while it runs.</summary>
public interface IModelStreamObserver
{
    /// <summary>A raw SSE event's data, verbatim (forwarded as <c>stream_event</c>).</summary>
    void OnStreamEvent(string rawJson);

    /// <summary>A complete content block, delivered before its <c>content_block_stop</c> event.</summary>
    void OnContentBlock(string messageId, string model, Usage startUsage, JsonObject block);

    void OnRetry(ApiRetryInfo retry);
}

/// <summary>The one seam to the model. Implementations retry transient failures themselves.</summary>
public interface IModelClient
{
    Task<ModelResponse> CreateMessageAsync(ModelRequest request, IModelStreamObserver observer, CancellationToken cancellationToken = default);
}
