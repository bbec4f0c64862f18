using System.Text.Json.Nodes;
using Herd.Agent;
using Herd.Agent.Hooks;
using Herd.Agent.Loop;
using Herd.Agent.Mcp;
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

    [Fact]
    public void Hooks_and_mcp_servers_are_stored_with_the_agent_and_their_variables_stay_references()
    {
        // Given an agent with a PreToolUse hook and a stdio and an HTTP server whose secrets are ${VAR} references
        var hooks = HookSet.Parse(JsonNode.Parse("""{"PreToolUse":[{"matcher":"Bash","hooks":[{"type":"command","command":"./deny.sh","timeout":5}]}]}"""), "test");
        var servers = McpConfig.Parse(JsonNode.Parse("""
            {"db":{"command":"db-mcp","args":["--dsn","${DB_DSN}"],"env":{"TOKEN":"${DB_TOKEN}"},"trusted":true},
             "docs":{"type":"http","url":"https://mcp.example.com/mcp","headers":{"Authorization":"Bearer ${DOCS_TOKEN}"}}}
            """), "settings", "test");
        var definition = Full() with { Agent = Full().Agent with { Hooks = hooks, IncludeHookEvents = true, McpServers = servers } };
        Environment.SetEnvironmentVariable("DB_TOKEN", "s3cret-value");
        try
        {
            // When it is stored and read back
            var json = definition.ToJson();
            var read = RunDefinition.Parse(json, "test");

            // Then hooks and servers come back whole, and no variable was expanded into the stored text
            read.ToJson().ShouldBe(json);
            json.ShouldNotContain("s3cret-value");
            read.Agent.IncludeHookEvents.ShouldBeTrue();
            var hook = read.Agent.Hooks.For(HookEventName.PreToolUse, "Bash").ShouldHaveSingleItem();
            hook.ShouldBe(new HookCommand("./deny.sh", TimeSpan.FromSeconds(5)));
            read.Agent.Hooks.For(HookEventName.PreToolUse, "Read").ShouldBeEmpty();
            read.Agent.McpServers.Select(s => s.Name).ShouldBe(["db", "docs"]);
            read.Agent.McpServers[0].Env["TOKEN"].ShouldBe("${DB_TOKEN}");
            read.Agent.McpServers[0].Trusted.ShouldBeTrue();
            read.Agent.McpServers[1].Transport.ShouldBe(McpTransportKind.Http);
            read.Agent.McpServers[1].Headers["Authorization"].ShouldBe("Bearer ${DOCS_TOKEN}");
            read.Agent.McpServers.SelectMany(s => s.LiteralValues()).ShouldBeEmpty();
            // The host that starts a server expands its references from its own environment.
            read.Agent.McpServers[0].Expanded().Env["TOKEN"].ShouldBe("s3cret-value");
        }
        finally
        {
            Environment.SetEnvironmentVariable("DB_TOKEN", null);
        }
    }

    [Fact]
    public void A_definition_written_before_hooks_and_servers_were_stored_reads_back_with_none()
    {
        var json = JsonNode.Parse(Full().ToJson())!.AsObject();
        var agent = json["agent"]!.AsObject();
        agent.Remove("hooks");
        agent.Remove("mcp_servers");
        agent.Remove("include_hook_events");

        var read = RunDefinition.Parse(json.ToJsonString(), "test");

        read.Agent.Hooks.IsEmpty.ShouldBeTrue();
        read.Agent.McpServers.ShouldBeEmpty();
    }

    [Fact]
    public void A_value_written_in_clear_in_a_server_s_env_or_headers_is_named()
    {
        var servers = McpConfig.Parse(JsonNode.Parse("""{"s":{"command":"x","env":{"A":"${A}","B":"plain"}},"h":{"url":"http://h/mcp","headers":{"X-Key":"k"}}}"""), "dynamic", "test");

        servers.SelectMany(s => s.LiteralValues()).ShouldBe(["env.B", "headers.X-Key"]);
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
