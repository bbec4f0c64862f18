using Herd.Agent.Loop;
using Herd.Fleet.Engines;
using Herd.Fleet.Jobs;
using Herd.Testing;

using Herd.Cli.Tests.Run;

namespace Herd.Cli.Tests.Engines;

/// <summary>
/// <c>--engine gemini</c>: the real Gemini CLI from npm against the scripted server's Gemini API on loopback
/// (<c>GOOGLE_GEMINI_BASE_URL</c>), its auth failure without a key, and the stream reader on the documented format.
/// </summary>
[Collection("external engines")]
public sealed class GeminiEngineTests
{
    private const string TestGeminiKey = "gemini-engine-test-secret-3c9d";

    [Fact]
    public async Task Tasks_through_the_real_gemini_CLI_against_the_scripted_server_get_complete_records()
    {
        // Given the real gemini CLI pointed at the scripted server's Gemini API, and a reply with usage
        Clis.Require("gemini");
        await using var h = await FleetHarness.StartAsync(new ModelScript
        {
            Conversations = [new Conversation("Summarize", [Reply.WithText("Summary of {prompt}", new ScriptedUsage(Input: 900, Output: 30, CacheRead: 100))])],
        });
        var env = Clis.Environment(h.Dir, h.Server.BaseUrl);
        env["GEMINI_API_KEY"] = TestGeminiKey;
        env["GOOGLE_GEMINI_BASE_URL"] = h.Server.BaseUrl.ToString().TrimEnd('/');
        env["GEMINI_CLI_TRUST_WORKSPACE"] = "true";
        // gemini 0.61.0 takes GOOGLE_GEMINI_BASE_URL alone for its "gateway" auth, which headless mode refuses: the
        // API-key auth is chosen in the user's settings, as docs/engines.md says
        Directory.CreateDirectory(Path.Combine(env["HOME"], ".gemini"));
        await File.WriteAllTextAsync(Path.Combine(env["HOME"], ".gemini", "settings.json"), """{"security":{"auth":{"selectedType":"gemini-api-key"}}}""");
        h.EngineEnvironment = env;

        // When herd run drives gemini, two at a time
        var exit = await h.RunAsync("--engine", "gemini", "--model", "gemini-2.5-flash", "-j", "2", "--prompt", "Summarize {}", "--run-dir", "run", "--progress", "none", ":::", "alpha", "beta", "gamma");

        // Then every task succeeded with the scripted answer, its session and tokens, through the Gemini protocol
        exit.ShouldBe(0, h.Err.ToString() + string.Join("\n", h.Records().Select(r => r.ToString())));
        var records = h.Records();
        records.Count.ShouldBe(3);
        foreach (var r in records)
        {
            r.GetProperty("engine").GetString().ShouldBe("gemini");
            r.GetProperty("outcome").GetProperty("class").GetString().ShouldBe("success");
            r.GetProperty("Stdout").GetString()!.ShouldContain("Summary of");
            r.GetProperty("session_id").GetString().ShouldNotBeNullOrEmpty();
            r.GetProperty("tokens").GetProperty("output").GetInt64().ShouldBeGreaterThanOrEqualTo(30);
        }
        var calls = h.Server.Requests.Where(q => q.Path.StartsWith("/v1beta/models/", StringComparison.Ordinal)).ToArray();
        calls.ShouldContain(q => q.Path.EndsWith(":streamGenerateContent", StringComparison.Ordinal));
        calls.ShouldAllBe(q => q.Headers.GetValueOrDefault("x-goog-api-key") == TestGeminiKey);
        (await File.ReadAllTextAsync(Path.Combine(h.RunDir(), "results.ndjson"))).ShouldNotContain(TestGeminiKey);
    }

    [Fact]
    public async Task The_real_gemini_CLI_without_credentials_is_classified_auth_and_halts_the_run()
    {
        // Given the real gemini CLI and no credentials in its environment
        Clis.Require("gemini");
        await using var h = await FleetHarness.StartAsync(new ModelScript());
        var env = Clis.Environment(h.Dir, h.Server.BaseUrl);
        h.EngineEnvironment = env;

        // When a run uses it
        var exit = await h.RunAsync("--engine", "gemini", "--prompt", "Do {}", "--run-dir", "run", "--progress", "none", ":::", "t1");

        // Then exit 41 is class auth, which is run-fatal (103), and the record names the engine's version
        exit.ShouldBe(103, h.Err.ToString());
        var r = h.Records().Single();
        r.GetProperty("outcome").GetProperty("class").GetString().ShouldBe("auth");
        r.GetProperty("Exitval").GetInt32().ShouldBe(41);
        r.GetProperty("engine_version").GetString().ShouldBe(Clis.GeminiVersion);
    }

    [Fact]
    public void The_stream_reader_fills_session_turns_tokens_and_cost_from_a_gemini_stream()
    {
        // Given a gemini stream-json transcript in the documented event format
        string[] lines =
        [
            """{"type":"init","timestamp":"2026-11-29T10:00:00Z","session_id":"g-123","model":"gemini-2.5-pro"}""",
            """{"type":"message","role":"user","content":"Do t1"}""",
            """{"type":"message","role":"assistant","content":"Let me look","delta":true}""",
            """{"type":"tool_use","tool_name":"read_file","tool_id":"t-1","parameters":{"path":"a"}}""",
            """{"type":"tool_result","tool_id":"t-1","status":"success","output":"x"}""",
            """{"type":"message","role":"assistant","content":"All ","delta":true}""",
            """{"type":"message","role":"assistant","content":"done.","delta":true}""",
            """{"type":"result","status":"success","stats":{"total_tokens":1500,"input_tokens":1200,"output_tokens":300,"cached":200,"input":1000,"duration_ms":900,"tool_calls":1,"models":{"gemini-2.5-pro":{}}}}""",
        ];
        var progress = new EngineProgress();
        var reader = new GeminiStreamReader(progress, Monitor(progress), Herd.Agent.Models.ModelCatalog.BuiltIn, schemaGiven: false);

        // When it is read and the process exits 0
        foreach (var line in lines)
            reader.Feed(line);
        reader.Finish(0, "");

        // Then the same fields as any engine's are filled
        progress.SessionId.ShouldBe("g-123");
        progress.Model.ShouldBe("gemini-2.5-pro");
        progress.Turns.ShouldBe(2);
        progress.ResultText.ShouldBe("All done.");
        progress.Usage.InputTokens.ShouldBe(1000);
        progress.Usage.CacheReadInputTokens.ShouldBe(200);
        progress.Usage.OutputTokens.ShouldBe(300);
        progress.CostNotional.ShouldBeTrue();
        ExternalOutcomeClassifier.Classify(progress, EngineStop.None, 0, "", false, false).Class.ShouldBe(OutcomeClass.Success);
    }

    [Theory]
    [InlineData(41, OutcomeClass.Auth)]
    [InlineData(42, OutcomeClass.InvalidRequest)]
    [InlineData(52, OutcomeClass.InvalidRequest)]
    [InlineData(53, OutcomeClass.MaxTurns)]
    [InlineData(54, OutcomeClass.Crash)]
    public void Gemini_exit_codes_name_their_class(int exitCode, OutcomeClass expected)
    {
        var progress = new EngineProgress();
        var reader = new GeminiStreamReader(progress, Monitor(progress), Herd.Agent.Models.ModelCatalog.BuiltIn, schemaGiven: false);
        reader.Feed("""{"type":"result","status":"error","error":{"type":"Error","message":"failed"},"stats":{}}""");
        reader.Finish(exitCode, "");
        ExternalOutcomeClassifier.Classify(progress, EngineStop.None, exitCode, "", false, false).Class.ShouldBe(expected);
    }

    private static AttemptMonitor Monitor(EngineProgress progress)
    {
        var task = new FleetTask(1, "k", "t1", "Do t1", ["t1"], new Dictionary<string, string>(), TaskCaps.None);
        return new AttemptMonitor(TimeProvider.System, new NullObserver(), new TaskAttempt(task, 1, 1, "Do t1", "s", null, null), progress, null, 0.5, null, null);
    }

    private sealed class NullObserver : IAttemptObserver
    {
        public void OnBackPressure(int status, TimeSpan? retryAfter)
        {
        }

        public void OnCallCost(TaskAttempt attempt, double costUsd)
        {
        }
    }
}
