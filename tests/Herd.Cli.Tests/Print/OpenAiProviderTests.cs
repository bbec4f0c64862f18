using System.Text.Json.Nodes;
using Herd.Testing;

namespace Herd.Cli.Tests.Print;

/// <summary><c>herd -p --provider openai</c> against the scripted server's Chat Completions endpoint.</summary>
public sealed class OpenAiProviderTests : HerdTestBase
{
    private const string OpenAiKey = "sk-openai-secret-9876543210";

    private HerdProcess OpenAi => Herd
        .WithEnvironment("OPENAI_BASE_URL", Server.BaseUrl.ToString().TrimEnd('/') + "/v1")
        .WithEnvironment("OPENAI_API_KEY", OpenAiKey);

    private ModelScript ReadThenAnswer(string file) => ModelScript.Replies(
        new Reply { Text = "Let me read it.", ToolCalls = [new ScriptedToolCall("Read", new JsonObject { ["file_path"] = file })] },
        Reply.WithText("It has two lines."));

    [Fact]
    public async Task With_tool_calls_I_get_the_same_stream_json_and_transcript_as_with_Anthropic()
    {
        // Given the same two-turn script answered in each protocol
        var file = Work.WriteFile("notes.txt", "one\ntwo\n");
        string[] args = ["-p", "How many lines?", "--output-format", "stream-json", "--verbose", "--model", "claude-sonnet-5-5"];
        Server.Reset(ReadThenAnswer(file));
        var anthropic = await Herd.RunAsync(args);
        var anthropicTranscript = Transcript(anthropic);
        Server.Reset(ReadThenAnswer(file));

        // When
        var openai = await OpenAi.RunAsync([.. args, "--provider", "openai"]);

        // Then both went to their own endpoint and told the same story, line by line
        anthropic.ExitCode.ShouldBe(0, anthropic.ToString());
        openai.ExitCode.ShouldBe(0, openai.ToString());
        Server.Requests.Select(r => r.Path).Distinct().ShouldBe(["/v1/messages", "/v1/chat/completions"]);
        Normalise(openai.JsonLines).ShouldBe(Normalise(anthropic.JsonLines));
        Normalise(Transcript(openai)).ShouldBe(Normalise(anthropicTranscript));
        var result = openai.JsonLines[^1];
        ((string?)result["result"]).ShouldBe("It has two lines.");
        ((int)result["num_turns"]!).ShouldBe(2);
        ((double)result["total_cost_usd"]!).ShouldBe((double)anthropic.JsonLines[^1]["total_cost_usd"]!, 1e-12);
    }

    [Fact]
    public async Task Partial_messages_arrive_as_Messages_API_stream_events()
    {
        var file = Work.WriteFile("notes.txt", "one\ntwo\n");
        Server.Reset(ReadThenAnswer(file));

        var run = await OpenAi.RunAsync("-p", "How many lines?", "--output-format", "stream-json", "--verbose", "--include-partial-messages", "--provider", "openai", "--model", "qwen2.5-coder:7b");

        run.ExitCode.ShouldBe(0, run.ToString());
        var events = run.JsonLines.Where(l => (string?)l["type"] == "stream_event").Select(l => (string?)l["event"]!["type"]).ToList();
        events.Distinct().ShouldBe(["message_start", "content_block_start", "content_block_delta", "content_block_stop", "message_delta", "message_stop"]);
        run.JsonLines.Where(l => (string?)l["type"] == "stream_event" && (string?)l["event"]!["delta"]?["type"] == "input_json_delta")
            .Select(l => (string)l["event"]!["delta"]!["partial_json"]!).ShouldHaveSingleItem().ShouldContain("notes.txt");
    }

    [Fact]
    public async Task The_OpenAI_key_is_sent_to_the_server_and_never_shown_to_tools_or_output()
    {
        // Given a model that asks Bash for the key
        Server.Reset(ModelScript.Replies(
            Reply.WithTool("Bash", new JsonObject { ["command"] = "echo \"key=[$OPENAI_API_KEY]\"" }),
            Reply.WithText("done")));

        // When
        var run = await OpenAi.RunAsync("-p", "show the key", "--output-format", "stream-json", "--verbose", "--provider", "openai", "--model", "gpt-4.1", "--allowedTools", "Bash");

        // Then
        run.ExitCode.ShouldBe(0, run.ToString());
        Server.Requests[0].Headers["authorization"].ShouldBe("Bearer " + OpenAiKey);
        run.Stdout.ShouldContain("key=[]");
        run.Stdout.ShouldNotContain(OpenAiKey);
        run.Stderr.ShouldNotContain(OpenAiKey);
        Directory.EnumerateFiles(Config.Path, "*", SearchOption.AllDirectories).ShouldAllBe(f => !File.ReadAllText(f).Contains(OpenAiKey));
    }

    [Fact]
    public async Task HERD_PROVIDER_chooses_the_provider_and_a_wrong_one_or_a_missing_model_is_one_line_naming_the_fix()
    {
        Server.Reset(ModelScript.Replies(Reply.WithText("from chat completions")));
        var chosen = await OpenAi.WithEnvironment("HERD_PROVIDER", "openai").RunAsync("-p", "hi", "--model", "llama3");
        chosen.ExitCode.ShouldBe(0, chosen.ToString());
        chosen.Stdout.ShouldBe("from chat completions\n");
        Server.Requests.Single().Path.ShouldBe("/v1/chat/completions");

        var wrong = await Herd.RunAsync("-p", "hi", "--provider", "gemini");
        wrong.ExitCode.ShouldBe(1, wrong.ToString());
        wrong.Stderr.Trim().ShouldBe("Error: --provider 'gemini' is not one of anthropic, openai.");

        var noModel = await OpenAi.RunAsync("-p", "hi", "--provider", "openai");
        noModel.ExitCode.ShouldBe(1, noModel.ToString());
        noModel.Stderr.Trim().ShouldStartWith("Error: --provider openai needs --model");
        Server.Requests.Count.ShouldBe(1);
    }

    [Fact]
    public async Task Herd_run_with_the_openai_provider_writes_one_record_per_task()
    {
        // Given
        Server.Reset(new ModelScript { Default = Reply.WithText("Reviewed {prompt}") });

        // When
        var run = await OpenAi.RunAsync("run", "--provider", "openai", "--model", "qwen2.5-coder:7b", "--prompt", "Review {}", "--run-dir", "run", "--progress", "none", ":::", "a", "b", "c");

        // Then
        run.ExitCode.ShouldBe(0, run.ToString());
        var records = File.ReadAllLines(Path.Combine(Work.Path, "run", "results.ndjson")).Select(l => JsonNode.Parse(l)!).ToArray();
        records.Select(r => (string?)r["Stdout"]).Order().ShouldBe(["Reviewed Review a", "Reviewed Review b", "Reviewed Review c"]);
        Server.Requests.Select(r => r.Path).Distinct().ShouldBe(["/v1/chat/completions"]);
        Server.Requests.ShouldAllBe(r => (string?)r.Json["model"] == "qwen2.5-coder:7b");
    }

    /// <summary>The session's transcript lines (Claude Code's JSONL), found by the result's session id.</summary>
    private IReadOnlyList<JsonObject> Transcript(HerdRun run)
    {
        var sessionId = (string?)run.JsonLines[^1]["session_id"];
        var path = Directory.EnumerateFiles(Path.Combine(Config.Path, "projects"), sessionId + ".jsonl", SearchOption.AllDirectories).Single();
        return File.ReadAllLines(path).Where(l => l.Length > 0).Select(l => JsonNode.Parse(l)!.AsObject()).ToArray();
    }

    /// <summary>What must match across providers: each line's kind and the conversation's content, without ids, times and per-call usage.</summary>
    private static IReadOnlyList<string> Normalise(IEnumerable<JsonObject> lines) => lines.Select(line =>
    {
        var message = line["message"] as JsonObject;
        var content = message?["content"] switch
        {
            JsonArray blocks => string.Join(",", blocks.OfType<JsonObject>().Select(b => (string?)b["type"] switch
            {
                "text" => "text:" + (string?)b["text"],
                "tool_use" => $"tool_use:{b["name"]}:{b["input"]?.ToJsonString()}",
                "tool_result" => $"tool_result:{b["content"]?.ToJsonString()}:{b["is_error"]}",
                var other => other ?? "",
            })),
            JsonValue v => "string:" + v,
            _ => "",
        };
        var result = (string?)line["type"] == "result"
            ? $"{line["subtype"]}|{line["is_error"]}|{line["num_turns"]}|{line["result"]}|{line["stop_reason"]}|{line["usage"]?["input_tokens"]}|{line["usage"]?["output_tokens"]}"
            : "";
        return $"{line["type"]}/{line["subtype"]}/{message?["role"]}/{message?["model"]}/{content}/{result}";
    }).ToArray();
}
