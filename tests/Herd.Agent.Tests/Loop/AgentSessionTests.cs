using System.Text.Json.Nodes;
using Herd.Agent.Loop;
using Herd.Agent.Models;
using Herd.Testing;

namespace Herd.Agent.Tests.Loop;

public sealed class AgentSessionTests : IAsyncLifetime
{
    private readonly TempDirectory _work = new();
    private ScriptedModelServer _server = null!;
    private AnthropicMessagesClient _client = null!;

    public async Task InitializeAsync()
    {
        _server = await ScriptedModelServer.StartAsync(new ModelScript { Default = Reply.WithText("ok") });
        _client = new AnthropicMessagesClient(new ModelClientOptions { ApiKey = "sk-test", BaseUrl = _server.BaseUrl, RetryBaseDelay = TimeSpan.FromMilliseconds(1) });
    }

    public async Task DisposeAsync()
    {
        _client.Dispose();
        await _server.DisposeAsync();
        _work.Dispose();
    }

    private AgentOptions Options() => TestAgentOptions.In(_work.Path);

    private sealed class Collect : IAgentEventSink
    {
        public List<AgentEvent> Events { get; } = [];

        public void OnEvent(AgentEvent agentEvent) => Events.Add(agentEvent);
    }

    [Fact]
    public async Task A_history_that_ends_with_a_user_message_is_merged_with_the_new_prompt()
    {
        // A transcript whose last line is a prompt another process had just written (concurrent resumes).
        JsonObject[] history =
        [
            new() { ["role"] = "user", ["content"] = "first" },
            new() { ["role"] = "assistant", ["content"] = new JsonArray((JsonNode)new JsonObject { ["type"] = "text", ["text"] = "hi" }) },
            new() { ["role"] = "user", ["content"] = new JsonArray((JsonNode)new JsonObject { ["type"] = "text", ["text"] = "dangling" }) },
        ];
        var session = new AgentSession(_client, Options(), Guid.NewGuid().ToString(), history);

        var result = await session.RunAsync(JsonValue.Create("second"), new Collect());

        result.IsError.ShouldBeFalse();
        var sent = _server.Requests.Single().Json["messages"]!.AsArray();
        sent.Count.ShouldBe(3);
        sent[2]!["content"]!.AsArray().Select(b => (string?)b!["text"]).ShouldBe(["dangling", "second"]);
    }

    [Fact]
    public async Task Tool_calls_left_without_results_are_answered_as_interrupted_on_resume()
    {
        JsonObject[] history =
        [
            new() { ["role"] = "user", ["content"] = "go" },
            new()
            {
                ["role"] = "assistant",
                ["content"] = new JsonArray((JsonNode)new JsonObject { ["type"] = "tool_use", ["id"] = "toolu_1", ["name"] = "Read", ["input"] = new JsonObject() }),
            },
        ];
        var session = new AgentSession(_client, Options(), Guid.NewGuid().ToString(), history);

        await session.RunAsync(JsonValue.Create("continue"), new Collect());

        var last = _server.Requests.Single().Json["messages"]!.AsArray()[^1]!["content"]!.AsArray();
        ((string?)last[0]!["type"]).ShouldBe("tool_result");
        ((string?)last[0]!["tool_use_id"]).ShouldBe("toolu_1");
        ((string?)last[1]!["text"]).ShouldBe("continue");
    }

    [Fact]
    public async Task A_shared_ledger_stops_a_session_before_a_call_that_could_cross_it()
    {
        var ledger = new SpendLedger(0.01);
        var session = new AgentSession(_client, Options() with { SharedLedgers = [ledger] }, Guid.NewGuid().ToString());

        var result = await session.RunAsync(JsonValue.Create("hi"), new Collect());

        // $0.01 cannot hold even 1024 output tokens at $15/MTok plus the input bound.
        result.Subtype.ShouldBe(ResultSubtype.MaxBudget);
        _server.RequestCount.ShouldBe(0);
        ledger.ReservedUsd.ShouldBe(0);
    }

    [Fact]
    public async Task A_shared_ledger_holds_the_reservation_during_the_call_and_settles_to_the_actual_cost()
    {
        // Half a dollar cannot hold a full 64k-token reply ($0.96), so max_tokens is lowered to fit.
        var ledger = new SpendLedger(0.5);
        var session = new AgentSession(_client, Options() with { SharedLedgers = [ledger] }, Guid.NewGuid().ToString());

        var result = await session.RunAsync(JsonValue.Create("hi"), new Collect());

        result.IsError.ShouldBeFalse();
        ledger.SpentUsd.ShouldBe(result.TotalCostUsd, 1e-12);
        ledger.ReservedUsd.ShouldBe(0, 1e-12);
        ((int)_server.Requests.Single().Json["max_tokens"]!).ShouldBeLessThan(64000);
    }

    private sealed class SignalOnRequest : IAgentEventSink
    {
        public TaskCompletionSource Requesting { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public void OnEvent(AgentEvent agentEvent)
        {
            if (agentEvent is StatusEvent { Status: "requesting" })
                Requesting.TrySetResult();
        }
    }

    [Fact]
    public async Task The_run_timeout_is_measured_on_the_injected_clock()
    {
        // Given a model that takes ten real minutes to answer and a ten-minute --timeout on a fake clock
        _server.Reset(new ModelScript { Default = Reply.WithText("late") with { LatencyMs = 600_000 } });
        var clock = new Microsoft.Extensions.Time.Testing.FakeTimeProvider();
        var session = new AgentSession(_client, Options() with { Timeout = TimeSpan.FromMinutes(10), TimeProvider = clock }, Guid.NewGuid().ToString());
        var sink = new SignalOnRequest();

        // When the call is under way and the fake clock passes ten minutes
        var run = session.RunAsync(JsonValue.Create("hi"), sink);
        await sink.Requesting.Task.WaitAsync(TimeSpan.FromSeconds(30));
        clock.Advance(TimeSpan.FromMinutes(10));
        var result = await run.WaitAsync(TimeSpan.FromSeconds(30));

        // Then the run ends as timed out, without waiting ten real minutes
        result.Subtype.ShouldBe(ResultSubtype.DuringExecution);
        result.Errors.ShouldBe(["Timed out after 10m"]);
    }

    [Fact]
    public async Task Memory_text_goes_before_the_first_prompt_of_a_new_conversation_only()
    {
        var options = Options() with { MemoryText = "<system-reminder>\nremember\n</system-reminder>" };
        var session = new AgentSession(_client, options, Guid.NewGuid().ToString());

        await session.RunAsync(JsonValue.Create("first"), new Collect());
        await session.RunAsync(JsonValue.Create("second"), new Collect());

        var sent = _server.Requests[^1].Json["messages"]!.AsArray();
        sent[0]!["content"]!.AsArray().Select(b => (string?)b!["text"]).ShouldBe(["<system-reminder>\nremember\n</system-reminder>", "first"]);
        sent[2]!["content"]!.AsArray().Select(b => (string?)b!["text"]).ShouldBe(["second"]);
    }
}
