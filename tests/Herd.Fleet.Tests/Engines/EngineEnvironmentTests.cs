using Herd.Fleet.Engines;

namespace Herd.Fleet.Tests.Engines;

/// <summary>The environment an engine process gets is explicit: its provider's variables, never another's.</summary>
public sealed class EngineEnvironmentTests
{
    private static readonly Dictionary<string, string> Source = new()
    {
        ["PATH"] = "/usr/bin", ["HOME"] = "/home/u", ["ANTHROPIC_API_KEY"] = "sk-ant-1", ["OPENAI_API_KEY"] = "sk-oa-1",
        ["GEMINI_API_KEY"] = "g-1", ["HERD_MAX_RETRIES"] = "3", ["CLAUDECODE"] = "1", ["AWS_SECRET_ACCESS_KEY"] = "aws",
        ["SOME_OTHER"] = "x",
    };

    [Fact]
    public void The_claude_engine_gets_the_basics_and_anthropic_variables_only()
    {
        var spec = new EngineSpec(EngineKind.Claude, "/w", "/s") { Environment = Source };

        var env = EngineEnvironment.Build(spec, new Dictionary<string, string> { ["CLAUDE_CONFIG_DIR"] = "/s/claude/slot-1" }).Values;

        env.Keys.OrderBy(k => k).ShouldBe(["ANTHROPIC_API_KEY", "AWS_SECRET_ACCESS_KEY", "CLAUDE_CONFIG_DIR", "HOME", "PATH"]);
    }

    [Fact]
    public void The_codex_engine_never_sees_the_anthropic_key_and_engine_env_wins()
    {
        var spec = new EngineSpec(EngineKind.Codex, "/w", "/s")
        {
            Environment = Source,
            ExtraEnvironment = new Dictionary<string, string> { ["OPENAI_API_KEY"] = "sk-override", ["EXTRA"] = "1" },
        };

        var env = EngineEnvironment.Build(spec, new Dictionary<string, string>()).Values;

        env.ShouldNotContainKey("ANTHROPIC_API_KEY");
        env.ShouldNotContainKey("HERD_MAX_RETRIES");
        env["OPENAI_API_KEY"].ShouldBe("sk-override");
        env["EXTRA"].ShouldBe("1");
    }

    [Fact]
    public void A_cmd_engine_keeps_the_users_environment_but_never_CLAUDECODE()
    {
        var spec = new EngineSpec(EngineKind.Cmd, "/w", "/s") { Environment = Source };

        var env = EngineEnvironment.Build(spec, new Dictionary<string, string>()).Values;

        env["SOME_OTHER"].ShouldBe("x");
        env.ShouldNotContainKey("CLAUDECODE");
    }
}
