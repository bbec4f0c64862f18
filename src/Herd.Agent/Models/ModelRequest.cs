using System.Text.Json.Nodes;
using Herd.Agent.Chat;

namespace Herd.Agent.Models;

/// <summary>One model call, in no provider's terms: each <see cref="IModelClient"/> writes its own wire body from it.</summary>
/// <remarks>
/// A request is a snapshot of the conversation at the time it is sent; the caller must not change
/// <see cref="Messages"/> between building the request and its last use (the client may keep the body it wrote).
/// </remarks>
public sealed record ModelRequest(
    string Model,
    int MaxTokens,
    string? System,
    IReadOnlyList<ChatMessage> Messages,
    ToolSet Tools)
{
    /// <summary>A copy (<c>with</c>) starts without the original's written body: its fields may differ.</summary>
    private ModelRequest(ModelRequest original)
    {
        Model = original.Model;
        MaxTokens = original.MaxTokens;
        System = original.System;
        Messages = original.Messages;
        Tools = original.Tools;
        OverloadAttemptsBeforeFallback = original.OverloadAttemptsBeforeFallback;
    }

    /// <summary>
    /// When set, an overloaded model (529, or 503 from an OpenAI-compatible server) is given up after this many
    /// attempts so the caller can switch to its fallback model instead of retrying the same one.
    /// </summary>
    public int? OverloadAttemptsBeforeFallback { get; init; }

    /// <summary>
    /// The wire body the client wrote for this request, kept so retries resend it and the session can measure it
    /// without writing it twice. Set by the client that sends the request; no part of equality.
    /// </summary>
    internal byte[]? WireBody { get; set; }

    /// <summary>Value equality over the request's fields; the written body is a cache and takes no part.</summary>
    public bool Equals(ModelRequest? other) =>
        other is not null && Model == other.Model && MaxTokens == other.MaxTokens && System == other.System
        && Messages.SequenceEqual(other.Messages) && ReferenceEquals(Tools, other.Tools)
        && OverloadAttemptsBeforeFallback == other.OverloadAttemptsBeforeFallback;

    public override int GetHashCode() => HashCode.Combine(Model, MaxTokens, System, Messages.Count, Tools, OverloadAttemptsBeforeFallback);
}

/// <summary>An assembled model reply.</summary>
public sealed record ModelResponse(
    string Id,
    string Model,
    IReadOnlyList<ContentBlock> Content,
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
/// <remarks>
/// What it receives is in Claude Code's terms whatever the provider: stream-json output must read the same. The
/// Anthropic client hands on the API's raw events verbatim; other clients translate theirs into the same shapes.
/// </remarks>
public interface IModelStreamObserver
{
    /// <summary>A Messages API stream event's data (forwarded as <c>stream_event</c>).</summary>
    void OnStreamEvent(string rawJson);

    /// <summary>A complete content block in Messages API form, delivered before its <c>content_block_stop</c> event.</summary>
    void OnContentBlock(string messageId, string model, Usage startUsage, JsonObject block);

    void OnRetry(ApiRetryInfo retry);
}

/// <summary>The one seam to the model. Implementations retry transient failures themselves.</summary>
public interface IModelClient
{
    Task<ModelResponse> CreateMessageAsync(ModelRequest request, IModelStreamObserver observer, CancellationToken cancellationToken = default);

    /// <summary>
    /// The request's wire body length in bytes (written once and kept on the request): the session bounds a call's
    /// input tokens by it, since a token is never shorter than a byte of request text.
    /// </summary>
    int MeasureRequest(ModelRequest request);
}
