using System.Buffers;
using System.Text.Json;
using System.Text.Json.Nodes;
using Herd.Agent.Loop;
using Herd.Agent.Models;
using Herd.Agent.Tools;

namespace Herd.Agent.Tests.Models;

public sealed class ModelRequestTests
{
    public static TheoryData<string> Conversations() => new()
    {
        """[{"role":"user","content":"hi"}]""",
        """[{"role":"user","content":"hi"},{"role":"assistant","content":[{"type":"text","text":"yo"}]},{"role":"user","content":[{"type":"tool_result","tool_use_id":"t1","content":"x","is_error":true},{"type":"text","text":"more","cache_control":{"type":"old"},"z":null}]}]""",
        """[{"role":"user","content":[{"type":"text","text":"a"}]},{"role":"assistant","content":[{"type":"tool_use","id":"t","name":"Bash","input":{"command":"ls"}}]}]""",
        """[{"content":"first the content","role":"user","extra":[1,2,null]}]""",
        """[{"role":"user","content":[]}]""",
    };

    [Theory]
    [MemberData(nameof(Conversations))]
    public void Body_is_byte_identical_to_the_clone_and_mark_serialisation_and_leaves_history_untouched(string messagesJson)
    {
        var messages = JsonNode.Parse(messagesJson)!.AsArray().Select(m => m!.AsObject()).ToList();
        var system = new JsonArray(new JsonObject { ["type"] = "text", ["text"] = "sys" }, new JsonObject { ["type"] = "text", ["text"] = "sys2", ["cache_control"] = new JsonObject { ["type"] = "x" } });
        var tools = new JsonArray(new JsonObject { ["name"] = "T", ["description"] = "d", ["input_schema"] = new JsonObject { ["type"] = "object" } });
        var before = string.Join("|", messages.Select(m => m.ToJsonString()));

        var nodes = new ModelRequest("m", 100, system, messages, tools);
        var raw = nodes with { ToolsJson = JsonSerializerBytes(tools) };

        nodes.ToJsonBytes().ShouldBe(Reference(nodes));
        raw.ToJsonBytes().ShouldBe(Reference(nodes));
        string.Join("|", messages.Select(m => m.ToJsonString())).ShouldBe(before);
    }

    [Fact]
    public void Body_is_serialised_once_and_a_copy_with_other_fields_gets_its_own()
    {
        var messages = new List<JsonObject> { new() { ["role"] = "user", ["content"] = "hi" } };
        var request = new ModelRequest("m1", 100, null, messages, null);
        var first = request.ToJsonBytes();
        request.ToJsonBytes().ShouldBeSameAs(first);
        request.BodyLength.ShouldBe(first.Length);

        var other = request with { Model = "m2", MaxTokens = 2048 };
        var body = JsonDocument.Parse(other.ToJsonBytes()).RootElement;
        body.GetProperty("model").GetString().ShouldBe("m2");
        body.GetProperty("max_tokens").GetInt32().ShouldBe(2048);
        other.ShouldBe(request with { Model = "m2", MaxTokens = 2048 }); // the cached body takes no part in equality
    }

    [Fact]
    public void Tool_definitions_are_built_once_per_tool_list_and_offered_subset()
    {
        var all = ToolRegistry.BuiltIns();
        var a = ToolDefinitions.For(all, all.Reverse(), null);
        var b = ToolDefinitions.For(all, all, null);
        b.ShouldBeSameAs(a);
        a.Names.ShouldBe(all.Select(t => t.Name).OrderBy(n => n, StringComparer.Ordinal));
        a.Json.ShouldBe(JsonSerializerBytes(a.Definitions));

        var subset = ToolDefinitions.For(all, all.Take(2), null);
        subset.ShouldNotBeSameAs(a);
        subset.Names.Count.ShouldBe(2);
        var schema = new JsonObject { ["type"] = "object" };
        var structured = ToolDefinitions.For(all, all, schema);
        structured.Names[^1].ShouldBe(AgentSession.StructuredOutputToolName);
        ToolDefinitions.For(all, all, schema).ShouldBeSameAs(structured);
        ToolDefinitions.For(all, all, new JsonObject { ["type"] = "object" }).ShouldNotBeSameAs(structured);
    }

    private static byte[] JsonSerializerBytes(JsonNode node)
    {
        var buffer = new ArrayBufferWriter<byte>();
        using (var w = new Utf8JsonWriter(buffer))
            node.WriteTo(w);
        return buffer.WrittenSpan.ToArray();
    }

    /// <summary>The previous implementation: deep-clone the marked nodes, set cache_control, write the clones.</summary>
    private static byte[] Reference(ModelRequest r)
    {
        var buffer = new ArrayBufferWriter<byte>();
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            w.WriteString("model", r.Model);
            w.WriteNumber("max_tokens", r.MaxTokens);
            w.WriteBoolean("stream", true);
            if (r.System is { Count: > 0 })
            {
                w.WritePropertyName("system");
                w.WriteStartArray();
                for (var i = 0; i < r.System.Count; i++)
                {
                    if (i == r.System.Count - 1 && r.System[i] is JsonObject last)
                    {
                        var copy = (JsonObject)last.DeepClone();
                        copy["cache_control"] = new JsonObject { ["type"] = "ephemeral" };
                        copy.WriteTo(w);
                    }
                    else
                    {
                        r.System[i]!.WriteTo(w);
                    }
                }
                w.WriteEndArray();
            }
            w.WritePropertyName("messages");
            w.WriteStartArray();
            var lastUser = -1;
            for (var i = r.Messages.Count - 1; i >= 0; i--)
            {
                if ((string?)r.Messages[i]["role"] == "user")
                {
                    lastUser = i;
                    break;
                }
            }
            for (var i = 0; i < r.Messages.Count; i++)
            {
                if (i != lastUser)
                {
                    r.Messages[i].WriteTo(w);
                    continue;
                }
                var copy = (JsonObject)r.Messages[i].DeepClone();
                var content = copy["content"];
                if (content is JsonValue v && v.TryGetValue<string>(out var text))
                    copy["content"] = new JsonArray(new JsonObject { ["type"] = "text", ["text"] = text, ["cache_control"] = new JsonObject { ["type"] = "ephemeral" } });
                else if (content is JsonArray { Count: > 0 } blocks && blocks[^1] is JsonObject lastBlock)
                    lastBlock["cache_control"] = new JsonObject { ["type"] = "ephemeral" };
                copy.WriteTo(w);
            }
            w.WriteEndArray();
            if (r.Tools is { Count: > 0 })
            {
                w.WritePropertyName("tools");
                r.Tools.WriteTo(w);
            }
            w.WriteEndObject();
        }
        return buffer.WrittenSpan.ToArray();
    }
}
