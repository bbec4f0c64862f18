using System.Text.Json.Nodes;
using Herd.Agent.Loop;
using Herd.Agent.Models;
using Herd.Fleet.Engines;
using Herd.Fleet.Jobs;

namespace Herd.Fleet.Tests;

public sealed class PlanTests
{
    private static TaskInput Input(string v) => TaskSources.FromValues([v])[0];

    [Theory]
    [InlineData("{}", "src/dir/file.tar.gz")]
    [InlineData("{.}", "src/dir/file.tar")]
    [InlineData("{/}", "file.tar.gz")]
    [InlineData("{//}", "src/dir")]
    [InlineData("{/.}", "file.tar")]
    [InlineData("{#}", "7")]
    [InlineData("{%}", "{%}")]
    [InlineData("json {\"a\":1} {}", "json {\"a\":1} src/dir/file.tar.gz")]
    [InlineData("Summarize", "Summarize src/dir/file.tar.gz")]
    public void Replacement_strings_work_as_in_gnu_parallel(string template, string expected) =>
        Template.Render(template, Input("src/dir/file.tar.gz"), 7, slot: null).ShouldBe(expected);

    // Recorded from GNU parallel 20221122: parallel -k echo '[{}]' '[{.}]' '[{/}]' '[{//}]' '[{/.}]' ::: INPUT
    [Theory]
    [InlineData(".bashrc", "[.bashrc] [] [.bashrc] [.] []")]
    [InlineData("dir/", "[dir/] [dir/] [] [.] []")]
    [InlineData("dir/.bashrc", "[dir/.bashrc] [dir/] [.bashrc] [dir] []")]
    [InlineData("a.b.c", "[a.b.c] [a.b] [a.b.c] [.] [a.b]")]
    [InlineData("/a/b/", "[/a/b/] [/a/b/] [] [/a] []")]
    [InlineData("file.", "[file.] [file] [file.] [.] [file]")]
    [InlineData("a/b.c/d", "[a/b.c/d] [a/b.c/d] [d] [a/b.c] [d]")]
    [InlineData("/", "[/] [/] [] [/] []")]
    [InlineData("a/.x.y", "[a/.x.y] [a/.x] [.x.y] [a] [.x]")]
    public void Dotfiles_and_trailing_slashes_render_exactly_as_gnu_parallel_renders_them(string input, string parallelOutput) =>
        Template.Render("[{}] [{.}] [{/}] [{//}] [{/.}]", Input(input), 1, slot: null).ShouldBe(parallelOutput);

    [Fact]
    public void A_replacement_string_that_matches_no_input_is_warned_about_once_and_left_as_written()
    {
        var input = new TaskInput(null, ["a.py"], new Dictionary<string, string> { ["file"] = "a.py" }, null, TaskCaps.None);
        var warnings = new List<string>();

        var plan = Plan.Build([input, input with { Values = ["b.py"], Named = new Dictionary<string, string> { ["file"] = "b.py" } }],
            "Review {fiel} and {foo} with {\"json\": true} and {file}", "herd", new JsonObject(), warnings.Add);

        warnings.Count.ShouldBe(2);
        warnings[0].ShouldContain("{fiel}");
        warnings[0].ShouldContain("{file}", customMessage: "the warning lists the named inputs that do exist");
        warnings[1].ShouldContain("{foo}");
        plan[0].Prompt.ShouldBe("Review {fiel} and {foo} with {\"json\": true} and a.py");
    }

    [Fact]
    public void Named_inputs_and_the_slot_render()
    {
        var input = new TaskInput("t", ["a.py", "py"], new Dictionary<string, string> { ["file"] = "a.py", ["lang"] = "py" }, null, TaskCaps.None);
        Template.Render("{file} as {lang} in slot {%} ({unknown})", input, 1, slot: 3).ShouldBe("a.py as py in slot 3 ({unknown})");
    }

    [Fact]
    public void Keys_depend_on_prompt_inputs_and_behaviour_but_collapse_duplicates_with_a_warning()
    {
        var behaviour = new JsonObject { ["model"] = "m", ["tools"] = new JsonArray("Read") };
        var warnings = new List<string>();

        var plan = Plan.Build(TaskSources.FromValues(["a", "b", "a"]), "Do {}", "herd", behaviour, warnings.Add);

        plan.Count.ShouldBe(2);
        warnings.ShouldHaveSingleItem().ShouldContain("identical to task 1");
        var again = Plan.Build(TaskSources.FromValues(["a"]), "Do {}", "herd", new JsonObject { ["tools"] = new JsonArray("Read"), ["model"] = "m" }, _ => { });
        again[0].Key.ShouldBe(plan[0].Key, "key order in the options must not matter");
        Plan.Build(TaskSources.FromValues(["a"]), "Do {}", "herd", new JsonObject { ["model"] = "other" }, _ => { })[0].Key.ShouldNotBe(plan[0].Key);
        plan[0].Key.Length.ShouldBe(64);
    }

    [Fact]
    public void The_classifier_builds_the_class_from_the_whole_result()
    {
        AgentResult Result(string subtype = ResultSubtype.Success, bool isError = false, string? text = "ok", ModelErrorKind? kind = null, int denials = 0) => new()
        {
            Subtype = subtype, IsError = isError, DurationMs = 1, DurationApiMs = 1, NumTurns = 1, Result = text, SessionId = "s", TotalCostUsd = 0,
            Usage = Usage.Zero, ModelUsage = new Dictionary<string, ModelUsageEntry>(), TerminalReason = "completed", Uuid = "u", ApiErrorKind = kind,
            PermissionDenials = Enumerable.Range(0, denials).Select(_ => new PermissionDenial("Bash", "t", null)).ToArray(),
        };

        OutcomeClassifier.Classify(Result(), AttemptEnd.Completed, false, false).Class.ShouldBe(OutcomeClass.Success);
        OutcomeClassifier.Classify(Result(text: ""), AttemptEnd.Completed, false, false).Class.ShouldBe(OutcomeClass.SuccessDegraded);
        OutcomeClassifier.Classify(Result(denials: 1), AttemptEnd.Completed, false, false).Class.ShouldBe(OutcomeClass.Denied);
        OutcomeClassifier.Classify(Result(denials: 1), AttemptEnd.Completed, false, false, denialIsSuccess: true).Class.ShouldBe(OutcomeClass.Success);
        OutcomeClassifier.Classify(Result(), AttemptEnd.Completed, schemaGiven: true, false).Class.ShouldBe(OutcomeClass.NoStructuredOutput);
        OutcomeClassifier.Classify(Result(ResultSubtype.MaxTurns, true), AttemptEnd.Completed, false, false).Class.ShouldBe(OutcomeClass.MaxTurns);
        OutcomeClassifier.Classify(Result(ResultSubtype.MaxBudget, true), AttemptEnd.Completed, false, false).Class.ShouldBe(OutcomeClass.TaskBudget);
        OutcomeClassifier.Classify(Result(ResultSubtype.MaxBudget, true), AttemptEnd.Completed, false, true).Class.ShouldBe(OutcomeClass.RunBudget);
        OutcomeClassifier.Classify(Result(ResultSubtype.MaxStructuredOutputRetries, true), AttemptEnd.Completed, true, false).Class.ShouldBe(OutcomeClass.StructuredRetries);
        OutcomeClassifier.Classify(Result(isError: true, kind: ModelErrorKind.RateLimited), AttemptEnd.Completed, false, false).Class.ShouldBe(OutcomeClass.RateLimited);
        OutcomeClassifier.Classify(Result(isError: true, kind: ModelErrorKind.Truncated), AttemptEnd.Completed, false, false).Class.ShouldBe(OutcomeClass.Network);
        OutcomeClassifier.Classify(Result(isError: true, kind: ModelErrorKind.SpendCap), AttemptEnd.Completed, false, false).Class.ShouldBe(OutcomeClass.SpendCap);
        OutcomeClassifier.Classify(Result(isError: true, kind: ModelErrorKind.Authentication), AttemptEnd.Completed, false, false).Class.ShouldBe(OutcomeClass.Auth);
        OutcomeClassifier.Classify(Result(ResultSubtype.DuringExecution, true), AttemptEnd.Completed, false, false).Class.ShouldBe(OutcomeClass.Crash);
        OutcomeClassifier.Classify(Result(ResultSubtype.DuringExecution, true), AttemptEnd.Idle, false, false).Class.ShouldBe(OutcomeClass.Hang);
        OutcomeClassifier.Classify(Result(ResultSubtype.DuringExecution, true), AttemptEnd.Timeout, false, false).Class.ShouldBe(OutcomeClass.Timeout);
        OutcomeClassifier.Classify(Result(ResultSubtype.DuringExecution, true), AttemptEnd.Cancelled, false, false).Class.ShouldBe(OutcomeClass.Cancelled);
    }
}
