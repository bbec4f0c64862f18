using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Http;

namespace Herd.Testing;

/// <summary>
/// The Chat Completions protocol of the one scripted server (<c>POST /v1/chat/completions</c> with <c>stream: true</c>),
/// which <c>herd --provider openai</c> and every OpenAI-compatible server speak. The same script answers: a reply's text
/// streams as <c>delta.content</c> chunks, its tool calls as <c>delta.tool_calls</c> (the first fragment of each with
/// id and name, then argument fragments by index), then a chunk with <c>finish_reason</c>, a usage chunk when
/// <c>stream_options.include_usage</c> asks for it, and <c>data: [DONE]</c>.
/// </summary>
public sealed partial class ScriptedModelServer
{
    /// <summary>
    /// Records an OpenAI-protocol request (Chat Completions, Responses) and parses its body; a body that is not JSON is
    /// answered 400 as OpenAI does and yields null. The script is read once, so a request sees one script throughout.
    /// </summary>
    private async Task<(RecordedRequest Recorded, JsonObject Request, ModelScript Script)?> ReadOpenAiRequestAsync(HttpContext context)
    {
        var recorded = await RecordAsync(context).ConfigureAwait(false);
        JsonObject request;
        try
        {
            request = (JsonObject)JsonNode.Parse(recorded.Body)!;
        }
        catch (JsonException)
        {
            await WriteOpenAiErrorAsync(context, 400, "invalid_request_error", "Body is not JSON", null).ConfigureAwait(false);
            return null;
        }
        lock (_gate)
            return (recorded, request, _script);
    }

    private async Task HandleChatCompletionsAsync(HttpContext context)
    {
        if (await ReadOpenAiRequestAsync(context).ConfigureAwait(false) is not { } read)
            return;
        var (recorded, request, script) = read;
        var body = recorded.Body;
        var messages = request["messages"] as JsonArray ?? [];
        var requestedModel = (string?)request["model"] ?? "gpt-4.1";
        var maxTokens = (request["max_tokens"] ?? request["max_completion_tokens"]) is JsonValue mt && mt.TryGetValue<int>(out var m) ? m : (int?)null;
        var turn = messages.Count(message => (string?)message?["role"] == "assistant");
        var firstUser = ChatUserText(messages.OfType<JsonObject>().FirstOrDefault(message => (string?)message["role"] == "user"));
        var reply = script.FailingModels is { } failing && failing.TryGetValue(requestedModel, out var failStatus)
            ? Reply.Error(failStatus, retryAfter: 0)
            : Choose(turn, firstUser, script);
        var latency = script.LatencyMs + (reply.LatencyMs ?? 0);
        if (latency > 0)
            await Task.Delay(latency, context.RequestAborted).ConfigureAwait(false);

        if (AdmissionRetryAfter(script) is { } wait)
        {
            Remember(new ServedReply(recorded, Reply.Error(429, wait), requestedModel, new ScriptedUsage(0, 0), maxTokens, false));
            await WriteOpenAiErrorAsync(context, 429, "rate_limit_exceeded", "Rate limit reached for requests", wait).ConfigureAwait(false);
            return;
        }
        if (reply.Status is { } status)
        {
            // OpenAI-compatible servers say "overloaded" with 503; a script's 529 means the same.
            var sent = status == 529 ? 503 : status;
            var type = reply.ErrorType ?? OpenAiErrorType(sent);
            Remember(new ServedReply(recorded, reply, requestedModel, new ScriptedUsage(0, 0), maxTokens, false));
            await WriteOpenAiErrorAsync(context, sent, type, reply.ErrorMessage ?? type, reply.RetryAfter).ConfigureAwait(false);
            return;
        }
        if (await TryServeRawBodyAsync(context, new ServedReply(recorded, reply, requestedModel, new ScriptedUsage(0, 0), maxTokens, false)).ConfigureAwait(false))
            return;
        var completed = false;
        var includeUsage = request["stream_options"]?["include_usage"] is JsonValue iu && iu.TryGetValue<bool>(out var include) && include;
        try
        {
            completed = await StreamChatAsync(context, reply, requestedModel, turn, firstUser, includeUsage).ConfigureAwait(false);
        }
        finally
        {
            Remember(new ServedReply(recorded, reply, reply.Model ?? requestedModel, reply.Usage ?? new ScriptedUsage(), maxTokens, completed));
        }
    }

    /// <summary>A chat message's text: a string, or its text parts.</summary>
    private static string ChatUserText(JsonObject? message) => message?["content"] switch
    {
        JsonValue v when v.TryGetValue<string>(out var s) => s,
        JsonArray parts => string.Concat(parts.OfType<JsonObject>().Where(p => (string?)p["type"] == "text").Select(p => (string?)p["text"])),
        _ => "",
    };

    /// <returns>Whether the stream reached <c>[DONE]</c>.</returns>
    private async Task<bool> StreamChatAsync(HttpContext context, Reply reply, string requestedModel, int turn, string firstUser, bool includeUsage)
    {
        var response = BeginEventStream(context, reply, "x-request-id");

        var model = reply.Model ?? requestedModel;
        var usage = reply.Usage ?? new ScriptedUsage();
        var id = $"chatcmpl-{Interlocked.Increment(ref _messageCounter):x12}";
        var created = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        var sent = 0;
        var ct = context.RequestAborted;

        async Task<bool> Send(string data)
        {
            if (reply.DropAfterEvents is { } drop && sent >= drop)
            {
                context.Abort();
                return false;
            }
            await response.WriteAsync($"data: {data}\n\n", ct).ConfigureAwait(false);
            await response.Body.FlushAsync(ct).ConfigureAwait(false);
            sent++;
            return true;
        }

        JsonObject Chunk(JsonObject delta, string? finishReason = null) => new()
        {
            ["id"] = id, ["object"] = "chat.completion.chunk", ["created"] = created, ["model"] = model,
            ["choices"] = new JsonArray(new JsonObject { ["index"] = 0, ["delta"] = delta, ["finish_reason"] = finishReason }),
        };

        if (!await Send(Chunk(new JsonObject { ["role"] = "assistant", ["content"] = "" }).ToJsonString()).ConfigureAwait(false))
            return false;
        if (reply.StallMs is { } stall)
            await Task.Delay(stall, ct).ConfigureAwait(false);
        if (reply.StreamError is { } streamError)
        {
            var code = streamError switch
            {
                "overloaded_error" => "server_is_overloaded",
                "rate_limit_error" => "rate_limit_exceeded",
                _ => streamError,
            };
            await Send(new JsonObject { ["error"] = new JsonObject { ["message"] = streamError, ["type"] = code, ["code"] = code } }.ToJsonString()).ConfigureAwait(false);
            return false;
        }

        var text = reply.Text?.Replace("{prompt}", Shorten(firstUser, 200), StringComparison.Ordinal)
            .Replace("{turn}", turn.ToString(CultureInfo.InvariantCulture), StringComparison.Ordinal);
        foreach (var chunk in Chunks(text ?? "", 24))
        {
            if (!await Send(Chunk(new JsonObject { ["content"] = chunk }).ToJsonString()).ConfigureAwait(false))
                return false;
        }
        var toolNumber = 0;
        foreach (var call in reply.ToolCalls ?? [])
        {
            var index = toolNumber++;
            var callId = call.Id ?? $"call_{id[9..]}_{index}";
            var first = new JsonObject
            {
                ["index"] = index, ["id"] = callId, ["type"] = "function",
                ["function"] = new JsonObject { ["name"] = call.Name, ["arguments"] = "" },
            };
            if (!await Send(Chunk(new JsonObject { ["tool_calls"] = new JsonArray(first) }).ToJsonString()).ConfigureAwait(false))
                return false;
            foreach (var fragment in Chunks(call.Input.ToJsonString(), 16))
            {
                var part = new JsonObject { ["index"] = index, ["function"] = new JsonObject { ["arguments"] = fragment } };
                if (!await Send(Chunk(new JsonObject { ["tool_calls"] = new JsonArray(part) }).ToJsonString()).ConfigureAwait(false))
                    return false;
            }
        }
        if (reply.Truncate)
            return false;
        var finish = reply.StopReason switch
        {
            "max_tokens" => "length",
            null => reply.ToolCalls is { Count: > 0 } ? "tool_calls" : "stop",
            _ => "stop",
        };
        if (!await Send(Chunk(new JsonObject(), finish).ToJsonString()).ConfigureAwait(false))
            return false;
        if (includeUsage)
        {
            // OpenAI's prompt_tokens include the cached ones (and it writes no cache: a script's cache writes are plain input).
            var prompt = usage.Input + usage.CacheRead + usage.CacheCreation;
            var usageChunk = new JsonObject
            {
                ["id"] = id, ["object"] = "chat.completion.chunk", ["created"] = created, ["model"] = model, ["choices"] = new JsonArray(),
                ["usage"] = new JsonObject
                {
                    ["prompt_tokens"] = prompt,
                    ["completion_tokens"] = usage.Output,
                    ["total_tokens"] = prompt + usage.Output,
                    ["prompt_tokens_details"] = new JsonObject { ["cached_tokens"] = usage.CacheRead },
                },
            };
            if (!await Send(usageChunk.ToJsonString()).ConfigureAwait(false))
                return false;
        }
        return await Send("[DONE]").ConfigureAwait(false);
    }
}
