using System.Text.Json.Nodes;

namespace Herd.Cli.Tests.Print;

/// <summary>
/// Herd against recorded Claude Code 2.1.332 output on the same scripted replies (issue #10, item 4). Each test runs
/// the recorded command line through herd and compares the fields its compatibility point is about; the recordings
/// are in Print/ClaudeCode and docs/print-mode.md lists the differences Herd keeps on purpose.
/// </summary>
public sealed class ClaudeCodeComparisonTests : HerdTestBase
{
    private async Task<(ClaudeCodeRecording Claude, HerdComparison Herd)> CompareAsync(string name)
    {
        var recording = ClaudeCodeRecording.Load(name);
        var herd = await recording.RunHerdAsync(Server, Work, Config.Path);
        return (recording, herd);
    }

    /// <summary>The listed fields of an object, absent ones as null, as one JSON text for a readable failure.</summary>
    private static string Pick(JsonObject o, params string[] keys) =>
        new JsonObject(keys.Select(k => KeyValuePair.Create(k, o[k]?.DeepClone()))).ToJsonString();

    private static JsonObject Result(IReadOnlyList<JsonObject> lines) => lines.Last(l => (string?)l["type"] == "result");

    /// <summary>The message events of a stream (type, subtype, and the content block types), without status lines.</summary>
    private static IEnumerable<string> Shape(IReadOnlyList<JsonObject> lines) => lines
        .Where(l => (string?)l["subtype"] != "status")
        .Select(l => string.Join('/', new[] { (string?)l["type"], (string?)l["subtype"], l["isReplay"] is null ? null : "replay" }.Where(x => x is not null))
            + (l["message"]?["content"] is JsonArray c ? ":" + string.Join(',', c.Select(b => (string?)b!["type"])) : ""));

    [Theory]
    [InlineData("max-turns-json")]
    public async Task Max_turns_ends_like_Claude_Code_after_N_calls_with_N_plus_one_turns(string name)
    {
        var (claude, herd) = await CompareAsync(name);

        herd.Run.ExitCode.ShouldBe(claude.ExitCode, herd.Run.ToString());
        string[] fields = ["subtype", "is_error", "num_turns", "errors", "terminal_reason", "stop_reason", "result"];
        Pick(Result(herd.StdoutJson), fields).ShouldBe(Pick(Result(claude.StdoutJson), fields));
        herd.Requests.Count.ShouldBe(claude.Requests.Count);
    }

    [Fact]
    public async Task Max_turns_runs_the_tools_of_the_last_reply_like_Claude_Code()
    {
        var (claude, herd) = await CompareAsync("max-turns-stream");

        Shape(herd.StdoutJson).ShouldBe(Shape(claude.StdoutJson));
    }

    [Fact]
    public async Task Max_turns_in_text_mode_prints_Claude_Code_s_line_without_a_newline()
    {
        var (claude, herd) = await CompareAsync("max-turns-text");

        herd.Run.ExitCode.ShouldBe(claude.ExitCode);
        herd.StdoutText.ShouldBe(claude.StdoutText);
    }

    [Theory]
    [InlineData("json-schema-json")]
    [InlineData("json-schema-stream")]
    public async Task Structured_output_ends_with_the_output_as_result_text_like_Claude_Code(string name)
    {
        var (claude, herd) = await CompareAsync(name);

        herd.Run.ExitCode.ShouldBe(claude.ExitCode, herd.Run.ToString());
        string[] fields = ["subtype", "is_error", "num_turns", "result", "structured_output", "terminal_reason", "stop_reason"];
        Pick(Result(herd.StdoutJson), fields).ShouldBe(Pick(Result(claude.StdoutJson), fields));
        herd.Requests.Count.ShouldBe(claude.Requests.Count);
    }

    [Fact]
    public async Task Structured_output_stream_shows_the_tool_result_like_Claude_Code()
    {
        var (claude, herd) = await CompareAsync("json-schema-stream");

        Shape(herd.StdoutJson).ShouldBe(Shape(claude.StdoutJson));
    }

    [Fact]
    public async Task Continue_without_an_earlier_session_starts_a_new_one_like_Claude_Code()
    {
        var (claude, herd) = await CompareAsync("continue-without-session");

        herd.Run.ExitCode.ShouldBe(claude.ExitCode, herd.Run.ToString());
        string[] fields = ["subtype", "is_error", "result"];
        Pick(Result(herd.StdoutJson), fields).ShouldBe(Pick(Result(claude.StdoutJson), fields));
    }

    [Theory]
    [InlineData("model-default")]
    [InlineData("model-sonnet")]
    [InlineData("model-opus")]
    [InlineData("model-haiku")]
    [InlineData("model-fable")]
    [InlineData("model-opusplan")]
    public async Task Model_aliases_reach_the_wire_and_are_priced_like_Claude_Code(string name)
    {
        var (claude, herd) = await CompareAsync(name);

        herd.Run.ExitCode.ShouldBe(0, herd.Run.ToString());
        ((string?)herd.Requests.Single()["model"]).ShouldBe((string?)claude.Requests.Single()["model"]);
        var (mine, theirs) = (Result(herd.StdoutJson), Result(claude.StdoutJson));
        ((double)mine["total_cost_usd"]!).ShouldBe((double)theirs["total_cost_usd"]!);
        var model = (string)claude.Requests.Single()["model"]!;
        foreach (var field in (string[])["costUSD", "contextWindow", "maxOutputTokens"])
            ((double)mine["modelUsage"]![model]![field]!).ShouldBe((double)theirs["modelUsage"]![model]![field]!, field);
    }

    [Theory]
    [InlineData("memory")]
    [InlineData("memory-bare")]
    [InlineData("stdin-and-prompt")]
    public async Task The_first_user_message_holds_memory_files_and_stdin_like_Claude_Code_s(string name)
    {
        var (claude, herd) = await CompareAsync(name);

        herd.Run.ExitCode.ShouldBe(0, herd.Run.ToString());
        herd.FirstUserTexts().ShouldBe(claude.Requests[0]["first_user_texts"]!.AsArray().Select(t => (string)t!).ToArray());
    }

    [Fact]
    public async Task A_replayed_user_message_follows_each_turn_s_init_like_Claude_Code()
    {
        var (claude, herd) = await CompareAsync("replay-user-messages");

        herd.Run.ExitCode.ShouldBe(claude.ExitCode, herd.Run.ToString());
        Shape(herd.StdoutJson).ShouldBe(Shape(claude.StdoutJson));
    }

    [Theory]
    [InlineData("fallback-overloaded")]
    [InlineData("fallback-not-found")]
    public async Task A_fallback_emits_model_fallback_like_Claude_Code(string name)
    {
        var (claude, herd) = await CompareAsync(name);

        herd.Run.ExitCode.ShouldBe(claude.ExitCode, herd.Run.ToString());
        string[] fields = ["type", "subtype", "trigger", "original_model", "fallback_model", "content"];
        var mine = herd.StdoutJson.Single(l => (string?)l["subtype"] == "model_fallback");
        var theirs = claude.StdoutJson.Single(l => (string?)l["subtype"] == "model_fallback");
        Pick(mine, fields).ShouldBe(Pick(theirs, fields));
        ((string?)herd.Requests[^1]["model"]).ShouldBe((string?)claude.Requests[^1]["model"]);
    }

    [Theory]
    [InlineData("fallback-overloaded")]
    [InlineData("retry-errors")]
    public async Task Api_retry_names_the_error_type_like_Claude_Code(string name)
    {
        var (claude, herd) = await CompareAsync(name);

        herd.Run.ExitCode.ShouldBe(claude.ExitCode, herd.Run.ToString());
        static string[] Retries(IReadOnlyList<JsonObject> lines) => lines.Where(l => (string?)l["subtype"] == "api_retry")
            .Select(l => Pick(l, "attempt", "max_retries", "error_status", "error")).ToArray();
        Retries(herd.StdoutJson).ShouldBe(Retries(claude.StdoutJson));
    }

    [Theory]
    [InlineData("error-400-text")]
    [InlineData("error-401-text")]
    [InlineData("error-401-other-text")]
    public async Task An_api_error_prints_Claude_Code_s_text(string name)
    {
        var (claude, herd) = await CompareAsync(name);

        herd.Run.ExitCode.ShouldBe(claude.ExitCode);
        herd.StdoutText.ShouldBe(claude.StdoutText);
    }

    [Theory]
    [InlineData("error-400-json")]
    [InlineData("error-401-json")]
    [InlineData("error-401-other-json")]
    public async Task An_api_error_result_matches_Claude_Code_s(string name)
    {
        var (claude, herd) = await CompareAsync(name);

        herd.Run.ExitCode.ShouldBe(claude.ExitCode);
        string[] fields = ["subtype", "is_error", "result", "terminal_reason", "api_error_status", "stop_reason", "num_turns"];
        Pick(Result(herd.StdoutJson), fields).ShouldBe(Pick(Result(claude.StdoutJson), fields));
    }

    [Fact]
    public async Task An_api_error_in_stream_json_is_an_assistant_event_carrying_the_text_like_Claude_Code_s()
    {
        var (claude, herd) = await CompareAsync("error-400-stream");

        static string ErrorEvent(IReadOnlyList<JsonObject> lines)
        {
            var e = lines.Single(l => (string?)l["type"] == "assistant");
            return Pick(e, "error", "is_api_error_message", "api_error_status", "api_error_type")
                + Pick((JsonObject)e["message"]!, "model", "role", "content", "stop_reason");
        }
        ErrorEvent(herd.StdoutJson).ShouldBe(ErrorEvent(claude.StdoutJson));
    }

    [Theory]
    [InlineData("resume-miss-json")]
    [InlineData("resume-miss-stream")]
    public async Task A_failed_resume_prints_what_Claude_Code_prints(string name)
    {
        var (claude, herd) = await CompareAsync(name);

        herd.Run.ExitCode.ShouldBe(claude.ExitCode);
        herd.Stderr.ShouldBe(claude.Stderr);
        herd.StdoutJson.Count.ShouldBe(claude.StdoutJson.Count);
        string[] fields = ["type", "subtype", "is_error", "num_turns", "session_id", "errors"];
        for (var i = 0; i < claude.StdoutJson.Count; i++)
            Pick(herd.StdoutJson[i], fields).ShouldBe(Pick(claude.StdoutJson[i], fields));
    }

    [Fact]
    public async Task Resume_with_something_that_is_not_a_session_id_is_refused_like_Claude_Code()
    {
        var (claude, herd) = await CompareAsync("resume-not-an-id");

        herd.Run.ExitCode.ShouldBe(claude.ExitCode);
        herd.Run.Stdout.ShouldBeEmpty();
        // Herd has no session titles, so its sentence names only ids; the start is Claude Code's.
        herd.Stderr.ShouldStartWith("Error: --resume requires a valid session ID");
        herd.Stderr.ShouldContain("\"*\" is not a UUID");
        herd.Stderr.Count(c => c == '\n').ShouldBe(1);
        herd.Requests.ShouldBeEmpty();
    }
}
