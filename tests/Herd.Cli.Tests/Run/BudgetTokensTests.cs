using Herd.Testing;

namespace Herd.Cli.Tests.Run;

/// <summary><c>--budget-tokens</c>: a run-wide ceiling in tokens that holds when the model's price is unknown.</summary>
public sealed class BudgetTokensTests
{
    [Fact]
    public async Task A_token_ceiling_holds_for_a_model_without_a_price_and_halts_the_run_with_exit_102()
    {
        // Given tasks whose one call uses 2 500 tokens each, on a model the price table does not know
        await using var h = await FleetHarness.StartAsync(new ModelScript { Default = Reply.WithText("ok", new ScriptedUsage(Input: 2000, Output: 500)) });

        // When 30 of them run under a 40 000-token ceiling
        var exit = await h.RunAsync(["-j", "4", "--model", "local-model-without-price", "--max-tokens", "1024", "--budget-tokens", "40000",
            "--prompt", "Do {}", "--run-dir", "run", "--progress", "none", ":::", .. FleetHarness.Inputs(30)]);

        // Then the run halts on its budget before the ceiling is crossed, as the server counts tokens
        exit.ShouldBe(102, h.Err.ToString());
        var used = h.Server.Served.Where(s => s.Completed).Sum(s => s.Usage.Input + s.Usage.Output);
        used.ShouldBeLessThanOrEqualTo(40_000);
        used.ShouldBeGreaterThan(0);
        h.Err.ToString().ShouldContain("the --budget-tokens ceiling cannot hold another call");
        h.Records().Count(r => r.GetProperty("outcome").GetProperty("class").GetString() == "success").ShouldBe((int)(used / 2500));
    }

    [Fact]
    public async Task A_token_ceiling_is_refused_with_a_shared_store_in_one_line()
    {
        await using var h = await FleetHarness.StartAsync(new ModelScript());
        var exit = await h.RunAsync(["--budget-tokens", "40000", "--store", "postgres://u:p@127.0.0.1:1/x", "--prompt", "Do {}", "--run-dir", "run", ":::", "a"]);
        exit.ShouldBe(255);
        h.Err.ToString().Trim().ShouldBe("Error: --budget-tokens is held by one process; it is not shared across workers yet. Use --budget-usd with --store, or run without --store.");
    }
}
