using System.Net.ServerSentEvents;
using System.Text.Json;
using System.Text.Json.Nodes;
using Herd.Agent.Chat;

namespace Herd.Agent.Models;

/// <summary>
/// A thin Messages API client: <c>POST /v1/messages</c> with <c>stream: true</c>, parsed with
/// System.Net.ServerSentEvents. Raw events are handed on verbatim (stream-json must forward them unmodified), so
/// the official SDK's re-typed events would not do; see docs/architecture.md.
/// </summary>
public sealed class AnthropicMessagesClient(ModelClientOptions options)
    : HttpModelClient(options, new Uri("https://api.anthropic.com"), "/v1/messages")
{
    protected override string ServerKind => "a Messages API server";

    protected override byte[] WriteBody(ModelRequest request) => AnthropicWire.WriteRequest(request);

    protected override void AddHeaders(HttpRequestMessage message)
    {
        message.Headers.TryAddWithoutValidation("x-api-key", Options.ApiKey);
        message.Headers.TryAddWithoutValidation("anthropic-version", "2023-06-01");
    }

    protected override ModelErrorKind Classify(int status, string? errorType, string body) => ModelApiException.Classify(status, errorType, body);

    protected override async Task<ModelResponse> ReadStreamAsync(StreamCall call, CancellationToken cancellationToken)
    {
        var (observer, requestId, started) = (call.Observer, call.RequestId, call.Started);
        var assembler = new MessageAssembler();
        TimeSpan? ttft = null;
        await foreach (var item in SseParser.Create(call.Stream).EnumerateAsync(call.Idle).ConfigureAwait(false))
        {
            call.OnEvent();
            ttft ??= Elapsed(started);
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
                        return done.ToResponse(requestId, Elapsed(started), ttft);
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
            var content = new List<ContentBlock>(_blocks.Count);
            foreach (var (index, block) in _blocks)
            {
                if (!_completed.Contains(index))
                    throw new ModelApiException(ModelErrorKind.Truncated, "The stream ended with an unfinished content block.");
                content.Add(AnthropicWire.BlockFromJson(block));
            }
            return new ModelResponse(Id, Model, content, _stopReason, _stopSequence, _usage, StartUsage, requestId, duration, ttft);
        }
    }
}
