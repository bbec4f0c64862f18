using Herd.Fleet.Engines;

namespace Herd.Fleet.Tests.Engines;

/// <summary>Each row of the external engines' classification: Herd's own stops, the stream's evidence, stderr, exit code.</summary>
public sealed class ExternalOutcomeClassifierTests
{
    private static EngineProgress Finished(string text = "done") => new() { SawResult = true, ResultText = text };

    [Theory]
    [InlineData(EngineStop.Timeout, OutcomeClass.Timeout)]
    [InlineData(EngineStop.Idle, OutcomeClass.Hang)]
    [InlineData(EngineStop.Cancelled, OutcomeClass.Cancelled)]
    [InlineData(EngineStop.TaskBudget, OutcomeClass.TaskBudget)]
    [InlineData(EngineStop.RunBudget, OutcomeClass.RunBudget)]
    [InlineData(EngineStop.TurnCap, OutcomeClass.MaxTurns)]
    public void A_stop_by_Herd_decides_the_class(EngineStop stop, OutcomeClass expected) =>
        ExternalOutcomeClassifier.Classify(Finished(), stop, -1, "", false, false).Class.ShouldBe(expected);

    [Theory]
    [InlineData("API Error: 429 Too Many Requests", OutcomeClass.RateLimited)]
    [InlineData("exceeded retry limit, last status: 429 Too Many Requests", OutcomeClass.RateLimited)]
    [InlineData("We're currently experiencing high demand, which may cause temporary errors.", OutcomeClass.Overloaded)]
    [InlineData("API Error: 529 {\"type\":\"overloaded_error\"}", OutcomeClass.Overloaded)]
    [InlineData("Invalid API key · Please run /login", OutcomeClass.Auth)]
    [InlineData("unexpected status 401 Unauthorized", OutcomeClass.Auth)]
    [InlineData("You exceeded your current quota: insufficient_quota", OutcomeClass.SpendCap)]
    [InlineData("stream disconnected before completion", OutcomeClass.Network)]
    [InlineData("unexpected status 500 Internal Server Error", OutcomeClass.ServerError)]
    public void A_failed_attempt_is_classified_by_its_error_text(string text, OutcomeClass expected)
    {
        var p = Finished("");
        p.IsError = true;
        p.Errors.Add(text);
        ExternalOutcomeClassifier.Classify(p, EngineStop.None, 1, "", false, false).Class.ShouldBe(expected);
    }

    [Fact]
    public void A_status_code_inside_a_larger_number_is_not_a_status()
    {
        ExternalOutcomeClassifier.FromText("used 14290 tokens").ShouldBeNull();
        ExternalOutcomeClassifier.FromText("status 429").ShouldBe(OutcomeClass.RateLimited);
    }

    [Fact]
    public void Stderr_classifies_a_failure_the_stream_did_not_explain() =>
        ExternalOutcomeClassifier.Classify(new EngineProgress(), EngineStop.None, 1, "Error: 529 overloaded\n", false, false).Class.ShouldBe(OutcomeClass.Overloaded);

    [Fact]
    public void An_exit_code_of_zero_with_is_error_true_is_not_success()
    {
        var p = Finished("API Error: 500");
        p.IsError = true;
        p.ApiErrorStatus = 500;
        ExternalOutcomeClassifier.Classify(p, EngineStop.None, 0, "", false, false).Class.ShouldBe(OutcomeClass.ServerError);
    }

    [Fact]
    public void No_terminal_event_is_a_crash_even_with_exit_zero() =>
        ExternalOutcomeClassifier.Classify(new EngineProgress(), EngineStop.None, 0, "", false, false).Class.ShouldBe(OutcomeClass.Crash);

    [Theory]
    [InlineData("error_max_turns", OutcomeClass.MaxTurns)]
    [InlineData("error_max_budget_usd", OutcomeClass.TaskBudget)]
    [InlineData("error_max_structured_output_retries", OutcomeClass.StructuredRetries)]
    public void Claude_result_subtypes_map_to_their_classes(string subtype, OutcomeClass expected)
    {
        var p = Finished();
        p.Subtype = subtype;
        p.IsError = true;
        ExternalOutcomeClassifier.Classify(p, EngineStop.None, 1, "", false, false).Class.ShouldBe(expected);
    }

    [Fact]
    public void Denials_fail_a_successful_run_unless_on_denial_success()
    {
        var p = Finished();
        p.PermissionDenials.Add(new System.Text.Json.Nodes.JsonObject { ["tool_name"] = "Bash" });
        ExternalOutcomeClassifier.Classify(p, EngineStop.None, 0, "", false, false).Class.ShouldBe(OutcomeClass.Denied);
        ExternalOutcomeClassifier.Classify(p, EngineStop.None, 0, "", false, true).Class.ShouldBe(OutcomeClass.Success);
    }

    [Fact]
    public void A_schema_without_structured_output_and_an_empty_result_are_told_apart()
    {
        ExternalOutcomeClassifier.Classify(Finished(), EngineStop.None, 0, "", true, false).Class.ShouldBe(OutcomeClass.NoStructuredOutput);
        ExternalOutcomeClassifier.Classify(Finished(""), EngineStop.None, 0, "", false, false).Class.ShouldBe(OutcomeClass.SuccessDegraded);
    }

    [Fact]
    public void An_explicit_engine_class_wins_over_patterns()
    {
        var p = new EngineProgress { ExplicitClass = OutcomeClass.Auth };
        ExternalOutcomeClassifier.Classify(p, EngineStop.None, 41, "Please set an Auth method", false, false).Class.ShouldBe(OutcomeClass.Auth);
    }
}
