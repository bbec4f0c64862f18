using System.Text.Json.Nodes;
using Herd.Agent.Loop;
using Herd.Agent.Models;
using Herd.Testing;

namespace Herd.Agent.Tests.Loop;

/// <summary>A session advanced one model call at a time by its caller, saved between steps and resumed elsewhere.</summary>
public sealed class SteppedSessionTests : IAsyncLifetime
{
    private readonly TempDirectory _work = new();
    private ScriptedModelServer _server = null!;
    private AnthropicMessagesClient _client = null!;

    public async Task InitializeAsync()
    {
        var a = _work.WriteFile("a.txt", "alpha\n");
        var b = _work.WriteFile("b.txt", "beta\ngamma\n");
        // Fixed tool ids and usages, so two runs of the script are byte for byte the same conversation.
        _server = await ScriptedModelServer.StartAsync(new ModelScript
        {
            Conversations =
            [
                new Conversation("count the lines", [
                    new Reply { ToolCalls = [new ScriptedToolCall("Read", new JsonObject { ["file_path"] = a }, "toolu_a")], Usage = new ScriptedUsage(100, 10) },
                    new Reply { ToolCalls = [new ScriptedToolCall("Read", new JsonObject { ["file_path"] = b }, "toolu_b")], Usage = new ScriptedUsage(200, 20, CacheRead: 90) },
                    new Reply { Text = "Three lines in all.", Usage = new ScriptedUsage(300, 30, CacheRead: 180) },
                ]),
            ],
        });
        _client = new AnthropicMessagesClient(new ModelClientOptions { ApiKey = "sk-test", BaseUrl = _server.BaseUrl, RetryBaseDelay = TimeSpan.FromMilliseconds(1) });
    }

    public async Task DisposeAsync()
    {
        _client.Dispose();
        await _server.DisposeAsync();
        _work.Dispose();
    }

    private AgentOptions Options() => TestAgentOptions.In(_work.Path);

    [Fact]
    public async Task A_session_stepped_saved_and_resumed_mid_run_continues_identically()
    {
        // Given the query run in one go
        var sessionId = Guid.NewGuid().ToString();
        var whole = new Collect();
        var live = new AgentSession(_client, Options(), sessionId);
        var expected = await live.RunAsync(JsonValue.Create("count the lines"), whole);
        var liveBodies = _server.Requests.Select(r => r.Body).ToArray();

        // When the same query is stepped once, saved as JSON, and resumed in a new session that finishes it
        var before = new Collect();
        var stepped = new AgentSession(_client, Options(), sessionId);
        var step = stepped.Begin(JsonValue.Create("count the lines"), before);
        step = await stepped.ApplyAsync(await _client.CreateMessageAsync(step.Request!, new Discard()));
        step.IsDone.ShouldBeFalse();
        var saved = stepped.Save().ToJson();

        var after = new Collect();
        var (resumed, next) = AgentSession.Resume(_client, Options(), AgentSessionState.Parse(saved), after);
        while (!next.IsDone)
            next = await resumed.ApplyAsync(await _client.CreateMessageAsync(next.Request!, new Discard()));

        // Then it sent the same requests, ended with the same conversation and the same result
        _server.Requests.Skip(liveBodies.Length).Select(r => r.Body).ShouldBe(liveBodies);
        resumed.History.ShouldBe(live.History);
        var actual = next.Result!;
        (actual.Subtype, actual.IsError, actual.NumTurns, actual.Result, actual.StopReason, actual.Usage, actual.TotalCostUsd)
            .ShouldBe((expected.Subtype, expected.IsError, expected.NumTurns, expected.Result, expected.StopReason, expected.Usage, expected.TotalCostUsd));
        actual.ModelUsage.ShouldBe(expected.ModelUsage);
        actual.NumTurns.ShouldBe(3);
        // And it told the same story, except for the raw stream events a stepping caller does not forward
        before.Kinds.Concat(after.Kinds).ShouldBe(whole.Kinds.Where(k => k != nameof(StreamEvent)));
    }

    [Fact]
    public async Task A_failed_step_ends_the_query_with_the_API_error_and_a_session_steps_one_query_at_a_time()
    {
        var session = new AgentSession(_client, Options(), Guid.NewGuid().ToString());
        var events = new Collect();
        var step = session.Begin(JsonValue.Create("count the lines"), events);
        Should.Throw<InvalidOperationException>(() => session.Begin(JsonValue.Create("again"), events));

        var done = session.Fail(new ModelApiException(ModelErrorKind.Overloaded, "Overloaded", 529, "overloaded_error"));

        step.Request.ShouldNotBeNull();
        done.IsDone.ShouldBeTrue();
        done.Result!.IsError.ShouldBeTrue();
        done.Result.Result.ShouldBe("API Error: 529 Overloaded");
        events.Kinds[^2..].ShouldBe([nameof(ApiErrorMessageEvent), nameof(ResultEvent)]);
        await Should.ThrowAsync<InvalidOperationException>(() => session.ApplyAsync(null!));
        _server.RequestCount.ShouldBe(0);
    }

    private sealed class Collect : IAgentEventSink
    {
        public List<string> Kinds { get; } = [];

        public void OnEvent(AgentEvent agentEvent) => Kinds.Add(agentEvent.GetType().Name);
    }

    private sealed class Discard : IModelStreamObserver
    {
        public void OnStreamEvent(string rawJson)
        {
        }

        public void OnContentBlock(string messageId, string model, Usage startUsage, JsonObject block)
        {
        }

        public void OnRetry(ApiRetryInfo retry)
        {
        }
    }
}
