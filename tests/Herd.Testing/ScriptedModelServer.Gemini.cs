using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Http;

namespace Herd.Testing;

/// <summary>
/// The third protocol of the one scripted server: the Gemini API (<c>POST /v1beta/models/{model}:generateContent</c>
/// and <c>:streamGenerateContent?alt=sse</c>), which the <c>gemini</c> CLI speaks when <c>GOOGLE_GEMINI_BASE_URL</c>
/// points here. The same script answers: a reply's text becomes a <c>text</c> part, its tool calls
/// <c>functionCall</c> parts, its usage the <c>usageMetadata</c>; HTTP statuses answer as Google's error body
/// (<c>{"error": {code, message, status}}</c>), and drops and truncation cut the stream.
/// </summary>
public sealed partial class ScriptedModelServer
{
    private async Task HandleGeminiAsync(HttpContext context)
    {
        string body;
        using (var reader = new StreamReader(context.Request.Body, Encoding.UTF8))
            body = await reader.ReadToEndAsync(context.RequestAborted).ConfigureAwait(false);
        var headers = context.Request.Headers.ToDictionary(h => h.Key.ToLowerInvariant(), h => h.Value.ToString());
        var recorded = new RecordedRequest(context.Request.Path, headers, body);
        Remember(recorded);

        // {model}:{method}, e.g. gemini-2.5-pro:streamGenerateContent
        var target = (string?)context.Request.RouteValues["target"] ?? "";
        var colon = target.LastIndexOf(':');
        var requestedModel = colon > 0 ? target[..colon] : target;
        var method = colon > 0 ? target[(colon + 1)..] : "";
        JsonObject request;
        try
        {
            request = (JsonObject)JsonNode.Parse(body)!;
        }
        catch (Exception e) when (e is JsonException or InvalidCastException)
        {
            await WriteGeminiErrorAsync(context, 400, "Invalid JSON payload received.", null).ConfigureAwait(false);
            return;
        }
        if (method == "countTokens")
        {
            context.Response.ContentType = "application/json";
            await context.Response.WriteAsync(new JsonObject { ["totalTokens"] = body.Length / 4 }.ToJsonString(), context.RequestAborted).ConfigureAwait(false);
            return;
        }
        if (method is not ("generateContent" or "streamGenerateContent"))
        {
            await WriteGeminiErrorAsync(context, 404, $"Method {method} is not served by the scripted server.", null).ConfigureAwait(false);
            return;
        }

        ModelScript script;
        lock (_gate)
            script = _script;
        var contents = request["contents"] as JsonArray ?? [];
        var reply = script.FailingModels is { } failing && failing.TryGetValue(requestedModel, out var failStatus)
            ? Reply.Error(failStatus, retryAfter: 0)
            : Choose(GeminiTurn(contents), GeminiUserText(contents), script);
        var latency = script.LatencyMs + (reply.LatencyMs ?? 0);
        if (latency > 0)
            await Task.Delay(latency, context.RequestAborted).ConfigureAwait(false);
        if (AdmissionRetryAfter(script) is { } wait)
        {
            Remember(new ServedReply(recorded, Reply.Error(429, wait), requestedModel, new ScriptedUsage(0, 0), null, false));
            await WriteGeminiErrorAsync(context, 429, "Resource has been exhausted (e.g. check quota).", wait).ConfigureAwait(false);
            return;
        }
        if (reply.Status is { } status)
        {
            Remember(new ServedReply(recorded, reply, requestedModel, new ScriptedUsage(0, 0), null, false));
            await WriteGeminiErrorAsync(context, status, reply.ErrorMessage ?? $"scripted {status}", reply.RetryAfter).ConfigureAwait(false);
            return;
        }
        var completed = false;
        try
        {
            completed = await WriteGeminiReplyAsync(context, contents, requestedModel, reply, stream: method == "streamGenerateContent").ConfigureAwait(false);
        }
        finally
        {
            Remember(new ServedReply(recorded, reply, reply.Model ?? requestedModel, reply.Usage ?? new ScriptedUsage(), null, completed));
        }
    }

    /// <summary>The turn index: how many model replies the client replays (contents with role <c>model</c>).</summary>
    internal static int GeminiTurn(JsonArray contents) => contents.OfType<JsonObject>().Count(c => (string?)c["role"] == "model");

    /// <summary>All user text parts, in order (the CLI sends its environment context before the prompt).</summary>
    internal static string GeminiUserText(JsonArray contents)
    {
        var text = new StringBuilder();
        foreach (var content in contents.OfType<JsonObject>().Where(c => (string?)c["role"] is "user" or null))
        {
            foreach (var part in (content["parts"] as JsonArray ?? []).OfType<JsonObject>())
            {
                if ((string?)part["text"] is { } t)
                    text.Append(t).Append('\n');
            }
        }
        return text.ToString();
    }

    private static string GeminiStatus(int code) => code switch
    {
        400 => "INVALID_ARGUMENT",
        401 => "UNAUTHENTICATED",
        403 => "PERMISSION_DENIED",
        404 => "NOT_FOUND",
        429 => "RESOURCE_EXHAUSTED",
        503 or 529 => "UNAVAILABLE",
        _ => "INTERNAL",
    };

    private static async Task WriteGeminiErrorAsync(HttpContext context, int status, string message, double? retryAfter)
    {
        context.Response.StatusCode = status;
        context.Response.ContentType = "application/json";
        if (retryAfter is { } ra)
            context.Response.Headers["retry-after"] = ra.ToString(CultureInfo.InvariantCulture);
        var body = new JsonObject { ["error"] = new JsonObject { ["code"] = status, ["message"] = message, ["status"] = GeminiStatus(status) } };
        await context.Response.WriteAsync(body.ToJsonString(), context.RequestAborted).ConfigureAwait(false);
    }

    /// <returns>Whether the whole reply was written (the final chunk with its finishReason).</returns>
    private async Task<bool> WriteGeminiReplyAsync(HttpContext context, JsonArray contents, string requestedModel, Reply reply, bool stream)
    {
        var response = context.Response;
        var ct = context.RequestAborted;
        var model = reply.Model ?? requestedModel;
        var usage = reply.Usage ?? new ScriptedUsage();
        var responseId = "resp-" + Interlocked.Increment(ref _messageCounter).ToString("x8", CultureInfo.InvariantCulture);
        var lastUser = contents.OfType<JsonObject>().LastOrDefault(c => (string?)c["role"] is "user" or null);
        var text = reply.Text?.Replace("{prompt}", Shorten(lastUser is null ? "" : GeminiUserText([lastUser.DeepClone()]).TrimEnd('\n'), 200), StringComparison.Ordinal)
            .Replace("{turn}", GeminiTurn(contents).ToString(CultureInfo.InvariantCulture), StringComparison.Ordinal);

        var parts = new List<JsonObject>();
        if (!string.IsNullOrEmpty(text))
            parts.AddRange((stream ? Chunks(text, 24) : [text]).Select(chunk => new JsonObject { ["text"] = chunk }));
        foreach (var call in reply.ToolCalls ?? [])
            parts.Add(new JsonObject { ["functionCall"] = new JsonObject { ["name"] = call.Name, ["args"] = call.Input.DeepClone() } });
        // Google's promptTokenCount includes the cached tokens; cachedContentTokenCount is the part read from the cache.
        var usageNode = new JsonObject
        {
            ["promptTokenCount"] = usage.Input + usage.CacheRead,
            ["candidatesTokenCount"] = usage.Output,
            ["totalTokenCount"] = usage.Input + usage.CacheRead + usage.Output,
            ["cachedContentTokenCount"] = usage.CacheRead,
        };
        JsonObject Chunk(IEnumerable<JsonObject> chunkParts, bool last)
        {
            var candidate = new JsonObject { ["content"] = new JsonObject { ["role"] = "model", ["parts"] = new JsonArray(chunkParts.Select(p => (JsonNode)p.DeepClone()).ToArray()) }, ["index"] = 0 };
            if (last)
                candidate["finishReason"] = "STOP";
            return new JsonObject { ["candidates"] = new JsonArray(candidate), ["usageMetadata"] = usageNode.DeepClone(), ["modelVersion"] = model, ["responseId"] = responseId };
        }

        response.StatusCode = 200;
        if (!stream)
        {
            response.ContentType = "application/json";
            await response.WriteAsync(Chunk(parts, last: true).ToJsonString(), ct).ConfigureAwait(false);
            return true;
        }
        response.ContentType = "text/event-stream";
        response.Headers.CacheControl = "no-cache";
        if (reply.StallMs is { } stall)
            await Task.Delay(stall, ct).ConfigureAwait(false);
        var chunks = parts.Count == 0 ? [Chunk([], last: true)] : parts.Select((p, i) => Chunk([p], last: i == parts.Count - 1)).ToList();
        for (var i = 0; i < chunks.Count; i++)
        {
            if (reply.DropAfterEvents is { } drop && i >= drop)
            {
                context.Abort();
                return false;
            }
            if (reply.Truncate && i == chunks.Count - 1)
                return false;
            await response.WriteAsync($"data: {chunks[i].ToJsonString()}\r\n\r\n", ct).ConfigureAwait(false);
            await response.Body.FlushAsync(ct).ConfigureAwait(false);
        }
        return true;
    }
}
