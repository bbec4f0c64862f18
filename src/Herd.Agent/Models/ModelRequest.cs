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
    /// <summary>
    /// When set, an overloaded model (529) is given up after this many attempts so the caller can switch to its
    /// fallback model instead of retrying the same one.
    /// </summary>
    public int? OverloadAttemptsBeforeFallback { get; init; }

    /// <summary>
    /// The request body. Prompt-cache breakpoints go where Claude Code puts them (spec §1): on the last system block,
    /// so the tools + system prefix is cached, and on the last block of the last user message, so each turn reads
    /// the previous turn's cache. The stored history is never modified.
    /// </summary>
    public byte[] ToJsonBytes()
    {
        var buffer = new ArrayBufferWriter<byte>(4096);
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
                        WithCacheControl(last).WriteTo(w);
                    else
                        System[i]!.WriteTo(w);
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
                    WithLastBlockCached(Messages[i]).WriteTo(w);
                else
                    Messages[i].WriteTo(w);
            }
            w.WriteEndArray();
            if (Tools is { Count: > 0 })
            {
                w.WritePropertyName("tools");
                Tools.WriteTo(w);
            }
            w.WriteEndObject();
        }
        return buffer.WrittenSpan.ToArray();
    }

    private static JsonObject WithCacheControl(JsonObject block)
    {
        var copy = (JsonObject)block.DeepClone();
        copy["cache_control"] = new JsonObject { ["type"] = "ephemeral" };
        return copy;
    }

    private static JsonObject WithLastBlockCached(JsonObject message)
    {
        var copy = (JsonObject)message.DeepClone();
        var content = copy["content"];
        if (content is JsonValue v && v.TryGetValue<string>(out var text))
        {
            copy["content"] = new JsonArray(new JsonObject
            {
                ["type"] = "text",
                ["text"] = text,
                ["cache_control"] = new JsonObject { ["type"] = "ephemeral" },
            });
        }
        else if (content is JsonArray { Count: > 0 } blocks && blocks[^1] is JsonObject lastBlock)
        {
            lastBlock["cache_control"] = new JsonObject { ["type"] = "ephemeral" };
        }
        return copy;
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
