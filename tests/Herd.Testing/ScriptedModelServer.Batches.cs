using System.Collections.Concurrent;
using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace Herd.Testing;

/// <summary>
/// Anthropic's Message Batches API on the one scripted server: create (<c>POST /v1/messages/batches</c>), retrieve,
/// list, results (JSONL) and cancel. Each request of a batch is answered by the same script as a live call (queue,
/// conversations, default), when the batch ends: a reply with a <c>status</c> becomes an <c>errored</c> result, one with
/// <c>expired</c> an <c>expired</c> result, the rest <c>succeeded</c> with the whole message. A batch stays
/// <c>in_progress</c> for the script's <c>batch_processing_ms</c>; cancelled before then, every request is
/// <c>canceled</c> and nothing is billed.
/// </summary>
public sealed partial class ScriptedModelServer
{
    private readonly ConcurrentDictionary<string, ScriptedBatch> _batches = new(StringComparer.Ordinal);
    private long _batchCounter;

    /// <summary>The batches created, in order (for assertions: a resumed run must not create one twice).</summary>
    private int _batchPolls;

    public IReadOnlyList<string> BatchIds => _batches.Values.OrderBy(b => b.Sequence).Select(b => b.Id).ToArray();

    private void MapBatches(WebApplication app)
    {
        app.MapPost("/v1/messages/batches", CreateBatchAsync);
        app.MapGet("/v1/messages/batches", ListBatchesAsync);
        app.MapGet("/v1/messages/batches/{id}", (HttpContext context, string id) => WithBatchAsync(context, id, batch =>
        {
            ModelScript script;
            lock (_gate)
                script = _script;
            return Interlocked.Increment(ref _batchPolls) <= script.BatchPollFailures
                ? WriteErrorAsync(context, 500, "api_error", "Internal server error (scripted)", null, null)
                : WriteJsonAsync(context, 200, BatchJson(batch));
        }));
        app.MapGet("/v1/messages/batches/{id}/results", (HttpContext context, string id) => WithBatchAsync(context, id, batch => WriteResultsAsync(context, batch)));
        app.MapPost("/v1/messages/batches/{id}/cancel", (HttpContext context, string id) => WithBatchAsync(context, id, batch =>
        {
            lock (batch)
            {
                if (batch.Results is null)
                    batch.CancelRequested = true;
            }
            return WriteJsonAsync(context, 200, BatchJson(batch));
        }));
    }

    private sealed class ScriptedBatch(string id, long sequence, DateTimeOffset created, DateTimeOffset endsAt, RecordedRequest recorded, IReadOnlyList<(string CustomId, JsonObject Params)> requests)
    {
        public string Id { get; } = id;
        public long Sequence { get; } = sequence;
        public DateTimeOffset Created { get; } = created;
        public DateTimeOffset EndsAt { get; } = endsAt;
        public RecordedRequest Recorded { get; } = recorded;
        public IReadOnlyList<(string CustomId, JsonObject Params)> Requests { get; } = requests;
        public bool CancelRequested { get; set; }

        /// <value>Each request's result line, decided once when the batch ends; null while it is in progress.</value>
        public IReadOnlyList<JsonObject>? Results { get; set; }
    }

    private async Task CreateBatchAsync(HttpContext context)
    {
        var recorded = await RecordAsync(context).ConfigureAwait(false);
        var body = recorded.Body;
        JsonArray requests;
        try
        {
            requests = JsonNode.Parse(body)?["requests"] as JsonArray ?? throw new JsonException("no requests array");
        }
        catch (JsonException ex)
        {
            await WriteErrorAsync(context, 400, "invalid_request_error", "Body is not a batch: " + ex.Message, null, null).ConfigureAwait(false);
            return;
        }
        var parsed = new List<(string, JsonObject)>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var item in requests.OfType<JsonObject>())
        {
            var customId = (string?)item["custom_id"] ?? "";
            // The API's rules: a custom_id of 1–64 letters, digits, '-' or '_', unique in its batch; params must not stream.
            if (customId.Length is < 1 or > 64 || !customId.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_') || !seen.Add(customId))
            {
                await WriteErrorAsync(context, 400, "invalid_request_error", $"requests: custom_id '{customId}' is invalid or repeated", null, null).ConfigureAwait(false);
                return;
            }
            if (item["params"] is not JsonObject p || p["stream"] is not null)
            {
                await WriteErrorAsync(context, 400, "invalid_request_error", $"requests.{customId}.params: missing, or sets stream", null, null).ConfigureAwait(false);
                return;
            }
            parsed.Add((customId, (JsonObject)p.DeepClone()));
        }
        ModelScript script;
        lock (_gate)
            script = _script;
        var sequence = Interlocked.Increment(ref _batchCounter);
        var id = $"msgbatch_{sequence:x12}";
        var now = DateTimeOffset.UtcNow;
        var batch = new ScriptedBatch(id, sequence, now, now.AddMilliseconds(script.BatchProcessingMs), recorded, parsed);
        _batches[id] = batch;
        await WriteJsonAsync(context, 200, BatchJson(batch)).ConfigureAwait(false);
    }

    private async Task ListBatchesAsync(HttpContext context)
    {
        var limit = int.TryParse(context.Request.Query["limit"], CultureInfo.InvariantCulture, out var l) ? Math.Clamp(l, 1, 1000) : 20;
        var afterId = context.Request.Query["after_id"].ToString();
        // Newest first, as the API lists them.
        var all = _batches.Values.OrderByDescending(b => b.Sequence).ToList();
        var start = string.IsNullOrEmpty(afterId) ? 0 : all.FindIndex(b => b.Id == afterId) + 1;
        var page = all.Skip(start).Take(limit).ToList();
        var data = new JsonArray(page.Select(b => (JsonNode)BatchJson(b)).ToArray());
        await WriteJsonAsync(context, 200, new JsonObject
        {
            ["data"] = data,
            ["has_more"] = start + page.Count < all.Count,
            ["first_id"] = page.FirstOrDefault()?.Id,
            ["last_id"] = page.LastOrDefault()?.Id,
        }).ConfigureAwait(false);
    }

    private async Task WithBatchAsync(HttpContext context, string id, Func<ScriptedBatch, Task> then)
    {
        if (!_batches.TryGetValue(id, out var batch))
        {
            await WriteErrorAsync(context, 404, "not_found_error", $"No batch '{id}'", null, null).ConfigureAwait(false);
            return;
        }
        await then(batch).ConfigureAwait(false);
    }

    private async Task WriteResultsAsync(HttpContext context, ScriptedBatch batch)
    {
        if (Ended(batch) is not { } results)
        {
            await WriteErrorAsync(context, 400, "invalid_request_error", $"Batch '{batch.Id}' has not ended; its results are not available yet.", null, null).ConfigureAwait(false);
            return;
        }
        context.Response.StatusCode = 200;
        context.Response.ContentType = "application/x-jsonl";
        var text = new StringBuilder();
        // Results come in any order; the reverse of the requests' makes clients match them by custom_id.
        foreach (var line in results.Reverse())
            text.Append(line.ToJsonString()).Append('\n');
        await context.Response.WriteAsync(text.ToString(), context.RequestAborted).ConfigureAwait(false);
    }

    /// <returns>The batch's results once it has ended (decided on first sight of its end); null while in progress.</returns>
    private IReadOnlyList<JsonObject>? Ended(ScriptedBatch batch)
    {
        lock (batch)
        {
            if (batch.Results is not null)
                return batch.Results;
            if (!batch.CancelRequested && DateTimeOffset.UtcNow < batch.EndsAt)
                return null;
            batch.Results = batch.CancelRequested
                ? batch.Requests.Select(r => new JsonObject { ["custom_id"] = r.CustomId, ["result"] = new JsonObject { ["type"] = "canceled" } }).ToArray()
                : batch.Requests.Select(r => Answer(batch, r.CustomId, r.Params)).ToArray();
            return batch.Results;
        }
    }

    /// <summary>One request of a batch, answered by the script as a live call would be.</summary>
    private JsonObject Answer(ScriptedBatch batch, string customId, JsonObject request)
    {
        ModelScript script;
        lock (_gate)
            script = _script;
        var requestedModel = (string?)request["model"] ?? "claude-sonnet-4-5";
        var maxTokens = request["max_tokens"] is JsonValue mt && mt.TryGetValue<int>(out var m) ? m : (int?)null;
        var reply = script.FailingModels is { } failing && failing.TryGetValue(requestedModel, out var failStatus)
            ? Reply.Error(failStatus)
            : Choose(request, script);
        var recorded = batch.Recorded with { Body = request.ToJsonString() };
        JsonObject result;
        if (reply.Expired)
        {
            result = new JsonObject { ["type"] = "expired" };
        }
        else if (reply.Status is { } status || reply.StreamError is not null)
        {
            var type = reply.ErrorType ?? reply.StreamError ?? (reply.Status switch
            {
                429 => "rate_limit_error",
                529 => "overloaded_error",
                400 => "invalid_request_error",
                _ => "api_error",
            });
            result = new JsonObject
            {
                ["type"] = "errored",
                ["error"] = new JsonObject { ["type"] = "error", ["error"] = new JsonObject { ["type"] = type, ["message"] = reply.ErrorMessage ?? type } },
            };
        }
        else
        {
            result = new JsonObject { ["type"] = "succeeded", ["message"] = BatchMessage(request, reply, requestedModel) };
        }
        var succeeded = (string?)result["type"] == "succeeded";
        Remember(new ServedReply(recorded, reply, reply.Model ?? requestedModel, succeeded ? reply.Usage ?? new ScriptedUsage() : new ScriptedUsage(0, 0), maxTokens, succeeded, Batch: true));
        return new JsonObject { ["custom_id"] = customId, ["result"] = result };
    }

    private JsonObject BatchMessage(JsonObject request, Reply reply, string requestedModel)
    {
        var messages = request["messages"] as JsonArray ?? [];
        var turn = messages.Count(message => (string?)message?["role"] == "assistant");
        var id = $"msg_{Interlocked.Increment(ref _messageCounter):x12}";
        var content = new JsonArray();
        var text = reply.Text?.Replace("{prompt}", Shorten(FirstUserText(messages), 200), StringComparison.Ordinal)
            .Replace("{turn}", turn.ToString(CultureInfo.InvariantCulture), StringComparison.Ordinal);
        if (!string.IsNullOrEmpty(text))
            content.Add((JsonNode)new JsonObject { ["type"] = "text", ["text"] = text });
        var toolNumber = 0;
        foreach (var call in reply.ToolCalls ?? [])
            content.Add((JsonNode)new JsonObject { ["type"] = "tool_use", ["id"] = call.Id ?? $"toolu_{id[4..]}_{toolNumber++}", ["name"] = call.Name, ["input"] = call.Input.DeepClone() });
        var usage = reply.Usage ?? new ScriptedUsage();
        return new JsonObject
        {
            ["id"] = id, ["type"] = "message", ["role"] = "assistant", ["model"] = reply.Model ?? requestedModel, ["content"] = content,
            ["stop_reason"] = reply.StopReason ?? (reply.ToolCalls is { Count: > 0 } ? "tool_use" : "end_turn"), ["stop_sequence"] = null,
            ["usage"] = new JsonObject
            {
                ["input_tokens"] = usage.Input,
                ["cache_creation_input_tokens"] = usage.CacheCreation,
                ["cache_read_input_tokens"] = usage.CacheRead,
                ["output_tokens"] = usage.Output,
                ["service_tier"] = "batch",
            },
        };
    }

    private JsonObject BatchJson(ScriptedBatch batch)
    {
        var results = Ended(batch);
        var counts = new JsonObject { ["processing"] = 0, ["succeeded"] = 0, ["errored"] = 0, ["canceled"] = 0, ["expired"] = 0 };
        if (results is null)
            counts["processing"] = batch.Requests.Count;
        else
        {
            foreach (var group in results.GroupBy(r => (string)r["result"]!["type"]!))
                counts[group.Key] = group.Count();
        }
        var ended = results is not null;
        var status = ended ? "ended" : batch.CancelRequested ? "canceling" : "in_progress";
        return new JsonObject
        {
            ["id"] = batch.Id,
            ["type"] = "message_batch",
            ["processing_status"] = status,
            ["request_counts"] = counts,
            ["ended_at"] = ended ? batch.EndsAt.ToString("O", CultureInfo.InvariantCulture) : null,
            ["created_at"] = batch.Created.ToString("O", CultureInfo.InvariantCulture),
            ["expires_at"] = batch.Created.AddHours(24).ToString("O", CultureInfo.InvariantCulture),
            ["cancel_initiated_at"] = batch.CancelRequested ? batch.Created.ToString("O", CultureInfo.InvariantCulture) : null,
            ["results_url"] = ended ? new Uri(BaseUrl, $"/v1/messages/batches/{batch.Id}/results").ToString() : null,
        };
    }

    private static async Task WriteJsonAsync(HttpContext context, int status, JsonObject body)
    {
        context.Response.StatusCode = status;
        context.Response.ContentType = "application/json";
        await context.Response.WriteAsync(body.ToJsonString(), context.RequestAborted).ConfigureAwait(false);
    }
}
