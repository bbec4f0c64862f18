using System.Text.Json.Nodes;
using System.Text.Json.Serialization;

namespace Herd.Testing;

/// <summary>A tool call the scripted model makes.</summary>
public sealed record ScriptedToolCall(string Name, JsonObject Input, string? Id = null);

/// <summary>Token counts the scripted model reports for a reply.</summary>
public sealed record ScriptedUsage(long Input = 100, long Output = 20, long CacheRead = 0, long CacheCreation = 0, long CacheCreation1h = 0);

/// <summary>
/// One scripted reply: what the model says (text, tool calls) or how the call fails (an HTTP status, a mid-stream
/// error event, a dropped connection, a truncated stream, a stall).
/// </summary>
public sealed record Reply
{
    /// <value>Text of the reply. <c>{prompt}</c> becomes the first 200 characters of the first user message, <c>{turn}</c> the turn index.</value>
    public string? Text { get; init; }
    public IReadOnlyList<ScriptedToolCall>? ToolCalls { get; init; }
    public string? StopReason { get; init; }
    public ScriptedUsage? Usage { get; init; }
    public string? Model { get; init; }

    /// <value>Answer with this HTTP status and an error body instead of a stream.</value>
    public int? Status { get; init; }
    public string? ErrorType { get; init; }
    public string? ErrorMessage { get; init; }
    public double? RetryAfter { get; init; }
    public IReadOnlyDictionary<string, string>? Headers { get; init; }

    /// <value>After message_start, send <c>event: error</c> with this error type (e.g. overloaded_error).</value>
    public string? StreamError { get; init; }

    /// <value>Abort the connection after this many SSE events.</value>
    public int? DropAfterEvents { get; init; }

    /// <value>End the stream cleanly but before message_stop.</value>
    public bool Truncate { get; init; }

    /// <value>Stall this long after message_start (to trip idle timeouts).</value>
    public int? StallMs { get; init; }

    /// <value>
    /// Answer 200 with exactly this body and <see cref="ContentType"/> instead of a scripted stream: an HTML page from
    /// a proxy, a non-streaming JSON message, or hand-made SSE with malformed events.
    /// </value>
    public string? RawBody { get; init; }

    /// <value>The content type of <see cref="RawBody"/>; default <c>text/event-stream</c>.</value>
    public string? ContentType { get; init; }

    /// <value>In a Message Batch: the request expires (its result is <c>expired</c>) instead of being answered.</value>
    public bool Expired { get; init; }

    /// <value>Wait this long before answering (adds to the script's latency).</value>
    public int? LatencyMs { get; init; }

    public static Reply WithText(string text, ScriptedUsage? usage = null) => new() { Text = text, Usage = usage };

    public static Reply WithTool(string name, JsonObject input, string? text = null) =>
        new() { Text = text, ToolCalls = [new ScriptedToolCall(name, input)] };

    public static Reply Error(int status, double? retryAfter = null, string? errorType = null) =>
        new() { Status = status, RetryAfter = retryAfter, ErrorType = errorType };
}

/// <summary>A conversation script: the reply for each turn of conversations whose first user message contains <see cref="Match"/>.</summary>
public sealed record Conversation(string? Match, IReadOnlyList<Reply> Turns);

/// <summary>Random faults drawn from a seed, for soak tests and the reliability suite.</summary>
public sealed record FaultPlan
{
    public int Seed { get; init; } = 1;
    public double Rate429 { get; init; }
    public double Rate529 { get; init; }
    public double Rate500 { get; init; }
    public double RateDrop { get; init; }
    public double RateTruncate { get; init; }
    public double RateStreamError { get; init; }
    public double RetryAfter { get; init; }
}

/// <summary>
/// What the scripted server answers. Queue replies are consumed first, in order, by any request. Then the first
/// conversation whose <c>Match</c> the first user message contains answers with its turn (the number of assistant
/// messages in the request, so concurrent conversations never disturb each other). Otherwise <see cref="Default"/>.
/// </summary>
public sealed record ModelScript
{
    public int LatencyMs { get; init; }
    public IReadOnlyList<Reply>? Queue { get; init; }
    public IReadOnlyList<Conversation>? Conversations { get; init; }
    public Reply? Default { get; init; }
    public FaultPlan? Faults { get; init; }

    /// <value>Requests for these models always fail with this status (529 overloaded, 404 not found), to exercise fallbacks.</value>
    public IReadOnlyDictionary<string, int>? FailingModels { get; init; }

    /// <value>How long a Message Batch stays <c>in_progress</c> after it is created. Default 0: it has ended when next asked.</value>
    public int BatchProcessingMs { get; init; }

    /// <value>The first this many retrievals of a Message Batch (<c>GET /v1/messages/batches/{id}</c>, across batches) answer 500, as a flaky network would. Default 0.</value>
    public int BatchPollFailures { get; init; }

    /// <value>Admit at most this many requests per rolling minute; beyond it answer 429 with retry-after.</value>
    public int? RequestsPerMinute { get; init; }

    public static ModelScript Replies(params Reply[] replies) => new() { Queue = replies };
}

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower, AllowTrailingCommas = true,
    ReadCommentHandling = System.Text.Json.JsonCommentHandling.Skip, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(ModelScript))]
public sealed partial class ScriptJsonContext : JsonSerializerContext;
