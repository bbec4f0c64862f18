using System.Text.Json.Nodes;
using Herd.Agent.Chat;
using Herd.Agent.Loop;
using Herd.Agent.Models;
using Herd.Testing;

namespace Herd.Agent.Tests.Loop;

/// <summary>Message Batches: the client against the scripted server, and conversations advanced in batch rounds.</summary>
public sealed class BatchRoundsTests : IAsyncLifetime
{
    private const int Tasks = 20;
    private readonly TempDirectory _work = new();
    private ScriptedModelServer _server = null!;
    private ModelClientOptions _connection = null!;

    public async Task InitializeAsync()
    {
        _server = await ScriptedModelServer.StartAsync();
        _connection = new ModelClientOptions { ApiKey = "sk-test", BaseUrl = _server.BaseUrl, RetryBaseDelay = TimeSpan.FromMilliseconds(1) };
    }

    public async Task DisposeAsync()
    {
        await _server.DisposeAsync();
        _work.Dispose();
    }

    private AgentOptions Options() => TestAgentOptions.In(_work.Path);

    /// <summary>Each task reads its file, then answers; <paramref name="seeded"/> fails the first two requests of the first batch.</summary>
    private ModelScript Script(int processingMs, params Reply[] seeded) => new()
    {
        BatchProcessingMs = processingMs,
        Queue = seeded,
        Conversations = Enumerable.Range(0, Tasks).Select(i => new Conversation($"task-{i:00} ", [
            new Reply { ToolCalls = [new ScriptedToolCall("Read", new JsonObject { ["file_path"] = _work.WriteFile($"f{i}.txt", $"line of {i}\n") }, $"toolu_{i}")], Usage = new ScriptedUsage(1000, 50) },
            new Reply { Text = $"done {i}", Usage = new ScriptedUsage(1200, 20, CacheRead: 900) },
        ])).ToArray(),
    };

    private static string Prompt(int i) => $"task-{i:00} read your file";

    [Fact]
    public async Task A_batch_is_created_polled_listed_and_its_results_matched_by_custom_id_and_a_cancelled_one_bills_nothing()
    {
        // Given a batch that takes a while
        _server.Reset(Script(processingMs: 60_000));
        using var client = new AnthropicBatchClient(_connection);
        var request = new ModelRequest("claude-sonnet-4-5", 100, null, [ChatMessage.User(new TextBlock(Prompt(1)))], ToolSet.Empty);

        // When it is created and cancelled
        var created = await client.CreateAsync([new BatchRequest("a-t1", request), new BatchRequest("b-t1", request)]);
        var listed = await client.ListAsync();
        var cancelled = await client.CancelAsync(created.Id);

        // Then
        created.Status.ShouldBe(BatchStatus.InProgress);
        created.Counts.Processing.ShouldBe(2);
        listed.Select(b => b.Id).ShouldBe([created.Id]);
        cancelled.Status.ShouldBe(BatchStatus.Ended);
        cancelled.Counts.Canceled.ShouldBe(2);
        (await client.ResultsAsync(created.Id)).Select(r => (r.CustomId, r.Kind)).OrderBy(r => r.CustomId)
            .ShouldBe([("a-t1", BatchResultKind.Canceled), ("b-t1", BatchResultKind.Canceled)]);
        _server.Served.ShouldBeEmpty();
        // And the API's rules on custom_id are the server's too
        var invalid = await Should.ThrowAsync<ModelApiException>(() => client.CreateAsync([new BatchRequest("no spaces", request)]));
        invalid.Status.ShouldBe(400);
    }

    [Fact]
    public async Task Twenty_tasks_advanced_in_batch_rounds_with_an_errored_and_an_expired_request_end_with_every_result_at_half_the_live_cost()
    {
        // Given the live cost of each task
        _server.Reset(Script(processingMs: 0));
        using var live = new AnthropicMessagesClient(_connection);
        var liveResults = new List<AgentResult>();
        for (var i = 0; i < Tasks; i++)
            liveResults.Add(await new AgentSession(live, Options(), Guid.NewGuid().ToString()).RunAsync(JsonValue.Create(Prompt(i)), new Discard()));

        // When the same tasks run in batch rounds, the first batch's first request errored and its second expired
        _server.Reset(Script(processingMs: 150, new Reply { Status = 500 }, new Reply { Expired = true }));
        using var batches = new AnthropicBatchClient(_connection);
        var tasks = Enumerable.Range(0, Tasks)
            .Select(i => new BatchTask($"task-{i:00}", new AgentSession(live, Options(), Guid.NewGuid().ToString()), JsonValue.Create(Prompt(i)), new Discard()))
            .ToArray();
        var seen = new List<BatchRoundProgress>();
        var results = await new BatchRounds(batches, TimeProvider.System, new BatchRoundOptions { PollInitial = TimeSpan.FromMilliseconds(50) })
            .RunAsync(tasks, new Progress(seen));

        // Then every task ended once, as it did live, at half the price
        results.Count.ShouldBe(Tasks);
        for (var i = 0; i < Tasks; i++)
        {
            var result = results[$"task-{i:00}"];
            result.IsError.ShouldBeFalse(result.Result);
            result.Result.ShouldBe($"done {i}");
            result.NumTurns.ShouldBe(liveResults[i].NumTurns);
            result.TotalCostUsd.ShouldBe(liveResults[i].TotalCostUsd * 0.5, 1e-12);
        }
        // And three rounds went by: all first calls, then the second calls and the two retried first calls, then their second calls
        _server.BatchIds.Count.ShouldBe(3);
        seen.Select(p => p.Round).Distinct().ShouldBe([1, 2, 3]);
        seen.ShouldContain(p => p.Status == BatchStatus.InProgress);
        var served = _server.Served.Where(s => s.Batch).ToArray();
        served.Count(s => s.Completed).ShouldBe(2 * Tasks);
        served.Count(s => !s.Completed).ShouldBe(2);
        _server.Requests.Count(r => r.Path == "/v1/messages").ShouldBe(2 * Tasks); // the live run's only
    }

    private sealed class Discard : IAgentEventSink
    {
        public void OnEvent(AgentEvent agentEvent)
        {
        }
    }

    /// <summary>Collects progress synchronously (Progress&lt;T&gt; would post to the thread pool).</summary>
    private sealed class Progress(List<BatchRoundProgress> seen) : IProgress<BatchRoundProgress>
    {
        public void Report(BatchRoundProgress value)
        {
            lock (seen)
                seen.Add(value);
        }
    }
}
