using System.Text;
using System.Text.Json.Nodes;
using Herd.Agent.Chat;
using Herd.Agent.Loop;
using Herd.Agent.Models;
using Herd.Agent.Tools;

namespace Herd.Agent.Tests.Models;

public sealed class AnthropicWireTests
{
    [Fact]
    public void A_transcript_message_reads_into_neutral_blocks_and_writes_back_as_Claude_Code_stores_it()
    {
        // Given a transcript's assistant and user messages, with a block Herd has no record for
        var assistant = JsonNode.Parse("""{"role":"assistant","content":[{"type":"thinking","thinking":"hm","signature":"sig"},{"type":"text","text":"yo"},{"type":"tool_use","id":"t1","name":"Bash","input":{"command":"ls"}},{"type":"redacted_thinking","data":"xyz"}]}""")!.AsObject();
        var user = JsonNode.Parse("""{"role":"user","content":[{"tool_use_id":"t1","type":"tool_result","content":"a\nb","is_error":true}]}""")!.AsObject();

        // When
        var a = AnthropicWire.MessageFromJson(assistant);
        var u = AnthropicWire.MessageFromJson(user);

        // Then
        a.ShouldBe(ChatMessage.Assistant(
            new ThinkingBlock("hm", "sig"), new TextBlock("yo"), new ToolUseBlock("t1", "Bash", new JsonObject { ["command"] = "ls" }),
            new ProviderBlock(AnthropicWire.Provider, JsonNode.Parse("""{"type":"redacted_thinking","data":"xyz"}""")!.AsObject())));
        u.ShouldBe(ChatMessage.User(new ToolResultBlock("t1", "a\nb", IsError: true)));
        AnthropicWire.ToJson(a).ToJsonString().ShouldBe(assistant.ToJsonString());
        AnthropicWire.ToJson(u).ToJsonString().ShouldBe(user.ToJsonString());
    }

    [Fact]
    public void A_string_prompt_and_text_only_tool_results_become_text()
    {
        AnthropicWire.MessageFromJson(JsonNode.Parse("""{"role":"user","content":"hi"}""")!.AsObject()).ShouldBe(ChatMessage.User(new TextBlock("hi")));
        var parts = JsonNode.Parse("""{"role":"user","content":[{"type":"tool_result","tool_use_id":"t","content":[{"type":"text","text":"a"},{"type":"text","text":"b"}]}]}""")!.AsObject();
        AnthropicWire.MessageFromJson(parts).ShouldBe(ChatMessage.User(new ToolResultBlock("t", "ab", false)));
    }

    [Fact]
    public void The_body_marks_the_system_prompt_and_the_last_user_block_for_the_prompt_cache()
    {
        // Given a conversation of three messages
        var tools = new ToolSet([new ToolSpec("T", "d", new JsonObject { ["type"] = "object" })]);
        ChatMessage[] messages =
        [
            ChatMessage.User(new TextBlock("hi")),
            ChatMessage.Assistant(new ToolUseBlock("t", "T", new JsonObject { ["x"] = 1 })),
            ChatMessage.User(new ToolResultBlock("t", "out", true), new TextBlock("more")),
        ];

        // When
        var body = Encoding.UTF8.GetString(AnthropicWire.WriteRequest(new ModelRequest("m", 100, "sys", messages, tools)));

        // Then
        body.ShouldBe("""
            {"model":"m","max_tokens":100,"stream":true,"system":[{"type":"text","text":"sys","cache_control":{"type":"ephemeral"}}],"messages":[{"role":"user","content":"hi"},{"role":"assistant","content":[{"type":"tool_use","id":"t","name":"T","input":{"x":1}}]},{"role":"user","content":[{"type":"tool_result","tool_use_id":"t","content":"out","is_error":true},{"type":"text","text":"more","cache_control":{"type":"ephemeral"}}]}],"tools":[{"name":"T","description":"d","input_schema":{"type":"object"}}]}
            """);
        AnthropicWire.WriteRequest(new ModelRequest("m", 100, null, messages[..1], ToolSet.Empty), stream: false).ShouldBe(
            Encoding.UTF8.GetBytes("""{"model":"m","max_tokens":100,"messages":[{"role":"user","content":[{"type":"text","text":"hi","cache_control":{"type":"ephemeral"}}]}]}"""));
    }

    [Fact]
    public void A_client_writes_a_body_once_and_a_copy_with_other_fields_gets_its_own()
    {
        using var client = new AnthropicMessagesClient(new ModelClientOptions { ApiKey = "k" });
        var request = new ModelRequest("m1", 100, null, [ChatMessage.User(new TextBlock("hi"))], ToolSet.Empty);
        var length = client.MeasureRequest(request);
        length.ShouldBe(AnthropicWire.WriteRequest(request).Length);

        var other = request with { Model = "model-two", MaxTokens = 2048 };
        client.MeasureRequest(other).ShouldBe(length + "model-two".Length - "m1".Length + "2048".Length - "100".Length);
        other.ShouldBe(request with { Model = "model-two", MaxTokens = 2048 }); // the written body takes no part in equality
    }

    [Fact]
    public void Tool_definitions_are_built_once_per_tool_list_and_offered_subset_and_written_once_per_provider()
    {
        var all = ToolRegistry.BuiltIns();
        var a = ToolDefinitions.For(all, all.Reverse(), null);
        var b = ToolDefinitions.For(all, all, null);
        b.ShouldBeSameAs(a);
        a.Names.ShouldBe(all.Select(t => t.Name).OrderBy(n => n, StringComparer.Ordinal));
        a.Set.WireFormat("p", _ => [1]).ShouldBeSameAs(b.Set.WireFormat("p", _ => [2]));

        var subset = ToolDefinitions.For(all, all.Take(2), null);
        subset.ShouldNotBeSameAs(a);
        subset.Names.Count.ShouldBe(2);
        var schema = new JsonObject { ["type"] = "object" };
        var structured = ToolDefinitions.For(all, all, schema);
        structured.Names[^1].ShouldBe(AgentSession.StructuredOutputToolName);
        ToolDefinitions.For(all, all, schema).ShouldBeSameAs(structured);
        ToolDefinitions.For(all, all, new JsonObject { ["type"] = "object" }).ShouldNotBeSameAs(structured);
    }
}
