using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Net.ServerSentEvents;
using System.Text.Json;
using System.Text.Json.Nodes;
using Polly;
using Polly.Retry;

namespace Herd.Agent.Models;

/// <summary>Connection and retry settings of <see cref="AnthropicMessagesClient"/>.</summary>
public sealed record AnthropicClientOptions
{
    /// <value>Default <c>https://api.anthropic.com</c>; <c>ANTHROPIC_BASE_URL</c> overrides it.</value>
    public Uri BaseUrl { get; init; } = new("https://api.anthropic.com");

    public required string ApiKey { get; init; }

    /// <value>Retries after the first attempt. Default 10, as Claude Code (<c>HERD_MAX_RETRIES</c>).</value>
    public int MaxRetries { get; init; } = 10;

    /// <value>Backoff base: attempt n waits rand(0, min(cap, base·2^n)). Default 1 s (<c>HERD_RETRY_BASE_MS</c>).</value>
    public TimeSpan RetryBaseDelay { get; init; } = TimeSpan.FromSeconds(1);

    /// <value>Backoff cap. Default 60 s.</value>
    public TimeSpan RetryMaxDelay { get; init; } = TimeSpan.FromSeconds(60);

    /// <value>A stream silent this long is aborted and retried. Default 120 s (<c>HERD_STREAM_IDLE_TIMEOUT</c>).</value>
    public TimeSpan StreamIdleTimeout { get; init; } = TimeSpan.FromSeconds(120);

    /// <value>The clock of backoff waits, <c>retry-after</c> dates and stream idle timeouts; tests pass a fake one.</value>
    public TimeProvider TimeProvider { get; init; } = TimeProvider.System;

    /// <value>Draws the backoff jitter, a number in [0, 1). Default <see cref="Random.Shared"/>; tests pass a fixed one.</value>
    public Func<double> Jitter { get; init; } = Random.Shared.NextDouble;

    public string UserAgent { get; init; } = "herd/" + typeof(AnthropicMessagesClient).Assembly.GetName().Version?.ToString(3);
}

/// <summary>
/// A thin Messages API client: <c>POST /v1/messages</c> with <c>stream: true</c>, parsed with
/// System.Net.ServerSentEvents. Raw events are handed on verbatim (stream-json must forward them unmodified), so
/// the official SDK's re-typed events would not do; see docs/architecture.md.
/// </summary>
public sealed class AnthropicMessagesClient : IModelClient, IDisposable
{
    private readonly AnthropicClientOptions _options;
    private readonly HttpClient _http;
    private readonly Uri _endpoint;
    private readonly ResiliencePipeline _retry;

    /// <summary>Per-call inputs of the shared retry pipeline (which request, whose observer).</summary>
    private static readonly ResiliencePropertyKey<CallState> CallKey = new("herd.call");

    public AnthropicMessagesClient(AnthropicClientOptions options)
    {
        _options = options;
        var handler = new SocketsHttpHandler
        {
            ConnectTimeout = TimeSpan.FromSeconds(30),
            PooledConnectionLifetime = TimeSpan.FromMinutes(5),
            AutomaticDecompression = DecompressionMethods.None,
            MaxConnectionsPerServer = int.MaxValue,
        };
        _http = new HttpClient(handler) { Timeout = Timeout.InfiniteTimeSpan };
        var baseText = options.BaseUrl.ToString().TrimEnd('/');
        _endpoint = new Uri(baseText + "/v1/messages");
        _retry = BuildRetryPipeline();
    }

    public void Dispose() => _http.Dispose();

    public async Task<ModelResponse> CreateMessageAsync(ModelRequest request, IModelStreamObserver observer, CancellationToken cancellationToken = default)
    {
        var body = request.ToJsonBytes();
        var context = ResilienceContextPool.Shared.Get(cancellationToken);
        try
        {
            var state = new CallState(this, request, observer, body);
            context.Properties.Set(CallKey, state);
            return await _retry.ExecuteAsync(
                static async (ctx, state) => await state.Client.SendOnceAsync(state.Body, state.Observer, ctx.CancellationToken).ConfigureAwait(false),
                context,
                state).ConfigureAwait(false);
        }
        finally
        {
            ResilienceContextPool.Shared.Return(context);
        }
    }

    /// <summary>
    /// Built once per client: building a Polly pipeline (options validation included) per call was per-task CPU in a
    /// fan-out. What differs per call travels in the resilience context (<see cref="CallKey"/>).
    /// </summary>
    private ResiliencePipeline BuildRetryPipeline()
    {
        var maxRetries = _options.MaxRetries;
        if (maxRetries <= 0)
            return ResiliencePipeline.Empty;
        return new ResiliencePipelineBuilder { TimeProvider = _options.TimeProvider }
            .AddRetry(new RetryStrategyOptions
            {
                MaxRetryAttempts = maxRetries,
                ShouldHandle = args => ValueTask.FromResult(args.Outcome.Exception is ModelApiException ex && ex.IsRetryable
                    && !(ex.Kind == ModelErrorKind.Overloaded && Call(args.Context).Request.OverloadAttemptsBeforeFallback is { } n && args.AttemptNumber + 1 >= n)),
                DelayGenerator = args => ValueTask.FromResult<TimeSpan?>(DelayFor(args.Outcome.Exception as ModelApiException, args.AttemptNumber)),
                OnRetry = args =>
                {
                    var ex = (ModelApiException)args.Outcome.Exception!;
                    Call(args.Context).Observer.OnRetry(new ApiRetryInfo(args.AttemptNumber + 1, maxRetries, args.RetryDelay, ex.Status, ex.Category, ex.RetryAfter));
                    return ValueTask.CompletedTask;
                },
            })
            .Build();
    }

    private static CallState Call(ResilienceContext context) => context.Properties.GetValue(CallKey, null!);

    private sealed record CallState(AnthropicMessagesClient Client, ModelRequest Request, IModelStreamObserver Observer, byte[] Body);

    /// <summary>
    /// <c>retry-after</c> when the server sent one; otherwise full jitter, rand(0, min(cap, base·2^n))
    /// (AWS Architecture Blog, "Exponential Backoff and Jitter").
    /// </summary>
    private TimeSpan DelayFor(ModelApiException? ex, int attempt)
    {
        if (ex?.RetryAfter is { } after)
            return after < _options.RetryMaxDelay * 5 ? after : _options.RetryMaxDelay * 5;
        var ceiling = Math.Min(_options.RetryMaxDelay.TotalMilliseconds, _options.RetryBaseDelay.TotalMilliseconds * Math.Pow(2, attempt));
        return TimeSpan.FromMilliseconds(_options.Jitter() * ceiling);
    }

    private async Task<ModelResponse> SendOnceAsync(byte[] body, IModelStreamObserver observer, CancellationToken cancellationToken)
    {
        var started = Stopwatch.GetTimestamp();
        using var message = new HttpRequestMessage(HttpMethod.Post, _endpoint);
        message.Content = new ByteArrayContent(body);
        message.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        message.Headers.TryAddWithoutValidation("x-api-key", _options.ApiKey);
        message.Headers.TryAddWithoutValidation("anthropic-version", "2023-06-01");
        message.Headers.TryAddWithoutValidation("user-agent", _options.UserAgent);
        message.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("text/event-stream"));

        // The idle timer covers the wait for headers too: a server that accepts and never answers is a stall. It runs on
        // the injected clock, so idle-timeout tests advance a fake clock instead of waiting.
        using var idleTimer = new CancellationTokenSource(Timeout.InfiniteTimeSpan, _options.TimeProvider);
        using var idle = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, idleTimer.Token);
        idleTimer.CancelAfter(_options.StreamIdleTimeout);
        HttpResponseMessage response;
        try
        {
            response = await _http.SendAsync(message, HttpCompletionOption.ResponseHeadersRead, idle.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw new ModelApiException(ModelErrorKind.StreamIdle, $"Stream idle for {_options.StreamIdleTimeout.TotalSeconds:0.#} s before response headers");
        }
        catch (HttpRequestException ex)
        {
            throw new ModelApiException(ModelErrorKind.Network, ConnectionErrorText(ex), inner: ex);
        }

        using (response)
        {
            var requestId = response.Headers.TryGetValues("request-id", out var ids) ? ids.FirstOrDefault() : null;
            if (!response.IsSuccessStatusCode)
                throw await ErrorFromResponseAsync(response, cancellationToken).ConfigureAwait(false);
            // A 200 that is not an event stream (a proxy's HTML page, a non-streaming JSON answer) cannot be parsed
            // as SSE; say what came back instead of failing on its first byte. Retrying would get the same page.
            var mediaType = response.Content.Headers.ContentType?.MediaType;
            if (!string.Equals(mediaType, "text/event-stream", StringComparison.OrdinalIgnoreCase))
                throw new ModelApiException(ModelErrorKind.InvalidRequest,
                    $"{_endpoint} answered {(int)response.StatusCode} with content type '{mediaType ?? "none"}', not an event stream (text/event-stream). Check ANTHROPIC_BASE_URL: it must point at a Messages API server.");
            try
            {
                await using var stream = await response.Content.ReadAsStreamAsync(idle.Token).ConfigureAwait(false);
                return await ReadStreamAsync(stream, observer, idleTimer, idle.Token, requestId, started, cancellationToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                throw new ModelApiException(ModelErrorKind.StreamIdle, $"Stream idle for {_options.StreamIdleTimeout.TotalSeconds:0.#} s");
            }
            catch (Exception ex) when (ex is IOException or HttpRequestException)
            {
                throw new ModelApiException(ModelErrorKind.Network, "Connection error (stream interrupted).", inner: ex);
            }
        }
    }

    /// <summary>
    /// A failed connection named with its endpoint and cause (<c>connection refused</c>, a DNS failure…), so a wrong
    /// ANTHROPIC_BASE_URL or a stopped proxy reads as what it is in api_retry events and the final error.
    /// </summary>
    private string ConnectionErrorText(HttpRequestException ex)
    {
        var socket = ex.InnerException as System.Net.Sockets.SocketException;
        var cause = socket?.SocketErrorCode switch
        {
            System.Net.Sockets.SocketError.ConnectionRefused => "connection refused",
            System.Net.Sockets.SocketError.HostNotFound or System.Net.Sockets.SocketError.NoData => "host not found",
            System.Net.Sockets.SocketError.TimedOut => "connection timed out",
            System.Net.Sockets.SocketError.NetworkUnreachable or System.Net.Sockets.SocketError.HostUnreachable => "network unreachable",
            _ => (socket?.Message ?? ex.Message).TrimEnd('.'),
        };
        return $"Connection error: {_endpoint.GetLeftPart(UriPartial.Authority)} ({cause}).";
    }

    private async Task<ModelApiException> ErrorFromResponseAsync(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        var status = (int)response.StatusCode;
        string text;
        try
        {
            text = await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is IOException or HttpRequestException)
        {
            text = "";
        }
        string? errorType = null, errorMessage = null;
        try
        {
            using var doc = JsonDocument.Parse(text);
            if (doc.RootElement.TryGetProperty("error", out var err) && err.ValueKind == JsonValueKind.Object)
            {
                errorType = err.TryGetProperty("type", out var t) ? t.GetString() : null;
                errorMessage = err.TryGetProperty("message", out var m) ? m.GetString() : null;
            }
        }
        catch (Exception ex) when (ex is JsonException or InvalidOperationException)
        {
            // Not JSON, or JSON of another shape: the status alone classifies it.
        }
        var retryAfter = RetryAfterOf(response);
        var kind = ModelApiException.Classify(status, errorType, text);
        // Claude Code prints the API's own message; a body without one (a proxy's HTML page) is named by its type.
        var message = errorMessage
            ?? (text.TrimStart().StartsWith('<') ? $"HTTP {status} ({response.Content.Headers.ContentType?.MediaType ?? "no content type"} body)" : text.Trim() is { Length: > 0 and <= 500 } trimmed ? trimmed : $"HTTP {status}");
        return new ModelApiException(kind, message, status, errorType, text.Trim(), retryAfter);
    }

    /// <summary><c>retry-after</c> in seconds or as an HTTP date (measured on the injected clock); null when absent or past.</summary>
    private TimeSpan? RetryAfterOf(HttpResponseMessage response)
    {
        if (!response.Headers.TryGetValues("retry-after", out var values) || values.FirstOrDefault() is not { } raw)
            return null;
        // Seconds (fractions too: some proxies send them), else an HTTP date.
        if (double.TryParse(raw, NumberStyles.Float, CultureInfo.InvariantCulture, out var seconds))
            return seconds >= 0 && seconds < TimeSpan.MaxValue.TotalSeconds ? TimeSpan.FromSeconds(seconds) : null;
        if (DateTimeOffset.TryParse(raw, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var date))
        {
            var wait = date - _options.TimeProvider.GetUtcNow();
            return wait > TimeSpan.Zero ? wait : TimeSpan.Zero;
        }
        return null;
    }

    private async Task<ModelResponse> ReadStreamAsync(
        Stream stream, IModelStreamObserver observer, CancellationTokenSource idleTimer, CancellationToken idle, string? requestId, long started, CancellationToken cancellationToken)
    {
        var assembler = new MessageAssembler();
        TimeSpan? ttft = null;
        await foreach (var item in SseParser.Create(stream).EnumerateAsync(idle).ConfigureAwait(false))
        {
            idleTimer.CancelAfter(_options.StreamIdleTimeout);
            ttft ??= Stopwatch.GetElapsedTime(started);
            if (item.EventType == "ping" || string.IsNullOrWhiteSpace(item.Data))
                continue;
            JsonDocument doc;
            try
            {
                doc = JsonDocument.Parse(item.Data);
            }
            catch (JsonException ex)
            {
                throw new ModelApiException(ModelErrorKind.Truncated, $"Malformed stream event '{item.EventType}': {Shorten(item.Data, 80)} ({ex.Message})", inner: ex);
            }
            using (doc)
            {
                try
                {
                    if (HandleEvent(doc.RootElement, item, assembler, observer) is { } done)
                        return done.ToResponse(requestId, Stopwatch.GetElapsedTime(started), ttft);
                }
                catch (Exception ex) when (ex is KeyNotFoundException or InvalidOperationException or FormatException or ArgumentException or IndexOutOfRangeException)
                {
                    // Untrusted bytes from the wire: an event of the wrong shape is a broken stream, never a crash.
                    throw new ModelApiException(ModelErrorKind.Truncated, $"Malformed stream event '{item.EventType}': {Shorten(item.Data, 80)}", inner: ex);
                }
            }
        }
        cancellationToken.ThrowIfCancellationRequested();
        throw new ModelApiException(ModelErrorKind.Truncated, "The stream ended before message_stop (truncated response).");
    }

    /// <returns>The assembler when the event was message_stop; otherwise null.</returns>
    private static MessageAssembler? HandleEvent(JsonElement root, SseItem<string> item, MessageAssembler assembler, IModelStreamObserver observer)
    {
        var type = root.TryGetProperty("type", out var t) ? t.GetString() : item.EventType;
        if (type == "error")
        {
            var err = root.TryGetProperty("error", out var e) ? e : default;
            var errorType = err.ValueKind == JsonValueKind.Object && err.TryGetProperty("type", out var et) ? et.GetString() : null;
            var msg = err.ValueKind == JsonValueKind.Object && err.TryGetProperty("message", out var em) ? em.GetString() : null;
            var kind = ModelApiException.ClassifyStreamError(errorType);
            throw new ModelApiException(kind, msg ?? "Stream error", kind == ModelErrorKind.Overloaded ? 529 : null, errorType, item.Data);
        }
        // A finished block is announced before its content_block_stop is forwarded (spec §4.3).
        if (type == "content_block_stop" && assembler.CompleteBlock(root) is { } block)
            observer.OnContentBlock(assembler.Id, assembler.Model, assembler.StartUsage, block);
        observer.OnStreamEvent(item.Data);
        if (type != "content_block_stop")
            assembler.Apply(type, root);
        return type == "message_stop" ? assembler : null;
    }

    private static string Shorten(string s, int max) => s.Length <= max ? s : s[..max] + "…";

    /// <summary>Builds a message from stream events.</summary>
    private sealed class MessageAssembler
    {
        private readonly SortedDictionary<int, JsonObject> _blocks = [];
        private readonly Dictionary<int, System.Text.StringBuilder> _partialJson = [];
        private readonly HashSet<int> _completed = [];
        public string Id { get; private set; } = "";
        public string Model { get; private set; } = "";
        public Usage StartUsage { get; private set; } = Usage.Zero;
        private Usage _usage = Usage.Zero;
        private string? _stopReason;
        private string? _stopSequence;

        public void Apply(string? type, JsonElement e)
        {
            switch (type)
            {
                case "message_start":
                    var m = e.GetProperty("message");
                    Id = m.TryGetProperty("id", out var id) ? id.GetString() ?? "" : "";
                    Model = m.TryGetProperty("model", out var model) ? model.GetString() ?? "" : "";
                    if (m.TryGetProperty("usage", out var u))
                        StartUsage = _usage = Usage.Parse(u);
                    break;
                case "content_block_start":
                    var index = e.GetProperty("index").GetInt32();
                    var block = JsonNode.Parse(e.GetProperty("content_block").GetRawText())!.AsObject();
                    if ((string?)block["type"] == "tool_use")
                        _partialJson[index] = new System.Text.StringBuilder();
                    _blocks[index] = block;
                    break;
                case "content_block_delta":
                    ApplyDelta(e.GetProperty("index").GetInt32(), e.GetProperty("delta"));
                    break;
                case "message_delta":
                    if (e.TryGetProperty("delta", out var d))
                    {
                        if (d.TryGetProperty("stop_reason", out var sr) && sr.ValueKind == JsonValueKind.String)
                            _stopReason = sr.GetString();
                        if (d.TryGetProperty("stop_sequence", out var ss) && ss.ValueKind == JsonValueKind.String)
                            _stopSequence = ss.GetString();
                    }
                    if (e.TryGetProperty("usage", out var du))
                        _usage = Usage.Parse(du, _usage);
                    break;
            }
        }

        private void ApplyDelta(int index, JsonElement delta)
        {
            if (!_blocks.TryGetValue(index, out var block))
                return;
            switch (delta.GetProperty("type").GetString())
            {
                case "text_delta":
                    block["text"] = ((string?)block["text"] ?? "") + delta.GetProperty("text").GetString();
                    break;
                case "input_json_delta":
                    _partialJson[index].Append(delta.GetProperty("partial_json").GetString());
                    break;
                case "thinking_delta":
                    block["thinking"] = ((string?)block["thinking"] ?? "") + delta.GetProperty("thinking").GetString();
                    break;
                case "signature_delta":
                    block["signature"] = ((string?)block["signature"] ?? "") + delta.GetProperty("signature").GetString();
                    break;
            }
        }

        public JsonObject? CompleteBlock(JsonElement e)
        {
            var index = e.GetProperty("index").GetInt32();
            if (!_blocks.TryGetValue(index, out var block) || !_completed.Add(index))
                return null;
            if (_partialJson.TryGetValue(index, out var json))
            {
                var text = json.ToString();
                try
                {
                    block["input"] = string.IsNullOrWhiteSpace(text) ? new JsonObject() : JsonNode.Parse(text);
                }
                catch (JsonException ex)
                {
                    throw new ModelApiException(ModelErrorKind.Truncated, "A tool_use block's input was not valid JSON (truncated stream).", inner: ex);
                }
            }
            return block;
        }

        public ModelResponse ToResponse(string? requestId, TimeSpan duration, TimeSpan? ttft)
        {
            var content = new JsonArray();
            foreach (var (index, block) in _blocks)
            {
                if (!_completed.Contains(index))
                    throw new ModelApiException(ModelErrorKind.Truncated, "The stream ended with an unfinished content block.");
                content.Add(block.DeepClone());
            }
            return new ModelResponse(Id, Model, content, _stopReason, _stopSequence, _usage, StartUsage, requestId, duration, ttft);
        }
    }
}
