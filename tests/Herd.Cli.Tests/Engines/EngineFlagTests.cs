using Herd.Testing;

using Herd.Cli.Tests.Run;

namespace Herd.Cli.Tests.Engines;

/// <summary>Bad engine flags: one line on stderr naming the flag and the fix, exit 255, nothing written.</summary>
public sealed class EngineFlagTests
{
    [Theory]
    [InlineData("--engine foo", "--engine 'foo' is not one of herd, claude, codex, gemini, cmd")]
    [InlineData("--engine cmd", "--engine cmd needs --cmd 'TEMPLATE'")]
    [InlineData("--engine claude --cmd echo", "--cmd and --result-json apply only to --engine cmd")]
    [InlineData("--result-json", "--cmd and --result-json apply only to --engine cmd")]
    [InlineData("--engine claude --engine-bin /nonexistent/claude", "--engine-bin '/nonexistent/claude' does not exist")]
    [InlineData("--engine cmd --cmd echo --engine-env NOEQUALS", "--engine-env 'NOEQUALS' must be KEY=VALUE")]
    public async Task A_bad_engine_flag_is_one_line_exit_255_and_nothing_written(string flags, string message)
    {
        // Given a harness and a bad combination of engine flags
        await using var h = await FleetHarness.StartAsync(new ModelScript());

        // When herd run is started with it
        var exit = await h.RunAsync([.. flags.Split(' '), "--prompt", "p {}", "--run-dir", "run", ":::", "a"]);

        // Then it fails up front with one actionable line and no run directory
        exit.ShouldBe(255);
        var lines = h.Err.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries);
        lines.Length.ShouldBe(1, h.Err.ToString());
        lines[0].ShouldContain(message);
        Directory.Exists(h.RunDir()).ShouldBeFalse();
    }

    [Fact]
    public async Task A_missing_CLI_names_its_npm_package()
    {
        await using var h = await FleetHarness.StartAsync(new ModelScript());
        h.EngineEnvironment = new Dictionary<string, string> { ["PATH"] = "/nonexistent", ["HERD_CLIS"] = "/nonexistent" };

        var exit = await h.RunAsync("--engine", "codex", "--prompt", "p", "--run-dir", "run", ":::", "a");

        exit.ShouldBe(255);
        h.Err.ToString().ShouldContain("npm install -g @openai/codex");
        Directory.Exists(h.RunDir()).ShouldBeFalse();
    }
}
