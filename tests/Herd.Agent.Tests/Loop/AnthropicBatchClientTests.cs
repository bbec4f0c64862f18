using System.Text.Json.Nodes;
using Herd.Agent.Chat;
using Herd.Agent.Loop;
using Herd.Agent.Models;
using Herd.Testing;

namespace Herd.Agent.Tests.Loop;

/// <summary>Message Batches: the client against the scripted server (batch rounds of whole runs: BatchRunTests).</summary>
public sealed class AnthropicBatchClientTests : IAsyncLifetime
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
}
