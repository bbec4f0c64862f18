using System.Text.Json.Nodes;
using Herd.Agent.Chat;
using Herd.Agent.Models;
using Herd.Testing;

namespace Herd.Agent.Tests.Models;

/// <summary>The Chat Completions client against the scripted server's <c>/v1/chat/completions</c>.</summary>
public sealed class OpenAiChatClientTests : IAsyncLifetime
{
    private ScriptedModelServer _server = null!;

    public async Task InitializeAsync() => _server = await ScriptedModelServer.StartAsync();

    public async Task DisposeAsync() => await _server.DisposeAsync();

    private OpenAiChatClient Client(int maxRetries = 2) => new(new ModelClientOptions
    {
        Provider = ModelProvider.OpenAi,
        ApiKey = "sk-openai-test",
        BaseUrl = new Uri(_server.BaseUrl, "/v1"),
        MaxRetries = maxRetries,
        RetryBaseDelay = TimeSpan.FromMilliseconds(1),
    });

    private static readonly ToolSet Tools = new([new ToolSpec("Read", "Reads a file", new JsonObject { ["type"] = "object" })]);

    private static ModelRequest Request(params ChatMessage[] messages) => new("qwen2.5-coder", 512, "be brief", messages, Tools);

    [Fact]
    public async Task Streamed_tool_call_fragments_are_assembled_by_index_and_told_as_Messages_API_events()
    {
        // Given a reply with text and two tool calls, and a usage with cached tokens
        _server.Reset(ModelScript.Replies(new Reply
        {
            Text = "Reading both files now.",
            ToolCalls = [new ScriptedToolCall("Read", new JsonObject { ["file_path"] = "/tmp/a-rather-long-name.txt" }), new ScriptedToolCall("Read", new JsonObject { ["file_path"] = "/tmp/b.txt", ["limit"] = 5 })],
            Usage = new ScriptedUsage(Input: 100, Output: 20, CacheRead: 30),
        }));
        using var client = Client();
        var observer = new RecordingObserver();

        // When
        var response = await client.CreateMessageAsync(Request(ChatMessage.User(new TextBlock("read a and b"))), observer);

        // Then the reply is whole, in neutral blocks
        response.Content.Count.ShouldBe(3);
        response.Content[0].ShouldBe(new TextBlock("Reading both files now."));
        var first = response.Content[1].ShouldBeOfType<ToolUseBlock>();
        first.Name.ShouldBe("Read");
        first.Input.ToJsonString().ShouldBe("""{"file_path":"/tmp/a-rather-long-name.txt"}""");
        response.Content[2].ShouldBeOfType<ToolUseBlock>().Input.ToJsonString().ShouldBe("""{"file_path":"/tmp/b.txt","limit":5}""");
        response.StopReason.ShouldBe("tool_use");
        response.Usage.InputTokens.ShouldBe(100);
        response.Usage.CacheReadInputTokens.ShouldBe(30);
        response.Usage.OutputTokens.ShouldBe(20);
        response.Model.ShouldBe("qwen2.5-coder");
        // And the observer saw what Claude Code's stream-json shows
        var types = observer.Events.Select(e => (string?)JsonNode.Parse(e)!["type"]).ToList();
        types.First().ShouldBe("message_start");
        types.TakeLast(2).ShouldBe(["message_delta", "message_stop"]);
        types.Count(t => t == "content_block_start").ShouldBe(3);
        types.Count(t => t == "content_block_stop").ShouldBe(3);
        observer.Blocks.Select(b => (string?)b["type"]).ShouldBe(["text", "tool_use", "tool_use"]);
        ((string?)observer.Blocks[1]["id"]).ShouldBe(first.Id);
    }

    [Fact]
    public async Task The_request_is_a_streamed_chat_completion_with_function_tools_and_tool_messages_after_their_call()
    {
        // Given a conversation that called a tool
        _server.Reset(ModelScript.Replies(Reply.WithText("done")));
        using var client = Client();
        var history = new[]
        {
            ChatMessage.User(new TextBlock("memory"), new TextBlock("read a")),
            ChatMessage.Assistant(new ThinkingBlock("private", "sig"), new ToolUseBlock("call_1", "Read", new JsonObject { ["file_path"] = "a" })),
            ChatMessage.User(new ToolResultBlock("call_1", "alpha", false), new TextBlock("now answer")),
        };

        // When
        await client.CreateMessageAsync(Request(history), new RecordingObserver());

        // Then
        var sent = _server.Requests.Single();
        sent.Path.ShouldBe("/v1/chat/completions");
        sent.Headers["authorization"].ShouldBe("Bearer sk-openai-test");
        var body = sent.Json;
        ((bool)body["stream"]!).ShouldBeTrue();
        ((bool)body["stream_options"]!["include_usage"]!).ShouldBeTrue();
        ((int)body["max_tokens"]!).ShouldBe(512);
        var expected = JsonNode.Parse("""
            [{"role":"system","content":"be brief"},{"role":"user","content":"memory\n\nread a"},{"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function","function":{"name":"Read","arguments":"{\"file_path\":\"a\"}"}}]},{"role":"tool","tool_call_id":"call_1","content":"alpha"},{"role":"user","content":"now answer"}]
            """);
        JsonNode.DeepEquals(body["messages"], expected).ShouldBeTrue(body["messages"]!.ToJsonString());
        body["tools"]!.ToJsonString().ShouldBe("""[{"type":"function","function":{"name":"Read","description":"Reads a file","parameters":{"type":"object"}}}]""");
    }

    [Fact]
    public async Task A_503_is_retried_as_overloaded_and_a_429_as_rate_limited()
    {
        // Given two failures before the answer
        _server.Reset(ModelScript.Replies(Reply.Error(503, retryAfter: 0), Reply.Error(429, retryAfter: 0), Reply.WithText("ok")));
        using var client = Client();
        var observer = new RecordingObserver();

        // When
        var response = await client.CreateMessageAsync(Request(ChatMessage.User(new TextBlock("hi"))), observer);

        // Then
        response.Content.ShouldBe([new TextBlock("ok")]);
        observer.Retries.Select(r => (r.ErrorStatus, r.Error)).ShouldBe([(503, "overloaded"), (429, "rate_limit")]);

        // And without retries the kinds reach the caller (the fan-out's AIMD and fallback read them)
        _server.Reset(ModelScript.Replies(Reply.Error(503)));
        using var once = Client(maxRetries: 0);
        var failure = await Should.ThrowAsync<ModelApiException>(() => once.CreateMessageAsync(Request(ChatMessage.User(new TextBlock("hi"))), new RecordingObserver()));
        failure.Kind.ShouldBe(ModelErrorKind.Overloaded);
    }

    [Fact]
    public async Task A_stream_cut_before_its_finish_is_a_retryable_truncation()
    {
        _server.Reset(ModelScript.Replies(new Reply { Text = "this is cut", Truncate = true }));
        using var client = Client(maxRetries: 0);

        var failure = await Should.ThrowAsync<ModelApiException>(() => client.CreateMessageAsync(Request(ChatMessage.User(new TextBlock("hi"))), new RecordingObserver()));

        failure.Kind.ShouldBe(ModelErrorKind.Truncated);
        failure.IsRetryable.ShouldBeTrue();
    }

    private sealed class RecordingObserver : IModelStreamObserver
    {
        public List<string> Events { get; } = [];
        public List<JsonObject> Blocks { get; } = [];
        public List<ApiRetryInfo> Retries { get; } = [];

        public void OnStreamEvent(string rawJson) => Events.Add(rawJson);

        public void OnContentBlock(string messageId, string model, Usage startUsage, JsonObject block) => Blocks.Add(block);

        public void OnRetry(ApiRetryInfo retry) => Retries.Add(retry);
    }
}
