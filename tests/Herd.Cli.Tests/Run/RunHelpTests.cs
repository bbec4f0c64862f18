namespace Herd.Cli.Tests.Run;

public sealed class RunHelpTests : HerdTestBase
{
    [Fact]
    public async Task Run_help_shows_the_runs_own_options_before_the_agent_options()
    {
        var help = await Herd.RunAsync("run", "--help");

        help.ExitCode.ShouldBe(0);
        help.Stdout.IndexOf("--jobs", StringComparison.Ordinal).ShouldBeLessThan(help.Stdout.IndexOf("--model", StringComparison.Ordinal));
        help.Stdout.ShouldContain("--max-budget-usd <usd>                      Per-task cap");
        help.Stdout.ShouldContain("--budget-usd <usd>");
        help.Stdout.ShouldNotContain("--output-format");
    }
}
