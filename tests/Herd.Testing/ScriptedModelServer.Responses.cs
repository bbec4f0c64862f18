using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Http;

namespace Herd.Testing;

/// <summary>
/// The second protocol of the one scripted server: OpenAI's Responses API (<c>POST /v1/responses</c> with
/// <c>stream: true</c>), which the <c>codex</c> CLI speaks. The same script answers both protocols: a reply's text
/// becomes an assistant <c>message</c> item, its tool calls <c>function_call</c> items, its usage the
/// <c>response.completed</c> usage; HTTP statuses, mid-stream failures (<c>response.failed</c>), drops, truncation and
/// stalls behave as in the Messages protocol.
/// </summary>
public sealed partial class ScriptedModelServer
{
    private async Task HandleResponsesAsync(HttpContext context)
    {
        if (await ReadOpenAiRequestAsync(context).ConfigureAwait(false) is not { } read)
            return;
        var (recorded, request, script) = read;
        var body = recorded.Body;
        var input = request["input"] as JsonArray ?? [];
        var requestedModel = (string?)request["model"] ?? "gpt-5";
        var reply = script.FailingModels is { } failing && failing.TryGetValue(requestedModel, out var failStatus)
            ? Reply.Error(failStatus, retryAfter: 0)
            : Choose(ResponsesTurn(input), ResponsesUserText(input), script);
        var latency = script.LatencyMs + (reply.LatencyMs ?? 0);
        if (latency > 0)
            await Task.Delay(latency, context.RequestAborted).ConfigureAwait(false);

        if (AdmissionRetryAfter(script) is { } wait)
        {
            Remember(new ServedReply(recorded, Reply.Error(429, wait), requestedModel, new ScriptedUsage(0, 0), null, false));
            await WriteOpenAiErrorAsync(context, 429, "rate_limit_exceeded", "Rate limit reached for requests", wait).ConfigureAwait(false);
            return;
        }
        if (reply.Status is { } status)
        {
            var type = reply.ErrorType ?? OpenAiErrorType(status);
            Remember(new ServedReply(recorded, reply, requestedModel, new ScriptedUsage(0, 0), null, false));
            await WriteOpenAiErrorAsync(context, status, type, reply.ErrorMessage ?? type, reply.RetryAfter).ConfigureAwait(false);
            return;
        }
        var completed = false;
        try
        {
            completed = await StreamResponseAsync(context, input, requestedModel, reply).ConfigureAwait(false);
        }
        finally
        {
            Remember(new ServedReply(recorded, reply, reply.Model ?? requestedModel, reply.Usage ?? new ScriptedUsage(), null, completed));
        }
    }

    /// <summary>
    /// The turn index: how many model replies the client replays. Each maximal run of assistant output items
    /// (assistant messages, function calls, reasoning) is one earlier reply, so parallel calls count once.
    /// </summary>
    internal static int ResponsesTurn(JsonArray input)
    {
        var turns = 0;
        var inReply = false;
        foreach (var item in input.OfType<JsonObject>())
        {
            var type = (string?)item["type"];
            var fromModel = type is "function_call" or "reasoning" or "custom_tool_call" || (type == "message" && (string?)item["role"] == "assistant");
            if (fromModel && !inReply)
                turns++;
            inReply = fromModel;
        }
        return turns;
    }

    /// <summary>All user message text, in order: codex sends its environment context and the prompt as user messages.</summary>
    internal static string ResponsesUserText(JsonArray input)
    {
        var text = new StringBuilder();
        foreach (var item in input.OfType<JsonObject>().Where(i => (string?)i["role"] == "user"))
        {
            switch (item["content"])
            {
                case JsonValue v when v.TryGetValue<string>(out var s):
                    text.Append(s).Append('\n');
                    break;
                case JsonArray parts:
                    foreach (var part in parts.OfType<JsonObject>().Where(p => (string?)p["type"] is "input_text" or "text"))
                        text.Append((string?)part["text"]).Append('\n');
                    break;
            }
        }
        return text.ToString();
    }

    /// <summary>The last user message: the prompt, for <c>{prompt}</c>.</summary>
    private static string LastUserText(JsonArray input)
    {
        var last = input.OfType<JsonObject>().LastOrDefault(i => (string?)i["role"] == "user");
        return last is null ? "" : ResponsesUserText([last.DeepClone()]).TrimEnd('\n');
    }

    /// <summary>The error type an OpenAI API gives with an HTTP status.</summary>
    private static string OpenAiErrorType(int status) => status switch
    {
        429 => "rate_limit_exceeded",
        529 or 503 => "server_is_overloaded",
        401 => "invalid_api_key",
        400 => "invalid_request_error",
        _ => "server_error",
    };

    private static async Task WriteOpenAiErrorAsync(HttpContext context, int status, string type, string message, double? retryAfter)
    {
        context.Response.StatusCode = status;
        context.Response.ContentType = "application/json";
        if (retryAfter is { } ra)
            context.Response.Headers["retry-after"] = ra.ToString(CultureInfo.InvariantCulture);
        var body = new JsonObject { ["error"] = new JsonObject { ["message"] = message, ["type"] = type, ["code"] = type, ["param"] = null } };
        await context.Response.WriteAsync(body.ToJsonString(), context.RequestAborted).ConfigureAwait(false);
    }

    /// <returns>Whether the stream reached <c>response.completed</c>.</returns>
    private async Task<bool> StreamResponseAsync(HttpContext context, JsonArray input, string requestedModel, Reply reply)
    {
        var response = BeginEventStream(context, reply, "x-request-id");

        var model = reply.Model ?? requestedModel;
        var usage = reply.Usage ?? new ScriptedUsage();
        var id = $"resp_{Interlocked.Increment(ref _messageCounter):x12}";
        var created = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        var sent = 0;
        var sequence = 0;
        var ct = context.RequestAborted;

        async Task<bool> Send(string type, JsonObject data)
        {
            if (reply.DropAfterEvents is { } drop && sent >= drop)
            {
                context.Abort();
                return false;
            }
            data["type"] = type;
            data["sequence_number"] = sequence++;
            await response.WriteAsync($"event: {type}\ndata: {data.ToJsonString()}\n\n", ct).ConfigureAwait(false);
            await response.Body.FlushAsync(ct).ConfigureAwait(false);
            sent++;
            return true;
        }

        JsonObject Envelope(string status, JsonArray output, JsonNode? usageNode, JsonNode? error = null) => new()
        {
            ["id"] = id, ["object"] = "response", ["created_at"] = created, ["status"] = status, ["model"] = model,
            ["output"] = output, ["usage"] = usageNode, ["error"] = error,
        };

        if (!await Send("response.created", new JsonObject { ["response"] = Envelope("in_progress", [], null) }).ConfigureAwait(false))
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
            await Send("response.failed", new JsonObject
            {
                ["response"] = Envelope("failed", [], null, new JsonObject { ["code"] = code, ["message"] = streamError }),
            }).ConfigureAwait(false);
            return false;
        }

        var output = new JsonArray();
        var index = 0;
        var text = reply.Text?.Replace("{prompt}", Shorten(LastUserText(input), 200), StringComparison.Ordinal)
            .Replace("{turn}", ResponsesTurn(input).ToString(CultureInfo.InvariantCulture), StringComparison.Ordinal);
        if (!string.IsNullOrEmpty(text))
        {
            var itemId = $"msg_{id[5..]}_{index}";
            if (!await Send("response.output_item.added", new JsonObject
            {
                ["output_index"] = index,
                ["item"] = new JsonObject { ["id"] = itemId, ["type"] = "message", ["status"] = "in_progress", ["role"] = "assistant", ["content"] = new JsonArray() },
            }).ConfigureAwait(false))
                return false;
            if (!await Send("response.content_part.added", new JsonObject
            {
                ["item_id"] = itemId, ["output_index"] = index, ["content_index"] = 0,
                ["part"] = new JsonObject { ["type"] = "output_text", ["text"] = "", ["annotations"] = new JsonArray() },
            }).ConfigureAwait(false))
                return false;
            foreach (var chunk in Chunks(text, 24))
            {
                if (!await Send("response.output_text.delta", new JsonObject { ["item_id"] = itemId, ["output_index"] = index, ["content_index"] = 0, ["delta"] = chunk }).ConfigureAwait(false))
                    return false;
            }
            if (reply.Truncate)
                return false;
            var message = new JsonObject
            {
                ["id"] = itemId, ["type"] = "message", ["status"] = "completed", ["role"] = "assistant",
                ["content"] = new JsonArray(new JsonObject { ["type"] = "output_text", ["text"] = text, ["annotations"] = new JsonArray() }),
            };
            if (!await Send("response.output_item.done", new JsonObject { ["output_index"] = index, ["item"] = message.DeepClone() }).ConfigureAwait(false))
                return false;
            output.Add(message);
            index++;
        }
        var toolNumber = 0;
        foreach (var call in reply.ToolCalls ?? [])
        {
            var itemId = $"fc_{id[5..]}_{index}";
            var callId = call.Id ?? $"call_{id[5..]}_{toolNumber++}";
            var arguments = call.Input.ToJsonString();
            if (!await Send("response.output_item.added", new JsonObject
            {
                ["output_index"] = index,
                ["item"] = new JsonObject { ["id"] = itemId, ["type"] = "function_call", ["status"] = "in_progress", ["call_id"] = callId, ["name"] = call.Name, ["arguments"] = "" },
            }).ConfigureAwait(false))
                return false;
            foreach (var chunk in Chunks(arguments, 16))
            {
                if (!await Send("response.function_call_arguments.delta", new JsonObject { ["item_id"] = itemId, ["output_index"] = index, ["delta"] = chunk }).ConfigureAwait(false))
                    return false;
            }
            var item = new JsonObject { ["id"] = itemId, ["type"] = "function_call", ["status"] = "completed", ["call_id"] = callId, ["name"] = call.Name, ["arguments"] = arguments };
            if (!await Send("response.output_item.done", new JsonObject { ["output_index"] = index, ["item"] = item.DeepClone() }).ConfigureAwait(false))
                return false;
            output.Add(item);
            index++;
        }
        if (reply.Truncate)
            return false;
        // OpenAI's input_tokens include the cached ones; cached_tokens is the part read from the cache.
        var usageNode = new JsonObject
        {
            ["input_tokens"] = usage.Input + usage.CacheRead,
            ["input_tokens_details"] = new JsonObject { ["cached_tokens"] = usage.CacheRead },
            ["output_tokens"] = usage.Output,
            ["output_tokens_details"] = new JsonObject { ["reasoning_tokens"] = 0 },
            ["total_tokens"] = usage.Input + usage.CacheRead + usage.Output,
        };
        return await Send("response.completed", new JsonObject { ["response"] = Envelope("completed", output, usageNode) }).ConfigureAwait(false);
    }
}
