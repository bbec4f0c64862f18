using System.Buffers;
using System.Globalization;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Herd.Agent.Models;

/// <summary>One request of a Message Batch: the neutral request and the id its result will carry.</summary>
public sealed record BatchRequest(string CustomId, ModelRequest Request);

public enum BatchStatus
{
    InProgress,
    Canceling,
    Ended,
}

public sealed record BatchRequestCounts(int Processing, int Succeeded, int Errored, int Canceled, int Expired);

/// <summary>A Message Batch as the API reports it.</summary>
public sealed record MessageBatch(string Id, BatchStatus Status, BatchRequestCounts Counts);

public enum BatchResultKind
{
    Succeeded,
    Errored,
    Canceled,
    Expired,
}

/// <summary>One request's outcome: the reply when it succeeded, else the error the usual classifier judges.</summary>
public sealed record BatchResult(string CustomId, BatchResultKind Kind, ModelResponse? Response, ModelApiException? Error);

/// <summary>
/// A thin client of Anthropic's Message Batches API (<c>/v1/messages/batches</c>: create, retrieve, list, results,
/// cancel). Every request of a batch is billed at half the standard price; results arrive within 24 hours, in any order.
/// The caller polls and retries: a batch call is a few small JSON requests, not a stream.
/// </summary>
public sealed class AnthropicBatchClient : IDisposable
{
    /// <summary>The API's limits on one batch: requests, and bytes of the create body.</summary>
    public const int MaxRequests = 100_000;
    public const long MaxBytes = 256L * 1024 * 1024;

    private readonly ModelClientOptions _options;
    private readonly HttpClient _http;
    private readonly string _base;

    public AnthropicBatchClient(ModelClientOptions options)
    {
        _options = options;
        _http = new HttpClient { Timeout = TimeSpan.FromMinutes(10) };
        _base = (options.BaseUrl ?? new Uri("https://api.anthropic.com")).ToString().TrimEnd('/') + "/v1/messages/batches";
    }

    public void Dispose() => _http.Dispose();

    /// <summary>
    /// A custom_id for a task's call on a turn, within the API's <c>^[a-zA-Z0-9_-]{1,64}$</c>: the key's allowed
    /// characters, and a hash of the whole key when it had others or was too long, so two keys never share an id.
    /// </summary>
    public static string CustomId(string taskKey, int turn)
    {
        var suffix = "-t" + turn.ToString(CultureInfo.InvariantCulture);
        var clean = new string(taskKey.Select(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' ? c : '_').ToArray());
        if (clean == taskKey && clean.Length is > 0 && clean.Length + suffix.Length <= 64)
            return clean + suffix;
        var hash = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(taskKey)))[..16];
        var room = 64 - suffix.Length - hash.Length - 1;
        return (clean.Length > room ? clean[..room] : clean) + "_" + hash + suffix;
    }

    /// <summary>Splits requests into batches within the API's limits (100 000 requests, 256 MB of body).</summary>
    public static IReadOnlyList<IReadOnlyList<BatchRequest>> Split(IReadOnlyList<BatchRequest> requests, int maxRequests = MaxRequests, long maxBytes = MaxBytes)
    {
        var batches = new List<IReadOnlyList<BatchRequest>>();
        var current = new List<BatchRequest>();
        long bytes = 16;
        foreach (var request in requests)
        {
            var size = Params(request.Request).Length + request.CustomId.Length + 32;
            if (current.Count > 0 && (current.Count >= maxRequests || bytes + size > maxBytes))
            {
                batches.Add(current);
                current = [];
                bytes = 16;
            }
            current.Add(request);
            bytes += size;
        }
        if (current.Count > 0)
            batches.Add(current);
        return batches;
    }

    /// <summary>A request's params: not streamed, its cache breakpoints with the 1-hour TTL (a round may outlast 5 minutes).</summary>
    private static byte[] Params(ModelRequest request) => AnthropicWire.WriteRequest(request, stream: false, longCache: true);

    public async Task<MessageBatch> CreateAsync(IReadOnlyList<BatchRequest> requests, CancellationToken cancellationToken = default)
    {
        var buffer = new ArrayBufferWriter<byte>();
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            w.WriteStartArray("requests");
            foreach (var request in requests)
            {
                w.WriteStartObject();
                w.WriteString("custom_id", request.CustomId);
                w.WritePropertyName("params");
                w.WriteRawValue(Params(request.Request), skipInputValidation: true);
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteEndObject();
        }
        using var doc = await SendAsync(HttpMethod.Post, _base, buffer.WrittenSpan.ToArray(), cancellationToken).ConfigureAwait(false);
        return BatchOf(doc.RootElement);
    }

    public async Task<MessageBatch> GetAsync(string batchId, CancellationToken cancellationToken = default)
    {
        using var doc = await SendAsync(HttpMethod.Get, $"{_base}/{batchId}", null, cancellationToken).ConfigureAwait(false);
        return BatchOf(doc.RootElement);
    }

    /// <summary>The most recent batches, newest first.</summary>
    public async Task<IReadOnlyList<MessageBatch>> ListAsync(int limit = 20, CancellationToken cancellationToken = default)
    {
        using var doc = await SendAsync(HttpMethod.Get, $"{_base}?limit={limit.ToString(CultureInfo.InvariantCulture)}", null, cancellationToken).ConfigureAwait(false);
        return doc.RootElement.GetProperty("data").EnumerateArray().Select(BatchOf).ToArray();
    }

    public async Task<MessageBatch> CancelAsync(string batchId, CancellationToken cancellationToken = default)
    {
        using var doc = await SendAsync(HttpMethod.Post, $"{_base}/{batchId}/cancel", [], cancellationToken).ConfigureAwait(false);
        return BatchOf(doc.RootElement);
    }

    /// <summary>An ended batch's results (JSONL), in the order the API sends them: match them by custom_id.</summary>
    public async Task<IReadOnlyList<BatchResult>> ResultsAsync(string batchId, CancellationToken cancellationToken = default)
    {
        var text = await SendForTextAsync(HttpMethod.Get, $"{_base}/{batchId}/results", null, cancellationToken).ConfigureAwait(false);
        var results = new List<BatchResult>();
        foreach (var line in text.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            try
            {
                using var doc = JsonDocument.Parse(line);
                results.Add(ResultOf(doc.RootElement));
            }
            catch (Exception ex) when (ex is JsonException or KeyNotFoundException or InvalidOperationException)
            {
                throw new ModelApiException(ModelErrorKind.Truncated, $"Batch '{batchId}' returned a malformed result line ({ex.Message}).", inner: ex);
            }
        }
        return results;
    }

    private static BatchResult ResultOf(JsonElement line)
    {
        var customId = line.GetProperty("custom_id").GetString()!;
        var result = line.GetProperty("result");
        switch (result.GetProperty("type").GetString())
        {
            case "succeeded":
                var m = result.GetProperty("message");
                var content = JsonNode.Parse(m.GetProperty("content").GetRawText())!.AsArray()
                    .OfType<JsonObject>().Select(AnthropicWire.BlockFromJson).ToArray();
                var usage = Usage.Parse(m.GetProperty("usage"));
                var response = new ModelResponse(
                    m.GetProperty("id").GetString() ?? "", m.GetProperty("model").GetString() ?? "", content,
                    m.TryGetProperty("stop_reason", out var sr) && sr.ValueKind == JsonValueKind.String ? sr.GetString() : null,
                    m.TryGetProperty("stop_sequence", out var ss) && ss.ValueKind == JsonValueKind.String ? ss.GetString() : null,
                    usage, usage, null, TimeSpan.Zero, null);
                return new BatchResult(customId, BatchResultKind.Succeeded, response, null);
            case "errored":
                var error = result.TryGetProperty("error", out var e) && e.TryGetProperty("error", out var inner) ? inner : default;
                var type = error.ValueKind == JsonValueKind.Object && error.TryGetProperty("type", out var t) ? t.GetString() : null;
                var message = error.ValueKind == JsonValueKind.Object && error.TryGetProperty("message", out var em) ? em.GetString() : null;
                return new BatchResult(customId, BatchResultKind.Errored, null,
                    new ModelApiException(ModelApiException.ClassifyStreamError(type), message ?? "Batch request errored", errorType: type, responseBody: result.GetRawText()));
            case "expired":
                // Not processed within 24 hours: nothing was billed, and the same request may simply go again.
                return new BatchResult(customId, BatchResultKind.Expired, null,
                    new ModelApiException(ModelErrorKind.ServerError, "The batch request expired before it was processed", errorType: "expired"));
            default:
                return new BatchResult(customId, BatchResultKind.Canceled, null,
                    new ModelApiException(ModelErrorKind.ServerError, "The batch request was canceled", errorType: "canceled"));
        }
    }

    private static MessageBatch BatchOf(JsonElement b)
    {
        var counts = b.GetProperty("request_counts");
        int Count(string name) => counts.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Number ? v.GetInt32() : 0;
        var status = b.GetProperty("processing_status").GetString() switch
        {
            "ended" => BatchStatus.Ended,
            "canceling" => BatchStatus.Canceling,
            _ => BatchStatus.InProgress,
        };
        return new MessageBatch(b.GetProperty("id").GetString()!, status,
            new BatchRequestCounts(Count("processing"), Count("succeeded"), Count("errored"), Count("canceled"), Count("expired")));
    }

    private async Task<JsonDocument> SendAsync(HttpMethod method, string url, byte[]? body, CancellationToken cancellationToken)
    {
        var text = await SendForTextAsync(method, url, body, cancellationToken).ConfigureAwait(false);
        try
        {
            return JsonDocument.Parse(text);
        }
        catch (JsonException ex)
        {
            throw new ModelApiException(ModelErrorKind.InvalidRequest, $"{url} answered with something other than JSON. Check ANTHROPIC_BASE_URL.", inner: ex);
        }
    }

    private async Task<string> SendForTextAsync(HttpMethod method, string url, byte[]? body, CancellationToken cancellationToken)
    {
        using var message = new HttpRequestMessage(method, url);
        if (body is not null)
        {
            message.Content = new ByteArrayContent(body);
            message.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        }
        message.Headers.TryAddWithoutValidation("x-api-key", _options.ApiKey);
        message.Headers.TryAddWithoutValidation("anthropic-version", "2023-06-01");
        message.Headers.TryAddWithoutValidation("user-agent", _options.UserAgent);
        HttpResponseMessage response;
        try
        {
            response = await _http.SendAsync(message, cancellationToken).ConfigureAwait(false);
        }
        catch (HttpRequestException ex)
        {
            throw new ModelApiException(ModelErrorKind.Network, $"Connection error: {new Uri(url).GetLeftPart(UriPartial.Authority)} ({ex.Message.TrimEnd('.')}).", inner: ex);
        }
        using (response)
        {
            var text = await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false);
            if (response.IsSuccessStatusCode)
                return text;
            var status = (int)response.StatusCode;
            var (type, errorMessage) = HttpModelClient.ReadErrorBody(text);
            throw new ModelApiException(ModelApiException.Classify(status, type, text), errorMessage ?? $"HTTP {status}", status, type, text.Trim());
        }
    }
}
