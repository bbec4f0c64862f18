using System.Net.ServerSentEvents;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Herd.Agent.Chat;

namespace Herd.Agent.Models;

/// <summary>
/// An OpenAI Chat Completions client (<c>POST {base}/chat/completions</c>, streamed), for OpenAI and the servers that
/// speak its protocol: vLLM, Ollama, llama.cpp server, LiteLLM, OpenRouter. Thin, over HttpClient and SSE like the
/// Anthropic client, sharing its retries and timeouts (docs/architecture.md says why not the OpenAI SDK).
/// </summary>
/// <remarks>
/// What it observes reaches the output in Claude Code's shapes: the chunks are translated into Messages API stream
/// events (<c>message_start</c>, <c>content_block_*</c> with <c>text_delta</c> / <c>input_json_delta</c>,
/// <c>message_delta</c>, <c>message_stop</c>), so stream-json reads the same whichever provider answered. Tool-call
/// argument fragments are assembled by their index; each call is announced once complete, after the text.
/// </remarks>
public sealed class OpenAiChatClient(ModelClientOptions options)
    : HttpModelClient(options, new Uri("https://api.openai.com/v1"), "/chat/completions")
{
    protected override string ServerKind => "an OpenAI-compatible server (its base URL usually ends in /v1)";

    /// <summary>OpenAI's own API rejects <c>max_tokens</c> for its reasoning models; the compatible servers read only it.</summary>
    protected override byte[] WriteBody(ModelRequest request) =>
        OpenAiWire.WriteRequest(request, Endpoint.Host.EndsWith("api.openai.com", StringComparison.OrdinalIgnoreCase) ? "max_completion_tokens" : "max_tokens");

    protected override void AddHeaders(HttpRequestMessage message)
    {
        // Local servers need no key; sending an empty bearer token would make some of them refuse the call.
        if (!string.IsNullOrEmpty(Options.ApiKey))
            message.Headers.TryAddWithoutValidation("authorization", "Bearer " + Options.ApiKey);
    }

    /// <summary>503 is how OpenAI-compatible servers say "overloaded": it gets Anthropic's 529 treatment (retries, AIMD, fallback).</summary>
    protected override ModelErrorKind Classify(int status, string? errorType, string body) => status switch
    {
        503 => ModelErrorKind.Overloaded,
        429 when body.Contains("insufficient_quota", StringComparison.Ordinal) => ModelErrorKind.SpendCap,
        _ => ModelApiException.Classify(status, errorType, body),
    };

    protected override async Task<ModelResponse> ReadStreamAsync(StreamCall call, CancellationToken cancellationToken)
    {
        var reply = new ReplyTranslator(call.Observer);
        TimeSpan? ttft = null;
        await foreach (var item in SseParser.Create(call.Stream).EnumerateAsync(call.Idle).ConfigureAwait(false))
        {
            call.OnEvent();
            ttft ??= Elapsed(call.Started);
            if (string.IsNullOrWhiteSpace(item.Data))
                continue;
            if (item.Data.Trim() == "[DONE]")
                return reply.Finish(call.RequestId, Elapsed(call.Started), ttft);
            JsonDocument doc;
            try
            {
                doc = JsonDocument.Parse(item.Data);
            }
            catch (JsonException ex)
            {
                throw new ModelApiException(ModelErrorKind.Truncated, $"Malformed stream chunk: {Shorten(item.Data, 80)} ({ex.Message})", inner: ex);
            }
            using (doc)
            {
                try
                {
                    reply.Apply(doc.RootElement, item.Data);
                }
                catch (Exception ex) when (ex is KeyNotFoundException or InvalidOperationException or FormatException or ArgumentException or IndexOutOfRangeException)
                {
                    throw new ModelApiException(ModelErrorKind.Truncated, $"Malformed stream chunk: {Shorten(item.Data, 80)}", inner: ex);
                }
            }
        }
        cancellationToken.ThrowIfCancellationRequested();
        // Some servers end the stream without [DONE]; a reply that reached its finish_reason is whole all the same.
        if (reply.HasFinished)
            return reply.Finish(call.RequestId, Elapsed(call.Started), ttft);
        throw new ModelApiException(ModelErrorKind.Truncated, "The stream ended before finish_reason (truncated response).");
    }

    /// <summary>Assembles one reply from its chunks and tells the observer about it in Messages API terms.</summary>
    private sealed class ReplyTranslator(IModelStreamObserver observer)
    {
        private readonly StringBuilder _text = new();
        private readonly SortedDictionary<int, ToolCallParts> _calls = [];
        private string _id = "";
        private string _model = "";
        private bool _started;
        private bool _textOpen;
        private string? _finishReason;
        private Usage _usage = Usage.Zero;

        public bool HasFinished => _finishReason is not null;

        public void Apply(JsonElement chunk, string raw)
        {
            if (chunk.TryGetProperty("error", out var error) && error.ValueKind == JsonValueKind.Object)
                throw StreamError(error, raw);
            if (!_started)
                Start(chunk);
            if (chunk.TryGetProperty("usage", out var usage) && usage.ValueKind == JsonValueKind.Object)
                _usage = UsageOf(usage);
            if (!chunk.TryGetProperty("choices", out var choices) || choices.ValueKind != JsonValueKind.Array)
                return;
            foreach (var choice in choices.EnumerateArray())
            {
                if (choice.TryGetProperty("index", out var ci) && ci.ValueKind == JsonValueKind.Number && ci.GetInt32() != 0)
                    continue;
                if (choice.TryGetProperty("delta", out var delta) && delta.ValueKind == JsonValueKind.Object)
                    ApplyDelta(delta);
                if (choice.TryGetProperty("finish_reason", out var finish) && finish.ValueKind == JsonValueKind.String)
                    _finishReason = finish.GetString();
            }
        }

        private void Start(JsonElement chunk)
        {
            _started = true;
            _id = chunk.TryGetProperty("id", out var id) && id.ValueKind == JsonValueKind.String ? id.GetString() ?? "" : "";
            _model = chunk.TryGetProperty("model", out var m) && m.ValueKind == JsonValueKind.String ? m.GetString() ?? "" : "";
            Emit(new JsonObject
            {
                ["type"] = "message_start",
                ["message"] = new JsonObject
                {
                    ["id"] = _id, ["type"] = "message", ["role"] = "assistant", ["model"] = _model, ["content"] = new JsonArray(),
                    ["stop_reason"] = null, ["stop_sequence"] = null,
                    ["usage"] = new JsonObject { ["input_tokens"] = 0, ["output_tokens"] = 0 },
                },
            });
        }

        private void ApplyDelta(JsonElement delta)
        {
            if (delta.TryGetProperty("content", out var content) && content.ValueKind == JsonValueKind.String && content.GetString() is { Length: > 0 } text)
            {
                if (!_textOpen)
                {
                    _textOpen = true;
                    Emit(new JsonObject { ["type"] = "content_block_start", ["index"] = 0, ["content_block"] = new JsonObject { ["type"] = "text", ["text"] = "" } });
                }
                _text.Append(text);
                Emit(new JsonObject { ["type"] = "content_block_delta", ["index"] = 0, ["delta"] = new JsonObject { ["type"] = "text_delta", ["text"] = text } });
            }
            if (!delta.TryGetProperty("tool_calls", out var calls) || calls.ValueKind != JsonValueKind.Array)
                return;
            foreach (var call in calls.EnumerateArray())
            {
                // Fragments of one call share its index; only the first carries the id and the name.
                var index = call.TryGetProperty("index", out var i) && i.ValueKind == JsonValueKind.Number ? i.GetInt32() : _calls.Count;
                if (!_calls.TryGetValue(index, out var parts))
                    _calls[index] = parts = new ToolCallParts();
                if (call.TryGetProperty("id", out var id) && id.ValueKind == JsonValueKind.String)
                    parts.Id ??= id.GetString();
                if (call.TryGetProperty("function", out var function) && function.ValueKind == JsonValueKind.Object)
                {
                    if (function.TryGetProperty("name", out var name) && name.ValueKind == JsonValueKind.String)
                        parts.Name = (parts.Name ?? "") + name.GetString();
                    if (function.TryGetProperty("arguments", out var args) && args.ValueKind == JsonValueKind.String)
                        parts.Arguments.Append(args.GetString());
                }
            }
        }

        public ModelResponse Finish(string? requestId, TimeSpan duration, TimeSpan? ttft)
        {
            if (!_started)
                throw new ModelApiException(ModelErrorKind.Truncated, "The stream ended before its first chunk (empty response).");
            var content = new List<ContentBlock>();
            var index = 0;
            if (_textOpen)
            {
                var text = new TextBlock(_text.ToString());
                CloseBlock(index++, text);
                content.Add(text);
            }
            foreach (var (position, parts) in _calls)
            {
                var use = parts.ToBlock(_id, position);
                Emit(new JsonObject
                {
                    ["type"] = "content_block_start", ["index"] = index,
                    ["content_block"] = new JsonObject { ["type"] = "tool_use", ["id"] = use.Id, ["name"] = use.Name, ["input"] = new JsonObject() },
                });
                Emit(new JsonObject
                {
                    ["type"] = "content_block_delta", ["index"] = index,
                    ["delta"] = new JsonObject { ["type"] = "input_json_delta", ["partial_json"] = use.Input.ToJsonString() },
                });
                CloseBlock(index++, use);
                content.Add(use);
            }
            var stopReason = StopReasonOf(_finishReason, _calls.Count > 0);
            Emit(new JsonObject
            {
                ["type"] = "message_delta",
                ["delta"] = new JsonObject { ["stop_reason"] = stopReason, ["stop_sequence"] = null },
                ["usage"] = new JsonObject
                {
                    ["input_tokens"] = _usage.InputTokens,
                    ["cache_read_input_tokens"] = _usage.CacheReadInputTokens,
                    ["output_tokens"] = _usage.OutputTokens,
                },
            });
            Emit(new JsonObject { ["type"] = "message_stop" });
            return new ModelResponse(_id, _model, content, stopReason, null, _usage, Usage.Zero, requestId, duration, ttft);
        }

        /// <summary>A finished block is announced before its <c>content_block_stop</c>, as the Anthropic client does.</summary>
        private void CloseBlock(int index, ContentBlock block)
        {
            observer.OnContentBlock(_id, _model, Usage.Zero, AnthropicWire.ToJson(block));
            Emit(new JsonObject { ["type"] = "content_block_stop", ["index"] = index });
        }

        private void Emit(JsonObject streamEvent) => observer.OnStreamEvent(streamEvent.ToJsonString());

        /// <summary>OpenAI's finish reasons in the Messages API's words.</summary>
        private static string StopReasonOf(string? finishReason, bool calledTools) => finishReason switch
        {
            "tool_calls" or "function_call" => "tool_use",
            "length" => "max_tokens",
            "content_filter" => "refusal",
            _ => calledTools ? "tool_use" : "end_turn",
        };

        /// <summary>OpenAI counts cached tokens inside <c>prompt_tokens</c>; the Messages API counts them apart.</summary>
        private static Usage UsageOf(JsonElement usage)
        {
            long Get(JsonElement e, string name) => e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Number ? v.GetInt64() : 0;
            var prompt = Get(usage, "prompt_tokens");
            var cached = usage.TryGetProperty("prompt_tokens_details", out var details) && details.ValueKind == JsonValueKind.Object ? Get(details, "cached_tokens") : 0;
            return new Usage(InputTokens: Math.Max(0, prompt - cached), OutputTokens: Get(usage, "completion_tokens"), CacheReadInputTokens: cached);
        }

        private static ModelApiException StreamError(JsonElement error, string raw)
        {
            var code = error.TryGetProperty("code", out var c) && c.ValueKind == JsonValueKind.String ? c.GetString() : null;
            var type = error.TryGetProperty("type", out var t) && t.ValueKind == JsonValueKind.String ? t.GetString() : null;
            var message = error.TryGetProperty("message", out var m) && m.ValueKind == JsonValueKind.String ? m.GetString() : null;
            var kind = (code ?? type) switch
            {
                "rate_limit_exceeded" or "rate_limit_error" => ModelErrorKind.RateLimited,
                "server_is_overloaded" or "overloaded_error" or "overloaded" => ModelErrorKind.Overloaded,
                "invalid_request_error" or "context_length_exceeded" => ModelErrorKind.InvalidRequest,
                _ => ModelErrorKind.ServerError,
            };
            return new ModelApiException(kind, message ?? "Stream error", kind == ModelErrorKind.Overloaded ? 503 : null, code ?? type, raw);
        }
    }

    private sealed class ToolCallParts
    {
        public string? Id { get; set; }
        public string? Name { get; set; }
        public StringBuilder Arguments { get; } = new();

        public ToolUseBlock ToBlock(string messageId, int index)
        {
            var text = Arguments.ToString();
            JsonNode input;
            try
            {
                input = string.IsNullOrWhiteSpace(text) ? new JsonObject() : JsonNode.Parse(text) ?? new JsonObject();
            }
            catch (JsonException ex)
            {
                throw new ModelApiException(ModelErrorKind.Truncated, "A tool call's arguments were not valid JSON (truncated stream).", inner: ex);
            }
            // Some servers (older Ollama) send no call id; the tool result must still name its call.
            return new ToolUseBlock(Id ?? $"call_{messageId}_{index}", Name ?? "", input);
        }
    }
}
