using System.Text.Json.Nodes;
using Herd.Agent.Models;

namespace Herd.Agent.Loop;

/// <summary>One conversation advanced by <see cref="BatchRounds"/>: its key names it in custom_ids.</summary>
public sealed record BatchTask(string Key, AgentSession Session, JsonNode Prompt, IAgentEventSink Sink);

/// <summary>Where a round stands: what a progress line shows.</summary>
public sealed record BatchRoundProgress(int Round, string BatchId, BatchStatus Status, BatchRequestCounts Counts, int ActiveTasks);

/// <summary>How <see cref="BatchRounds"/> polls and retries. Documented defaults.</summary>
public sealed record BatchRoundOptions
{
    /// <value>The first wait before asking whether a batch has ended; doubled after each ask. Default 5 s.</value>
    public TimeSpan PollInitial { get; init; } = TimeSpan.FromSeconds(5);

    /// <value>The longest wait between asks. Default 60 s.</value>
    public TimeSpan PollMax { get; init; } = TimeSpan.FromSeconds(60);

    /// <value>Rounds a task's request may be sent again after a retryable error or an expiry. Default 3.</value>
    public int MaxRetries { get; init; } = 3;
}

/// <summary>
/// Turn-synchronous rounds over Message Batches: each round, every active conversation's next model call goes into
/// one batch (split beyond the API's limits); the batch is polled with backoff on the injected clock; each result is
/// matched by custom_id and applied to its session (at the batch rate, half the standard price), whose tools then run —
/// all sessions at once — until the next round. A request that errored retryably, expired or was canceled goes again
/// next round, at most <see cref="BatchRoundOptions.MaxRetries"/> times; any other error ends its conversation.
/// </summary>
/// <remarks>It holds no run store: a caller that must survive a crash keeps the batch ids and saved sessions itself.</remarks>
public sealed class BatchRounds(AnthropicBatchClient client, TimeProvider time, BatchRoundOptions? options = null)
{
    /// <summary>Batches bill every request at this fraction of the standard price.</summary>
    public const double PriceFactor = 0.5;

    private readonly BatchRoundOptions _options = options ?? new BatchRoundOptions();

    /// <returns>Each task's result, by key.</returns>
    public async Task<IReadOnlyDictionary<string, AgentResult>> RunAsync(
        IReadOnlyList<BatchTask> tasks, IProgress<BatchRoundProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        var results = new Dictionary<string, AgentResult>(StringComparer.Ordinal);
        var active = new Dictionary<string, (BatchTask Task, AgentStep Step, int Calls, int Retries)>(StringComparer.Ordinal);
        foreach (var task in tasks)
        {
            var step = task.Session.Begin(task.Prompt, task.Sink);
            if (step.Result is { } ended)
                results[task.Key] = ended;
            else
                active[task.Key] = (task, step, 0, 0);
        }
        for (var round = 1; active.Count > 0; round++)
        {
            // The call number makes every custom_id of a task unique across rounds, retries included.
            var byId = new Dictionary<string, string>(StringComparer.Ordinal);
            var requests = new List<BatchRequest>(active.Count);
            foreach (var (key, entry) in active)
            {
                var id = AnthropicBatchClient.CustomId(key, entry.Calls + 1);
                byId[id] = key;
                requests.Add(new BatchRequest(id, entry.Step.Request!));
                active[key] = entry with { Calls = entry.Calls + 1 };
            }
            var answered = new List<BatchResult>(requests.Count);
            foreach (var chunk in AnthropicBatchClient.Split(requests))
                answered.AddRange(await RunBatchAsync(chunk, round, active.Count, progress, cancellationToken).ConfigureAwait(false));
            // A request the results do not mention is as good as expired: it goes again.
            var missing = byId.Keys.Except(answered.Select(r => r.CustomId)).Select(id => new BatchResult(id, BatchResultKind.Expired, null,
                new ModelApiException(ModelErrorKind.ServerError, "The batch returned no result for this request", errorType: "expired")));
            var outcomes = await Task.WhenAll(answered.Concat(missing).Where(r => byId.ContainsKey(r.CustomId)).Select(async r =>
            {
                var key = byId[r.CustomId];
                var entry = active[key];
                if (r.Response is { } response)
                    return (key, entry with { Step = await entry.Task.Session.ApplyAsync(response, cancellationToken, PriceFactor).ConfigureAwait(false), Retries = 0 });
                var error = r.Error!;
                if ((error.IsRetryable || r.Kind is BatchResultKind.Expired or BatchResultKind.Canceled) && entry.Retries < _options.MaxRetries)
                    return (key, entry with { Retries = entry.Retries + 1 });
                return (key, entry with { Step = entry.Task.Session.Fail(error) });
            })).ConfigureAwait(false);
            foreach (var (key, entry) in outcomes)
            {
                if (entry.Step.Result is { } done)
                {
                    results[key] = done;
                    active.Remove(key);
                }
                else
                {
                    active[key] = entry;
                }
            }
        }
        return results;
    }

    private async Task<IReadOnlyList<BatchResult>> RunBatchAsync(
        IReadOnlyList<BatchRequest> requests, int round, int activeTasks, IProgress<BatchRoundProgress>? progress, CancellationToken cancellationToken)
    {
        var batch = await client.CreateAsync(requests, cancellationToken).ConfigureAwait(false);
        progress?.Report(new BatchRoundProgress(round, batch.Id, batch.Status, batch.Counts, activeTasks));
        var wait = _options.PollInitial;
        while (batch.Status != BatchStatus.Ended)
        {
            await Task.Delay(wait, time, cancellationToken).ConfigureAwait(false);
            wait = wait * 2 < _options.PollMax ? wait * 2 : _options.PollMax;
            batch = await client.GetAsync(batch.Id, cancellationToken).ConfigureAwait(false);
            progress?.Report(new BatchRoundProgress(round, batch.Id, batch.Status, batch.Counts, activeTasks));
        }
        return await client.ResultsAsync(batch.Id, cancellationToken).ConfigureAwait(false);
    }
}
