using System.Text.Json.Nodes;
using Herd.Testing;

namespace Herd.Cli.Tests.Sessions;

public sealed class StructuredOutputTests : HerdTestBase
{
    private const string Schema = """{"type":"object","properties":{"severity":{"type":"string","enum":["low","high"]},"count":{"type":"integer"}},"required":["severity","count"],"additionalProperties":false}""";

    [Fact]
    public async Task A_valid_structured_output_lands_in_the_result()
    {
        Server.Reset(ModelScript.Replies(new Reply
        {
            Text = "Here it is.",
            ToolCalls = [new ScriptedToolCall("StructuredOutput", new JsonObject { ["severity"] = "high", ["count"] = 3 })],
        }));

        var run = await Herd.RunAsync("-p", "Classify", "--json-schema", Schema, "--output-format", "json");

        run.ExitCode.ShouldBe(0, run.Stderr);
        run.Json["structured_output"]!.ToJsonString().ShouldBe("""{"severity":"high","count":3}""");
        // [2.1.332] result is the structured output as JSON text, and num_turns counts the turn that would send the tool result back.
        ((string?)run.Json["result"]).ShouldBe("""{"severity":"high","count":3}""");
        ((int)run.Json["num_turns"]!).ShouldBe(2);
        var tool = Server.Requests[0].Json["tools"]!.AsArray().Single(t => (string?)t!["name"] == "StructuredOutput")!;
        tool["input_schema"]!.ToJsonString().ShouldBe(JsonNode.Parse(Schema)!.ToJsonString());
        ((string?)tool["description"]).ShouldStartWith("Use this tool to return your final response");
        Server.RequestCount.ShouldBe(1);
    }

    [Fact]
    public async Task Invalid_input_goes_back_to_the_model_with_the_validation_errors()
    {
        Server.Reset(ModelScript.Replies(
            Reply.WithTool("StructuredOutput", new JsonObject { ["severity"] = "medium", ["count"] = "three" }),
            Reply.WithTool("StructuredOutput", new JsonObject { ["severity"] = "low", ["count"] = 0 })));

        var run = await Herd.RunAsync("-p", "Classify", "--json-schema", Schema, "--output-format", "json");

        run.ExitCode.ShouldBe(0, run.Stderr);
        run.Json["structured_output"]!.ToJsonString().ShouldBe("""{"severity":"low","count":0}""");
        var feedback = Server.Requests[1].Json["messages"]!.AsArray()[^1]!["content"]![0]!;
        ((bool)feedback["is_error"]!).ShouldBeTrue();
        var text = (string)feedback["content"]!;
        text.ShouldContain("/severity");
        text.ShouldContain("/count");
    }

    [Fact]
    public async Task A_model_answering_in_text_is_nudged_once_then_the_run_ends_without_structured_output()
    {
        Server.Reset(new ModelScript { Default = Reply.WithText("it is high") });

        var run = await Herd.RunAsync("-p", "Classify", "--json-schema", Schema, "--output-format", "json");

        run.ExitCode.ShouldBe(0);
        ((string?)run.Json["subtype"]).ShouldBe("success");
        run.Json.ContainsKey("structured_output").ShouldBeTrue();
        run.Json["structured_output"].ShouldBeNull();
        ((int)run.Json["num_turns"]!).ShouldBe(2);
        var nudge = Server.Requests[1].Json["messages"]!.AsArray()[^1]!["content"]![0]!;
        ((string?)nudge["text"]).ShouldBe("[structured-output-enforce] You MUST call the StructuredOutput tool to complete this request. Call this tool now.");

        var extended = await Herd.RunAsync("-p", "Classify", "--json-schema", Schema, "--exit-codes", "extended");
        extended.ExitCode.ShouldBe(4);
    }

    [Fact]
    public async Task A_model_that_never_complies_ends_with_max_structured_output_retries()
    {
        Server.Reset(new ModelScript { Default = Reply.WithTool("StructuredOutput", new JsonObject { ["severity"] = "?" }) });

        var run = await Herd.RunAsync("-p", "Classify", "--json-schema", Schema, "--output-format", "json");

        run.ExitCode.ShouldBe(1);
        ((string?)run.Json["subtype"]).ShouldBe("error_max_structured_output_retries");
        ((string?)run.Json["terminal_reason"]).ShouldBe("structured_output_retry_exhausted");
        Server.RequestCount.ShouldBe(5);

        var text = await Herd.RunAsync("-p", "Classify", "--json-schema", Schema);
        text.Stdout.ShouldBe("Error: Failed to provide valid structured output after maximum retries");
    }
}
