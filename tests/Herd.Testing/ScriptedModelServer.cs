using System.Collections.Concurrent;
using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace Herd.Testing;

/// <summary>A request the server received, for assertions.</summary>
public sealed record RecordedRequest(string Path, IReadOnlyDictionary<string, string> Headers, string Body)
{
    public JsonObject Json => (JsonObject)JsonNode.Parse(Body)!;
}

/// <summary>
/// What the server answered one request with, for accounting checks: the reply it chose, the model and usage it
/// reported, the request's <c>max_tokens</c>, and whether the stream reached <c>message_stop</c> (only then can a
/// client have the whole reply, and only then does it cost anything in Herd's accounting).
/// </summary>
/// <param name="Batch">Answered inside a Message Batch (billed at half price), not as a live call.</param>
public sealed record ServedReply(RecordedRequest Request, Reply Reply, string Model, ScriptedUsage Usage, int? MaxTokens, bool Completed, bool Batch = false);

/// <summary>
/// The one test double for the model: a Messages API server on 127.0.0.1 that streams scripted replies as SSE, with
/// latency and faults (429/529/5xx with retry-after, mid-stream errors, dropped and truncated streams, stalls).
/// </summary>
public sealed partial class ScriptedModelServer : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly ConcurrentQueue<Reply> _queue = new();
    private readonly ConcurrentQueue<RecordedRequest> _requests = new();
    private readonly ConcurrentQueue<ServedReply> _served = new();
    private readonly Queue<DateTime> _admitted = new();
    private readonly Lock _gate = new();
    private Random _faults = new(1);
    private ModelScript _script;
    private long _messageCounter;

    private ScriptedModelServer(WebApplication app, ModelScript script)
    {
        _app = app;
        _script = script;
        Reset(script);
    }

    public Uri BaseUrl { get; private set; } = null!;

    /// <summary>When set, each request is appended to it as one JSON line (path, headers, body): how the executable shows what a client such as the real <c>claude</c> sent.</summary>
    public TextWriter? RequestLog { get; set; }

    /// <summary>
    /// When set, each answer the server completed (what a provider bills) is appended as one JSON line: whether it was
    /// answered in a Message Batch, the model, and its usage. How a benchmark prices a run by the server's own count.
    /// </summary>
    public TextWriter? UsageLog { get; set; }

    public IReadOnlyList<RecordedRequest> Requests => _requests.ToArray();

    public int RequestCount => _requests.Count;

    /// <summary>Every answer given, in the order answers ended (HTTP errors included, as not completed).</summary>
    public IReadOnlyList<ServedReply> Served => _served.ToArray();

    /// <summary>Replaces the script (and its queue and fault seed).</summary>
    public void Reset(ModelScript script)
    {
        lock (_gate)
        {
            _script = script;
            _queue.Clear();
            foreach (var r in script.Queue ?? [])
                _queue.Enqueue(r);
            _faults = new Random(script.Faults?.Seed ?? 1);
            _admitted.Clear();
        }
    }

    /// <value>
    /// Whether <see cref="Requests"/> and <see cref="Served"/> keep every call (default). The server process turns it
    /// off: it serves benchmarks of a million calls, where the history grew to gigabytes and its collections slowed the
    /// very runs being measured; nothing reads a process's history in memory (<c>--requests</c> writes it to a file).
    /// </value>
    public bool KeepHistory { get; set; } = true;

    private void Remember(RecordedRequest request)
    {
        if (KeepHistory)
            _requests.Enqueue(request);
    }

    /// <summary>Reads a request's body and records the request (path, headers, body), whichever protocol it speaks.</summary>
    private async Task<RecordedRequest> RecordAsync(HttpContext context)
    {
        string body;
        using (var reader = new StreamReader(context.Request.Body, Encoding.UTF8))
            body = await reader.ReadToEndAsync(context.RequestAborted).ConfigureAwait(false);
        var headers = context.Request.Headers.ToDictionary(h => h.Key.ToLowerInvariant(), h => h.Value.ToString());
        var recorded = new RecordedRequest(context.Request.Path, headers, body);
        Remember(recorded);
        return recorded;
    }

    private void Remember(ServedReply served)
    {
        if (KeepHistory)
            _served.Enqueue(served);
        if (UsageLog is { } log && served.Completed)
        {
            var u = served.Usage;
            var line = new JsonObject
            {
                ["batch"] = served.Batch, ["model"] = served.Model, ["input_tokens"] = u.Input, ["output_tokens"] = u.Output,
                ["cache_read_input_tokens"] = u.CacheRead, ["cache_creation_input_tokens"] = u.CacheCreation, ["request_bytes"] = Encoding.UTF8.GetByteCount(served.Request.Body),
            };
            lock (log)
            {
                log.WriteLine(line.ToJsonString());
                log.Flush();
            }
        }
    }

    public void Enqueue(params Reply[] replies)
    {
        foreach (var r in replies)
            _queue.Enqueue(r);
    }

    public static async Task<ScriptedModelServer> StartAsync(ModelScript? script = null, int port = 0, CancellationToken cancellationToken = default)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseKestrel(o =>
        {
            o.Listen(IPAddress.Loopback, port);
            o.Limits.MaxRequestBodySize = 64 * 1024 * 1024;
            o.Limits.MinRequestBodyDataRate = null;
            o.Limits.MinResponseDataRate = null;
        });
        var app = builder.Build();
        var server = new ScriptedModelServer(app, script ?? new ModelScript());
        app.MapPost("/v1/messages", server.HandleAsync);
        // The second protocol: OpenAI's Responses API, for the codex CLI (ScriptedModelServer.Responses.cs).
        app.MapPost("/v1/responses", server.HandleResponsesAsync);
        // The third: the Gemini API, for the gemini CLI (ScriptedModelServer.Gemini.cs).
        app.MapPost("/v1beta/models/{target}", server.HandleGeminiAsync);
        // The fourth: OpenAI Chat Completions, for herd --provider openai (ScriptedModelServer.OpenAi.cs).
        app.MapPost("/v1/chat/completions", server.HandleChatCompletionsAsync);
        // Message Batches (ScriptedModelServer.Batches.cs).
        server.MapBatches(app);
        await app.StartAsync(cancellationToken).ConfigureAwait(false);
        var address = app.Urls.First();
        server.BaseUrl = new Uri(address.Replace("[::]", "127.0.0.1", StringComparison.Ordinal));
        return server;
    }

    /// <summary>Completes when the host stops: SIGTERM or Ctrl-C (the host handles both signals itself).</summary>
    public Task WaitForShutdownAsync(CancellationToken cancellationToken = default) => Microsoft.Extensions.Hosting.HostingAbstractionsHostExtensions.WaitForShutdownAsync(_app, cancellationToken);

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync().ConfigureAwait(false);
        await _app.DisposeAsync().ConfigureAwait(false);
    }

    private async Task HandleAsync(HttpContext context)
    {
        var recorded = await RecordAsync(context).ConfigureAwait(false);
        var body = recorded.Body;
        if (RequestLog is { } log)
        {
            var line = new JsonObject { ["path"] = recorded.Path, ["headers"] = new JsonObject(recorded.Headers.Select(h => KeyValuePair.Create(h.Key, (JsonNode?)h.Value))), ["body"] = TryParse(body) };
            lock (log)
            {
                log.WriteLine(line.ToJsonString());
                log.Flush();
            }
        }

        JsonObject request;
        try
        {
            request = (JsonObject)JsonNode.Parse(body)!;
        }
        catch (JsonException)
        {
            await WriteErrorAsync(context, 400, "invalid_request_error", "Body is not JSON", null, null).ConfigureAwait(false);
            return;
        }

        ModelScript script;
        lock (_gate)
            script = _script;
        var reply = script.FailingModels is { } failing && (string?)request["model"] is { } requested && failing.TryGetValue(requested, out var failStatus)
            ? Reply.Error(failStatus, retryAfter: 0)
            : Choose(request, script);
        var latency = script.LatencyMs + (reply.LatencyMs ?? 0);
        if (latency > 0)
            await Task.Delay(latency, context.RequestAborted).ConfigureAwait(false);

        var requestedModel = (string?)request["model"] ?? "claude-sonnet-4-5";
        var maxTokens = request["max_tokens"] is JsonValue mt && mt.TryGetValue<int>(out var m) ? m : (int?)null;
        if (AdmissionRetryAfter(script) is { } wait)
        {
            Remember(new ServedReply(recorded, Reply.Error(429, wait), requestedModel, new ScriptedUsage(0, 0), maxTokens, false));
            await WriteErrorAsync(context, 429, "rate_limit_error", "Number of requests has exceeded your per-minute rate limit", wait, null).ConfigureAwait(false);
            return;
        }
        if (reply.Status is { } status)
        {
            var type = reply.ErrorType ?? status switch
            {
                429 => "rate_limit_error",
                529 => "overloaded_error",
                401 => "authentication_error",
                404 => "not_found_error",
                400 => "invalid_request_error",
                _ => "api_error",
            };
            Remember(new ServedReply(recorded, reply, requestedModel, new ScriptedUsage(0, 0), maxTokens, false));
            await WriteErrorAsync(context, status, type, reply.ErrorMessage ?? type, reply.RetryAfter, reply.Headers).ConfigureAwait(false);
            return;
        }
        if (await TryServeRawBodyAsync(context, new ServedReply(recorded, reply, requestedModel, new ScriptedUsage(0, 0), maxTokens, false)).ConfigureAwait(false))
            return;
        var completed = false;
        try
        {
            completed = await StreamAsync(context, request, reply).ConfigureAwait(false);
        }
        finally
        {
            Remember(new ServedReply(recorded, reply, reply.Model ?? requestedModel, reply.Usage ?? new ScriptedUsage(), maxTokens, completed));
        }
    }

    private static JsonNode? TryParse(string body)
    {
        try
        {
            return JsonNode.Parse(body);
        }
        catch (JsonException)
        {
            return body;
        }
    }

    private Reply Choose(JsonObject request, ModelScript script)
    {
        var messages = request["messages"] as JsonArray ?? [];
        return Choose(messages.Count(m => (string?)m?["role"] == "assistant"), FirstUserText(messages), script);
    }

    /// <summary>The reply for a request of either protocol: its turn index and its user text decide.</summary>
    private Reply Choose(int turn, string firstUser, ModelScript script)
    {
        if (script.Faults is { } faults && DrawFault(faults) is { } fault)
            return fault;
        if (_queue.TryDequeue(out var queued))
            return queued;
        foreach (var conversation in script.Conversations ?? [])
        {
            if (conversation.Match is null || firstUser.Contains(conversation.Match, StringComparison.Ordinal))
                return turn < conversation.Turns.Count ? conversation.Turns[turn] : conversation.Turns[^1] with { ToolCalls = null };
        }
        return script.Default ?? Reply.WithText("Done.");
    }

    private Reply? DrawFault(FaultPlan plan)
    {
        double roll;
        lock (_gate)
            roll = _faults.NextDouble();
        var edge = 0.0;
        if (roll < (edge += plan.Rate429))
            return Reply.Error(429, plan.RetryAfter);
        if (roll < (edge += plan.Rate529))
            return Reply.Error(529, plan.RetryAfter);
        if (roll < (edge += plan.Rate500))
            return Reply.Error(500);
        if (roll < (edge += plan.RateDrop))
            return new Reply { Text = "this reply is cut off by a dropped connection", DropAfterEvents = 3 };
        if (roll < (edge += plan.RateTruncate))
            return new Reply { Text = "this reply is truncated", Truncate = true };
        if (roll < edge + plan.RateStreamError)
            return new Reply { StreamError = "overloaded_error" };
        return null;
    }

    private double? AdmissionRetryAfter(ModelScript script)
    {
        if (script.RequestsPerMinute is not { } limit)
            return null;
        var now = DateTime.UtcNow;
        lock (_gate)
        {
            while (_admitted.Count > 0 && now - _admitted.Peek() >= TimeSpan.FromMinutes(1))
                _admitted.Dequeue();
            if (_admitted.Count < limit)
            {
                _admitted.Enqueue(now);
                return null;
            }
            return Math.Max(1, Math.Ceiling((_admitted.Peek().AddMinutes(1) - now).TotalSeconds));
        }
    }

    private static string FirstUserText(JsonArray messages)
    {
        var first = messages.FirstOrDefault(m => (string?)m?["role"] == "user");
        return first?["content"] switch
        {
            JsonValue v when v.TryGetValue<string>(out var s) => s,
            JsonArray blocks => string.Concat(blocks.OfType<JsonObject>().Where(b => (string?)b["type"] == "text").Select(b => (string?)b["text"])),
            _ => "",
        };
    }

    private static async Task WriteErrorAsync(HttpContext context, int status, string type, string message, double? retryAfter, IReadOnlyDictionary<string, string>? headers)
    {
        context.Response.StatusCode = status;
        context.Response.ContentType = "application/json";
        if (retryAfter is { } ra)
            context.Response.Headers["retry-after"] = ra.ToString(System.Globalization.CultureInfo.InvariantCulture);
        foreach (var (k, v) in headers ?? new Dictionary<string, string>())
            context.Response.Headers[k] = v;
        var body = new JsonObject { ["type"] = "error", ["error"] = new JsonObject { ["type"] = type, ["message"] = message } };
        await context.Response.WriteAsync(body.ToJsonString(), context.RequestAborted).ConfigureAwait(false);
    }

    /// <summary>Starts a 200 server-sent-event response with a fresh request id under <paramref name="requestIdHeader"/> and the reply's extra headers.</summary>
    private HttpResponse BeginEventStream(HttpContext context, Reply reply, string requestIdHeader)
    {
        var response = context.Response;
        response.StatusCode = 200;
        response.ContentType = "text/event-stream";
        response.Headers.CacheControl = "no-cache";
        response.Headers[requestIdHeader] = "req_" + Interlocked.Increment(ref _messageCounter).ToString("x8", System.Globalization.CultureInfo.InvariantCulture);
        foreach (var (k, v) in reply.Headers ?? new Dictionary<string, string>())
            response.Headers[k] = v;
        return response;
    }

    /// <summary>Answers with the reply's <see cref="Reply.RawBody"/> as it is, when it has one, and records it as served with no usage.</summary>
    /// <returns>Whether the reply was a raw body (and so has been answered).</returns>
    private async Task<bool> TryServeRawBodyAsync(HttpContext context, ServedReply served)
    {
        if (served.Reply.RawBody is not { } raw)
            return false;
        context.Response.StatusCode = 200;
        context.Response.ContentType = served.Reply.ContentType ?? "text/event-stream";
        Remember(served);
        await context.Response.WriteAsync(raw, context.RequestAborted).ConfigureAwait(false);
        return true;
    }

    /// <returns>Whether the stream reached message_stop.</returns>
    private async Task<bool> StreamAsync(HttpContext context, JsonObject request, Reply reply)
    {
        var response = BeginEventStream(context, reply, "request-id");

        var messages = request["messages"] as JsonArray ?? [];
        var turn = messages.Count(m => (string?)m?["role"] == "assistant");
        var model = reply.Model ?? (string?)request["model"] ?? "claude-sonnet-4-5";
        var usage = reply.Usage ?? new ScriptedUsage();
        var id = $"msg_{Interlocked.Increment(ref _messageCounter):x12}";
        var sent = 0;
        var ct = context.RequestAborted;

        async Task<bool> Send(string type, JsonObject data)
        {
            if (reply.DropAfterEvents is { } drop && sent >= drop)
            {
                context.Abort();
                return false;
            }
            await response.WriteAsync($"event: {type}\ndata: {data.ToJsonString()}\n\n", ct).ConfigureAwait(false);
            await response.Body.FlushAsync(ct).ConfigureAwait(false);
            sent++;
            return true;
        }

        var startUsage = new JsonObject
        {
            ["input_tokens"] = usage.Input,
            ["cache_creation_input_tokens"] = usage.CacheCreation,
            ["cache_read_input_tokens"] = usage.CacheRead,
            ["cache_creation"] = new JsonObject
            {
                ["ephemeral_5m_input_tokens"] = usage.CacheCreation - usage.CacheCreation1h,
                ["ephemeral_1h_input_tokens"] = usage.CacheCreation1h,
            },
            ["output_tokens"] = 1,
            ["service_tier"] = "standard",
        };
        if (!await Send("message_start", new JsonObject
        {
            ["type"] = "message_start",
            ["message"] = new JsonObject
            {
                ["id"] = id, ["type"] = "message", ["role"] = "assistant", ["model"] = model, ["content"] = new JsonArray(),
                ["stop_reason"] = null, ["stop_sequence"] = null, ["usage"] = startUsage,
            },
        }).ConfigureAwait(false))
            return false;
        if (reply.StallMs is { } stall)
            await Task.Delay(stall, ct).ConfigureAwait(false);
        if (reply.StreamError is { } streamError)
        {
            await Send("error", new JsonObject { ["type"] = "error", ["error"] = new JsonObject { ["type"] = streamError, ["message"] = streamError } }).ConfigureAwait(false);
            return false;
        }
        if (!await Send("ping", new JsonObject { ["type"] = "ping" }).ConfigureAwait(false))
            return false;

        var index = 0;
        var text = reply.Text?.Replace("{prompt}", Shorten(FirstUserText(messages), 200), StringComparison.Ordinal)
            .Replace("{turn}", turn.ToString(System.Globalization.CultureInfo.InvariantCulture), StringComparison.Ordinal);
        if (!string.IsNullOrEmpty(text))
        {
            if (!await Send("content_block_start", new JsonObject { ["type"] = "content_block_start", ["index"] = index, ["content_block"] = new JsonObject { ["type"] = "text", ["text"] = "" } }).ConfigureAwait(false))
                return false;
            foreach (var chunk in Chunks(text, 24))
            {
                if (!await Send("content_block_delta", new JsonObject { ["type"] = "content_block_delta", ["index"] = index, ["delta"] = new JsonObject { ["type"] = "text_delta", ["text"] = chunk } }).ConfigureAwait(false))
                    return false;
            }
            if (reply.Truncate)
                return false;
            if (!await Send("content_block_stop", new JsonObject { ["type"] = "content_block_stop", ["index"] = index }).ConfigureAwait(false))
                return false;
            index++;
        }
        var toolNumber = 0;
        foreach (var call in reply.ToolCalls ?? [])
        {
            var toolId = call.Id ?? $"toolu_{id[4..]}_{toolNumber++}";
            if (!await Send("content_block_start", new JsonObject
            {
                ["type"] = "content_block_start", ["index"] = index,
                ["content_block"] = new JsonObject { ["type"] = "tool_use", ["id"] = toolId, ["name"] = call.Name, ["input"] = new JsonObject() },
            }).ConfigureAwait(false))
                return false;
            foreach (var chunk in Chunks(call.Input.ToJsonString(), 16))
            {
                if (!await Send("content_block_delta", new JsonObject { ["type"] = "content_block_delta", ["index"] = index, ["delta"] = new JsonObject { ["type"] = "input_json_delta", ["partial_json"] = chunk } }).ConfigureAwait(false))
                    return false;
            }
            if (!await Send("content_block_stop", new JsonObject { ["type"] = "content_block_stop", ["index"] = index }).ConfigureAwait(false))
                return false;
            index++;
        }
        if (reply.Truncate)
            return false;
        var stopReason = reply.StopReason ?? (reply.ToolCalls is { Count: > 0 } ? "tool_use" : "end_turn");
        if (!await Send("message_delta", new JsonObject
        {
            ["type"] = "message_delta",
            ["delta"] = new JsonObject { ["stop_reason"] = stopReason, ["stop_sequence"] = null },
            ["usage"] = new JsonObject { ["output_tokens"] = usage.Output },
        }).ConfigureAwait(false))
            return false;
        return await Send("message_stop", new JsonObject { ["type"] = "message_stop" }).ConfigureAwait(false);
    }

    private static string Shorten(string s, int max) => s.Length <= max ? s : s[..max];

    private static IEnumerable<string> Chunks(string s, int size)
    {
        for (var i = 0; i < s.Length; i += size)
            yield return s.Substring(i, Math.Min(size, s.Length - i));
    }
}
