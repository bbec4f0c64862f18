using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using Polly;
using Polly.Retry;

namespace Herd.Agent.Models;

/// <summary>
/// What every streaming model client shares, whatever its provider: one POST of a JSON body answered by an SSE stream,
/// retries with backoff and <c>retry-after</c> (one Polly pipeline per client), an idle timeout on the injected clock,
/// and HTTP failures turned into <see cref="ModelApiException"/>s. A provider's subclass writes the body, adds its
/// headers, classifies its errors and reads its stream.
/// </summary>
public abstract class HttpModelClient : IModelClient, IDisposable
{
    private readonly ModelClientOptions _options;
    private readonly HttpClient _http;
    private readonly Uri _endpoint;
    private readonly ResiliencePipeline _retry;

    // Reachability of the endpoint over the client's life (one client per process): whether any call ever got an HTTP
    // answer, consecutive refused connections before that, and whether the endpoint is known unreachable right now.
    private int _everConnected;
    private int _refusals;
    private int _unreachable;

    /// <summary>Per-call inputs of the shared retry pipeline (which request, whose observer).</summary>
    private static readonly ResiliencePropertyKey<CallState> CallKey = new("herd.call");

    protected HttpModelClient(ModelClientOptions options, Uri defaultBaseUrl, string path)
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
        var baseText = (options.BaseUrl ?? defaultBaseUrl).ToString().TrimEnd('/');
        _endpoint = new Uri(baseText + path);
        _retry = BuildRetryPipeline();
    }

    protected ModelClientOptions Options => _options;

    /// <summary>The time since <paramref name="started"/> (a <see cref="StreamCall.Started"/>), on the client's clock.</summary>
    protected TimeSpan Elapsed(long started) => _options.TimeProvider.GetElapsedTime(started);

    protected Uri Endpoint => _endpoint;

    public void Dispose()
    {
        Dispose(true);
        GC.SuppressFinalize(this);
    }

    protected virtual void Dispose(bool disposing)
    {
        if (disposing)
            _http.Dispose();
    }

    /// <summary>This provider's request body.</summary>
    protected abstract byte[] WriteBody(ModelRequest request);

    /// <summary>Adds this provider's authentication and version headers.</summary>
    protected abstract void AddHeaders(HttpRequestMessage message);

    /// <summary>Maps an HTTP error status and the error body's type to a kind, in this provider's terms.</summary>
    protected abstract ModelErrorKind Classify(int status, string? errorType, string body);

    /// <summary>Reads one streamed reply; <paramref name="onEvent"/> must be called for every SSE item (it re-arms the idle timer).</summary>
    protected abstract Task<ModelResponse> ReadStreamAsync(StreamCall call, CancellationToken cancellationToken);

    /// <summary>What a stream reader needs from the call that opened it.</summary>
    protected sealed record StreamCall(Stream Stream, IModelStreamObserver Observer, string? RequestId, long Started, CancellationToken Idle, Action OnEvent);

    public int MeasureRequest(ModelRequest request) => BodyOf(request).Length;

    private byte[] BodyOf(ModelRequest request) => request.WireBody ??= WriteBody(request);

    public async Task<ModelResponse> CreateMessageAsync(ModelRequest request, IModelStreamObserver observer, CancellationToken cancellationToken = default)
    {
        var body = BodyOf(request);
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
                    if (ex.ConnectionCause is { } cause)
                        Notify(new EndpointNotice(EndpointNoticeKind.Retrying, Authority, cause, args.AttemptNumber + 1, maxRetries, args.RetryDelay));
                    Call(args.Context).Observer.OnRetry(new ApiRetryInfo(args.AttemptNumber + 1, maxRetries, args.RetryDelay, ex.Status, ex.Category, ex.RetryAfter));
                    return ValueTask.CompletedTask;
                },
            })
            .Build();
    }

    private static CallState Call(ResilienceContext context) => context.Properties.GetValue(CallKey, null!);

    private sealed record CallState(HttpModelClient Client, ModelRequest Request, IModelStreamObserver Observer, byte[] Body);

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
        var started = _options.TimeProvider.GetTimestamp();
        using var message = new HttpRequestMessage(HttpMethod.Post, _endpoint);
        message.Content = new ByteArrayContent(body);
        message.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        AddHeaders(message);
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
            throw ConnectionFailed(ex);
        }

        using (response)
        {
            Connected();
            var requestId = response.Headers.TryGetValues("request-id", out var ids) || response.Headers.TryGetValues("x-request-id", out ids) ? ids.FirstOrDefault() : null;
            if (!response.IsSuccessStatusCode)
                throw await ErrorFromResponseAsync(response, cancellationToken).ConfigureAwait(false);
            // A 200 that is not an event stream (a proxy's HTML page, a non-streaming JSON answer) cannot be parsed
            // as SSE; say what came back instead of failing on its first byte. Retrying would get the same page.
            var mediaType = response.Content.Headers.ContentType?.MediaType;
            if (!string.Equals(mediaType, "text/event-stream", StringComparison.OrdinalIgnoreCase))
                throw new ModelApiException(ModelErrorKind.InvalidRequest,
                    $"{_endpoint} answered {(int)response.StatusCode} with content type '{mediaType ?? "none"}', not an event stream (text/event-stream). Check {_options.BaseUrlVariable}: it must point at {ServerKind}.");
            try
            {
                await using var stream = await response.Content.ReadAsStreamAsync(idle.Token).ConfigureAwait(false);
                var call = new StreamCall(stream, observer, requestId, started, idle.Token, () => idleTimer.CancelAfter(_options.StreamIdleTimeout));
                return await ReadStreamAsync(call, cancellationToken).ConfigureAwait(false);
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

    /// <summary>What <see cref="Endpoint"/> must be, for the message about a server that does not stream.</summary>
    protected abstract string ServerKind { get; }

    private string Authority => _endpoint.GetLeftPart(UriPartial.Authority);

    private void Notify(EndpointNotice notice) => _options.OnEndpointNotice?.Invoke(notice);

    /// <summary>An HTTP answer came back, whatever its status: the endpoint is there.</summary>
    private void Connected()
    {
        Volatile.Write(ref _everConnected, 1);
        Volatile.Write(ref _refusals, 0);
        if (Interlocked.Exchange(ref _unreachable, 0) == 1)
            Notify(new EndpointNotice(EndpointNoticeKind.Reachable, Authority, null));
    }

    /// <summary>
    /// A failed connection named with its endpoint and cause (<c>connection refused</c>, a DNS failure…), so a wrong
    /// base URL or a stopped proxy reads as what it is in api_retry events and the final error. Refusals while this
    /// client has never connected are counted: once <see cref="ModelClientOptions.RefusalsBeforeGivingUp"/> in a row
    /// were refused, nothing listens there and the call fails at once (<see cref="ModelErrorKind.Unreachable"/>); a
    /// refusal after the endpoint once answered (a proxy restarting) is retried as before.
    /// </summary>
    private ModelApiException ConnectionFailed(HttpRequestException ex)
    {
        var socket = ex.InnerException as System.Net.Sockets.SocketException;
        var refused = socket?.SocketErrorCode == System.Net.Sockets.SocketError.ConnectionRefused;
        var cause = socket?.SocketErrorCode switch
        {
            System.Net.Sockets.SocketError.ConnectionRefused => "connection refused",
            System.Net.Sockets.SocketError.HostNotFound or System.Net.Sockets.SocketError.NoData => "host not found",
            System.Net.Sockets.SocketError.TimedOut => "connection timed out",
            System.Net.Sockets.SocketError.NetworkUnreachable or System.Net.Sockets.SocketError.HostUnreachable => "network unreachable",
            _ => (socket?.Message ?? ex.Message).TrimEnd('.'),
        };
        if (Interlocked.Exchange(ref _unreachable, 1) == 0)
            Notify(new EndpointNotice(EndpointNoticeKind.Unreachable, Authority, cause));
        if (!refused)
            Volatile.Write(ref _refusals, 0);
        else if (Volatile.Read(ref _everConnected) == 0)
        {
            var refusals = Interlocked.Increment(ref _refusals);
            var limit = _options.RefusalsBeforeGivingUp;
            if (limit > 0 && refusals >= limit)
            {
                if (refusals == limit)
                    Notify(new EndpointNotice(EndpointNoticeKind.GivingUp, Authority, cause, refusals));
                return new ModelApiException(ModelErrorKind.Unreachable,
                    $"Connection error: {Authority} (connection refused). Every connection so far was refused: nothing is listening there. Check {_options.BaseUrlVariable}.",
                    inner: ex) { ConnectionCause = cause };
            }
        }
        return new ModelApiException(ModelErrorKind.Network, $"Connection error: {Authority} ({cause}).", inner: ex) { ConnectionCause = cause };
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
        var (errorType, errorMessage) = ReadErrorBody(text);
        var retryAfter = RetryAfterOf(response);
        var kind = Classify(status, errorType, text);
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

    /// <summary>The <c>error.type</c> and <c>error.message</c> of an error body (both APIs nest them so); nulls when absent.</summary>
    internal static (string? Type, string? Message) ReadErrorBody(string text)
    {
        try
        {
            using var doc = JsonDocument.Parse(text);
            if (doc.RootElement.TryGetProperty("error", out var err) && err.ValueKind == JsonValueKind.Object)
            {
                var type = err.TryGetProperty("type", out var t) && t.ValueKind == JsonValueKind.String ? t.GetString() : null;
                var message = err.TryGetProperty("message", out var m) && m.ValueKind == JsonValueKind.String ? m.GetString() : null;
                return (type, message);
            }
        }
        catch (Exception ex) when (ex is JsonException or InvalidOperationException)
        {
            // Not JSON, or JSON of another shape: the status alone classifies it.
        }
        return (null, null);
    }

    protected static string Shorten(string s, int max) => s.Length <= max ? s : s[..max] + "…";
}
