using System.Text.Json.Nodes;
using Herd.Agent;
using Herd.Agent.Loop;
using Herd.Agent.Permissions;
using Herd.Agent.Sandbox;
using Herd.Fleet.Engines;
using Herd.Fleet.Runs;
using Herd.Fleet.Scheduling;

namespace Herd.Fleet.Tests.Runs;

/// <summary>The stored run definition (issue #18): what every host builds a run's engine from.</summary>
public sealed class RunDefinitionTests
{
    private static RunDefinition Full() => new()
    {
        Agent = new AgentProfile
        {
            Cwd = "/repo",
            Model = "sonnet",
            FallbackModels = ["claude-haiku-4-5"],
            SystemPrompt = "You review code.",
            Tools = ["Bash", "Read"],
            Policy = new PermissionPolicy(PermissionMode.AcceptEdits, ["Bash(git *)"], ["Bash(rm *)"], [])
            {
                Rules = [PermissionRule.Parse("Read(./secrets/**)", RuleBehavior.Deny, new RuleSource("project settings", "/repo/.claude/settings.json"))],
                AdditionalDirectories = ["/data"],
            },
            JsonSchema = """{"type":"object"}""",
            MaxTurns = 7,
            MaxBudgetUsd = 0.5,
            BudgetMode = BudgetMode.Strict,
            Sandbox = new SandboxOptions(SandboxNetwork.Blocked) { ExtraWritableDirectories = ["/cache"] },
        },
        Engine = new EngineDefinition(EngineKind.Claude) { BinaryPath = "/opt/claude", ExtraEnvironment = new Dictionary<string, string> { ["X"] = "1" } },
        AuditLogPath = "/logs/audit.ndjson",
        DenialIsSuccess = true,
        TaskBudgetUsd = 0.25,
        Schedule = new Schedule { Retry = new RetryPolicy { MaxRetries = 5 }, Halt = HaltPolicy.Parse("now,fail=10%"), Timeout = TimeSpan.FromMinutes(3) },
        Jobs = new JobsSpec(16, Adaptive: true),
        BudgetUsd = 20,
        Shard = "2/4",
    };

    [Fact]
    public void A_definition_reads_back_as_it_was_written()
    {
        var definition = Full();

        var read = RunDefinition.Parse(definition.ToJson(), "test");

        read.ToJson().ShouldBe(definition.ToJson());
        read.Agent.Sandbox.ShouldNotBeNull().Network.ShouldBe(SandboxNetwork.Blocked);
        read.Agent.Sandbox.ExtraWritableDirectories.ShouldBe(["/cache"]);
        read.Agent.Policy.Rules.ShouldHaveSingleItem().Source.File.ShouldBe("/repo/.claude/settings.json");
        read.Schedule.Halt.ShouldBe(definition.Schedule.Halt);
        read.Schedule.Retry.MaxRetries.ShouldBe(5);
        read.Caps.ShouldBe(new Reports.CapsInForce(7, 0.25, TimeSpan.FromMinutes(3), null));
        // Enums are words at the JSON edge, never numbers.
        JsonNode.Parse(definition.ToJson())!["engine"]!["kind"]!.GetValue<string>().ShouldBe("Claude");
    }

    [Fact]
    public void Fields_a_later_herd_added_are_ignored_and_missing_ones_take_their_defaults()
    {
        var json = JsonNode.Parse(Full().ToJson())!.AsObject();
        json["isolation"] = new JsonObject { ["mode"] = "worktree" };
        json.Remove("jobs");
        json["schedule"]!.AsObject().Remove("timeout_floor");

        var read = RunDefinition.Parse(json.ToJsonString(), "test");

        read.Jobs.ShouldBe(JobsSpec.Default);
        read.Schedule.TimeoutFloor.ShouldBe(TimeSpan.FromMinutes(30));
        read.Schedule.Timeout.ShouldBe(TimeSpan.FromMinutes(3));
        read.Agent.Model.ShouldBe("sonnet");
    }

    [Theory]
    [InlineData("""{"version":99,"agent":{"cwd":"/","system_prompt":""}}""", "newer Herd")]
    [InlineData("""{"version":1,"agent":""", "damaged")]
    [InlineData("null", "empty")]
    public void A_definition_that_cannot_be_worked_is_refused_with_one_line(string json, string says)
    {
        var ex = Should.Throw<HerdFatalException>(() => RunDefinition.Parse(json, "run 'r1'"));

        ex.Message.ShouldContain(says);
        ex.Message.ShouldContain("run 'r1'");
        ex.Message.ShouldNotContain("\n");
    }
}
