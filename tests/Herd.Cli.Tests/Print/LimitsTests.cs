using System.Text.Json.Nodes;
using Herd.Testing;

namespace Herd.Cli.Tests.Print;

public sealed class LimitsTests : HerdTestBase
{
    private ModelScript AlwaysReadsAFile()
    {
        var file = Work.WriteFile("loop.txt", "again\n");
        return new ModelScript { Default = Reply.WithTool("Read", new JsonObject { ["file_path"] = file }) };
    }

    [Fact]
    public async Task Max_turns_N_makes_N_calls_runs_the_last_reply_s_tools_and_reports_N_plus_one_turns()
    {
        Server.Reset(AlwaysReadsAFile());

        var run = await Herd.RunAsync("-p", "Refactor the code to remove dead branches", "--max-turns", "2", "--output-format", "json");

        run.ExitCode.ShouldBe(1);
        var r = run.Json;
        ((string?)r["subtype"]).ShouldBe("error_max_turns");
        ((bool)r["is_error"]!).ShouldBeTrue();
        ((int)r["num_turns"]!).ShouldBe(3);
        r["errors"]!.AsArray().Select(e => (string?)e).ShouldBe(["Reached maximum number of turns (2)"]);
        ((string?)r["terminal_reason"]).ShouldBe("max_turns");
        r.ContainsKey("result").ShouldBeFalse();
        ((string?)r["stop_reason"]).ShouldBe("tool_use");
        // No third call: Claude Code 2.1.332 stops after running the second reply's tools.
        Server.RequestCount.ShouldBe(2);
    }

    [Fact]
    public async Task Max_turns_in_text_mode_prints_the_error_line()
    {
        Server.Reset(AlwaysReadsAFile());

        var run = await Herd.RunAsync("-p", "loop", "--max-turns", "1");

        run.ExitCode.ShouldBe(1);
        run.Stdout.ShouldBe("Error: Reached max turns (1)");
    }

    [Fact]
    public async Task Compatible_budget_lets_the_crossing_call_finish_then_stops()
    {
        // Each call costs 1000 × $4 + 1000 × $20 per MTok = $0.024 (the default model, Opus 5.5).
        Server.Reset(AlwaysReadsAFile() with { Default = AlwaysReadsAFile().Default! with { Usage = new ScriptedUsage(1000, 1000) } });

        var run = await Herd.RunAsync("-p", "Generate migration plan for this repo", "--max-budget-usd", "0.04", "--output-format", "json");

        run.ExitCode.ShouldBe(1);
        var r = run.Json;
        ((string?)r["subtype"]).ShouldBe("error_max_budget_usd");
        ((string?)r["terminal_reason"]).ShouldBe("budget_exhausted");
        r["errors"]!.AsArray().Select(e => (string?)e).ShouldBe(["Reached maximum budget ($0.04)"]);
        ((double)r["total_cost_usd"]!).ShouldBe(0.048, 1e-9);
        Server.RequestCount.ShouldBe(2);
    }

    [Fact]
    public async Task A_zero_budget_fails_at_once()
    {
        var run = await Herd.RunAsync("-p", "hi", "--max-budget-usd", "0");

        run.ExitCode.ShouldBe(1);
        run.Stdout.ShouldBe("Error: Exceeded USD budget (0)");
        Server.RequestCount.ShouldBe(0);
    }

    [Fact]
    public async Task Strict_budget_lowers_max_tokens_to_fit_and_never_crosses_the_cap()
    {
        Server.Reset(AlwaysReadsAFile() with { Default = AlwaysReadsAFile().Default! with { Usage = new ScriptedUsage(1000, 1000) } });

        var run = await Herd.RunAsync("-p", "go", "--max-budget-usd", "0.1", "--budget-mode", "strict", "--output-format", "json");

        run.ExitCode.ShouldBe(1);
        var r = run.Json;
        ((string?)r["subtype"]).ShouldBe("error_max_budget_usd");
        ((double)r["total_cost_usd"]!).ShouldBeLessThanOrEqualTo(0.1);
        var maxTokens = Server.Requests.Select(q => (int)q.Json["max_tokens"]!).ToList();
        // A full 64k-token reply at $15/MTok would cost $0.96: every call was cut down to fit what was left.
        maxTokens.ShouldAllBe(m => m < 64000 && m >= 1024);
    }

    [Fact]
    public async Task A_timeout_ends_the_run_as_an_execution_error()
    {
        Server.Reset(new ModelScript { LatencyMs = 5000 });

        var run = await Herd.RunAsync("-p", "slow", "--timeout", "500ms", "--output-format", "json");

        run.ExitCode.ShouldBe(1);
        ((string?)run.Json["subtype"]).ShouldBe("error_during_execution");
        run.Json["errors"]!.AsArray().Select(e => (string?)e).ShouldBe(["Timed out after 0.5s"]);
    }

    [Fact]
    public async Task Extended_exit_codes_tell_limits_from_retryable_errors()
    {
        Server.Reset(AlwaysReadsAFile());
        var limited = await Herd.RunAsync("-p", "loop", "--max-turns", "1", "--exit-codes", "extended");
        limited.ExitCode.ShouldBe(3);
        limited.Stderr.ShouldContain("\"herd_error\"");

        Server.Reset(new ModelScript { Default = Reply.Error(529, retryAfter: 0) });
        var overloaded = await Herd.WithEnvironment("HERD_MAX_RETRIES", "1").RunAsync("-p", "hi", "--exit-codes", "extended");
        overloaded.ExitCode.ShouldBe(2);
        overloaded.Stderr.ShouldContain("\"retryable\":true");
    }
}
