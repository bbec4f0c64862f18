using Herd.Cli;
using Herd.Fleet.Reports;

namespace Herd.Cli.Tests.Reports;

/// <summary>`herd gate` on the shared review run: 200 tasks, 20 failed, findings up to critical (high).</summary>
[Collection(ReviewRunCollection.Name)]
public sealed class GateTests(ReviewRunFixture run)
{
    private readonly StringWriter _out = new();
    private readonly StringWriter _err = new();

    private int GateExit(params string[] args) => GateCommand.Run(["run", .. args], _out, _err, run.Repo);

    [Theory]
    [InlineData("--max-failed", "20", 0)]
    [InlineData("--max-failed", "19", 1)]
    [InlineData("--max-failed", "10%", 0)]
    [InlineData("--max-failed", "9.5%", 1)]
    [InlineData("--max-severity", "critical", 0)]
    [InlineData("--max-severity", "major", 1)]
    public void The_gate_fails_exactly_when_a_threshold_is_crossed(string flag, string value, int expected)
    {
        GateExit(flag, value).ShouldBe(expected, _err.ToString());
    }

    [Fact]
    public void The_findings_and_cost_gates_fail_exactly_past_their_thresholds()
    {
        var data = RunReader.Read(run.RunDir);
        var findings = ReviewRunFixture.ExpectedFindings;
        var cost = data.CostUsd;

        Gate.Evaluate(run.RunDir, new GateOptions(MaxFindings: findings)).Passed.ShouldBeTrue();
        Gate.Evaluate(run.RunDir, new GateOptions(MaxFindings: findings - 1)).Passed.ShouldBeFalse();
        Gate.Evaluate(run.RunDir, new GateOptions(MaxCostUsd: cost + 1e-9)).Passed.ShouldBeTrue();
        Gate.Evaluate(run.RunDir, new GateOptions(MaxCostUsd: cost * 0.99)).Passed.ShouldBeFalse();
    }

    [Fact]
    public void Every_failed_condition_is_one_line_and_the_exit_is_1()
    {
        var exit = GateExit("--max-failed", "0", "--max-severity", "minor", "--max-findings", "3", "--max-cost", "0.0001");

        exit.ShouldBe(1);
        var lines = _err.ToString().TrimEnd().Split('\n');
        lines.Length.ShouldBe(4);
        lines[0].ShouldBe("gate failed: 20 of 200 tasks failed, 10% > --max-failed 0");
        lines[1].ShouldStartWith("gate failed: ");
        lines[1].ShouldContain("above --max-severity minor (worst: critical, e.g. src/file-");
        lines[2].ShouldBe($"gate failed: {ReviewRunFixture.ExpectedFindings} findings > --max-findings 3");
        lines[3].ShouldStartWith("gate failed: cost $");
        lines[3].ShouldEndWith(" > --max-cost $0.0001");
    }

    [Fact]
    public void A_passing_gate_exits_0_and_says_so()
    {
        GateExit("--max-failed", "25", "--max-severity", "blocker").ShouldBe(0);
        _err.ToString().Trim().ShouldBe("gate passed");
    }

    [Fact]
    public void Unfinished_tasks_count_as_failed()
    {
        // Given the run as if 5 more tasks had been planned and never run
        var read = RunReader.Open(run.RunDir);
        var bigger = new RunStream(read.Header with { Planned = read.Header.Planned + 5 }, read.Tasks);

        var result = Gate.Evaluate(RunDigest.Build(bigger, ReportOptions.Default), new GateOptions(MaxFailed: new FailedLimit(20, false)));

        result.Failures.Single().ShouldBe("gate failed: 25 of 205 tasks failed (20 failed, 5 unfinished), 12.2% > --max-failed 20");
    }

    [Theory]
    [InlineData(new string[0], "Error: herd gate needs at least one condition")]
    [InlineData(new[] { "--max-failed", "lots" }, "Error: --max-failed 'lots' is not a count or a percentage")]
    [InlineData(new[] { "--max-failed", "120%" }, "Error: --max-failed '120%' is not a count or a percentage")]
    [InlineData(new[] { "--max-severity", "bad" }, "Error: --max-severity 'bad' is not a level")]
    [InlineData(new[] { "--max-findings", "-1" }, "Error: --max-findings '-1' is not a whole number")]
    [InlineData(new[] { "--max-cost", "cheap" }, "Error: --max-cost 'cheap' is not an amount in US dollars")]
    public void Bad_gate_flags_are_one_line_and_exit_255(string[] args, string message)
    {
        GateExit(args).ShouldBe(ExitCodes.CouldNotRun);
        _err.ToString().ShouldStartWith(message);
        _err.ToString().TrimEnd().Split('\n').Length.ShouldBe(1);
    }

    [Fact]
    public void The_run_side_gate_spec_parses_every_condition_and_names_a_bad_one()
    {
        GateOptions.ParseSpec("max-failed=5%, max-severity=major,max-findings=10,max-cost=2.50")
            .ShouldBe(new GateOptions(new FailedLimit(5, true), Severity.Major, 10, 2.5));
        Should.Throw<Herd.Agent.HerdUsageException>(() => GateOptions.ParseSpec("max-failed")).Message.ShouldContain("'max-failed' is not condition=value");
        Should.Throw<Herd.Agent.HerdUsageException>(() => GateOptions.ParseSpec("max-speed=3")).Message.ShouldContain("unknown condition 'max-speed'");
    }

    [Fact]
    public void A_missing_run_is_one_line_and_exit_255()
    {
        GateCommand.Run(["nowhere", "--max-failed", "0"], _out, _err, run.Repo).ShouldBe(ExitCodes.CouldNotRun);
        _err.ToString().ShouldStartWith("Error: no run directory 'nowhere'");
    }
}
