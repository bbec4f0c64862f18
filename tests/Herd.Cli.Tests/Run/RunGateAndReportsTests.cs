using Herd.Testing;

namespace Herd.Cli.Tests.Run;

/// <summary>What herd run does by itself when it ends: report.html, the GitHub step summary, and --gate (issue #11, #12).</summary>
public sealed class RunGateAndReportsTests
{
    private static ModelScript OneBadTask() => new()
    {
        Conversations = [new Conversation("bad", [Reply.Error(400, errorType: "invalid_request_error")])],
    };

    [Fact]
    public async Task A_gate_on_the_run_replaces_the_failed_count_with_its_verdict()
    {
        // Given four tasks of which one fails for good
        await using var h = await FleetHarness.StartAsync(OneBadTask());
        string[] inputs = ["a", "b", "c", "bad"];

        // When the gate allows half of them to fail
        var lenient = await h.RunAsync(["--gate", "max-failed=50%", "--prompt", "Do {}", "--run-dir", "lenient", "--progress", "none", ":::", .. inputs]);

        // Then the run passes, and says so
        lenient.ShouldBe(0, h.Err.ToString());
        h.Err.ToString().ShouldContain("herd: gate passed");

        // When the gate allows none
        var strict = await h.RunAsync(["--gate", "max-failed=0", "--prompt", "Do {}", "--run-dir", "strict", "--progress", "none", ":::", .. inputs]);

        // Then it fails with 1 and one line naming the condition
        strict.ShouldBe(1);
        h.Err.ToString().ShouldContain("herd: gate: ");
        h.Err.ToString().ShouldContain("failed");
    }

    [Fact]
    public async Task Herd_gate_without_conditions_checks_the_run_against_the_gate_it_was_created_with()
    {
        // Given a run created with --gate max-failed=0 and one created without, each with one failed task
        await using var h = await FleetHarness.StartAsync(OneBadTask());
        string[] inputs = ["a", "b", "c", "bad"];
        (await h.RunAsync(["--gate", "max-failed=0", "--prompt", "Do {}", "--run-dir", "gated", "--progress", "none", ":::", .. inputs])).ShouldBe(1);
        (await h.RunAsync(["--prompt", "Do {}", "--run-dir", "ungated", "--progress", "none", ":::", .. inputs])).ShouldBe(1);

        // When herd gate checks them with no condition of its own, then with one
        var (stored, storedErr) = Gate([h.RunDir("gated")], h.Dir);
        var (given, givenErr) = Gate([h.RunDir("gated"), "--max-failed", "1"], h.Dir);
        var (none, noneErr) = Gate([h.RunDir("ungated")], h.Dir);

        // Then the stored gate decides, a condition given replaces it, and a run without one asks for a condition
        stored.ShouldBe(1, storedErr);
        storedErr.ShouldContain("failed");
        given.ShouldBe(0, givenErr);
        none.ShouldBe(255);
        noneErr.ShouldStartWith("Error: herd gate needs at least one condition (the run was created without --gate)");
    }

    [Fact]
    public async Task Runs_show_names_the_model_and_the_budget_the_run_was_created_with()
    {
        // Given a run created with a model and a budget
        await using var h = await FleetHarness.StartAsync(new ModelScript());
        (await h.RunAsync(["--model", "claude-sonnet-4-5", "--budget-usd", "7", "--prompt", "Do {}", "--run-dir", "shown", "--progress", "none", ":::", "a"])).ShouldBe(0, h.Err.ToString());

        // When herd runs show describes it
        var show = new StringWriter();
        Herd.Cli.Run.RunsCommand.Run(["show", h.RunDir("shown")], show, new StringWriter(), h.Dir).ShouldBe(0);

        // Then both come from its stored definition
        show.ToString().ShouldContain("model      claude-sonnet-4-5");
        show.ToString().ShouldContain("budget     $7");
    }

    [Fact]
    public async Task Runs_show_json_without_a_summary_takes_the_wall_time_from_the_first_start_to_the_last_end_of_the_attempts()
    {
        // Given a finished run whose summary.json is gone (a run killed before it wrote one, or a partial artifact)
        await using var h = await FleetHarness.StartAsync(new ModelScript());
        (await h.RunAsync(["--prompt", "Do {}", "--run-dir", "nosummary", "--progress", "none", "-j", "1", ":::", "a", "b", "c"])).ShouldBe(0, h.Err.ToString());
        File.Delete(Path.Combine(h.RunDir("nosummary"), "summary.json"));
        string first, last;
        using (var db = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={Path.Combine(h.RunDir("nosummary"), "run.db")};Mode=ReadOnly;Pooling=false"))
        {
            db.Open();
            using var cmd = db.CreateCommand();
            cmd.CommandText = "SELECT MIN(start), MAX(end) FROM attempts";
            using var r = cmd.ExecuteReader();
            r.Read();
            (first, last) = (r.GetString(0), r.GetString(1));
        }
        var expected = (DateTimeOffset.Parse(last, System.Globalization.CultureInfo.InvariantCulture) - DateTimeOffset.Parse(first, System.Globalization.CultureInfo.InvariantCulture)).TotalSeconds;

        // When herd runs show --json sums it up
        var show = new StringWriter();
        Herd.Cli.Run.RunsCommand.Run(["show", h.RunDir("nosummary"), "--json"], show, new StringWriter(), h.Dir).ShouldBe(0);

        // Then its wall time is the attempts' span, read with one aggregate query (not 0, and not every attempt loaded)
        var wall = (double)System.Text.Json.Nodes.JsonNode.Parse(show.ToString())!["durations_s"]!["wall"]!;
        expected.ShouldBeGreaterThan(0);
        wall.ShouldBe(expected, 0.0015);
    }

    private static (int Exit, string Stderr) Gate(string[] args, string cwd)
    {
        var err = new StringWriter();
        var exit = Herd.Cli.GateCommand.Run(args, new StringWriter(), err, cwd);
        return (exit, err.ToString());
    }

    [Fact]
    public async Task Every_run_leaves_a_report_and_under_github_actions_appends_a_step_summary_unless_ci_none()
    {
        await using var h = await FleetHarness.StartAsync(new ModelScript());
        var summary = Path.Combine(h.Dir, "step-summary.md");
        h.Environment["GITHUB_ACTIONS"] = "true";
        h.Environment["GITHUB_STEP_SUMMARY"] = summary;

        (await h.RunAsync("--prompt", "Do {}", "--run-dir", "gh", "--progress", "none", ":::", "a", "b")).ShouldBe(0);

        File.Exists(Path.Combine(h.RunDir("gh"), "report.html")).ShouldBeTrue();
        File.ReadAllText(summary).ShouldContain("gh");
        var before = File.ReadAllText(summary);

        (await h.RunAsync("--ci", "none", "--prompt", "Do {}", "--run-dir", "quiet", "--progress", "none", ":::", "a", "b")).ShouldBe(0);

        File.ReadAllText(summary).ShouldBe(before);
        File.Exists(Path.Combine(h.RunDir("quiet"), "report.html")).ShouldBeTrue();
    }

    [Theory]
    [InlineData("--gate", "max-failed", "--gate")]
    [InlineData("--gate", "max-colour=3", "unknown condition")]
    [InlineData("--ci", "jenkins", "--ci 'jenkins'")]
    public async Task A_bad_gate_or_ci_value_is_one_line_and_exit_255(string flag, string value, string expected)
    {
        await using var h = await FleetHarness.StartAsync(new ModelScript());

        (await h.RunAsync(flag, value, "--prompt", "Do {}", "--run-dir", "run", ":::", "a")).ShouldBe(255);

        h.Err.ToString().ShouldContain(expected);
        h.Err.ToString().Trim().Split('\n').Length.ShouldBe(1);
        Directory.Exists(h.RunDir()).ShouldBeFalse();
    }

    [Fact]
    public async Task A_fleet_wide_pause_is_recorded_for_the_report_timeline()
    {
        // Given a model that answers the first call with 429 and retry-after
        await using var h = await FleetHarness.StartAsync(ModelScript.Replies(Reply.Error(429, retryAfter: 0.2)));

        (await h.RunAsync("--prompt", "Do {}", "--run-dir", "run", "--retries", "2", "--retry-base", "1ms", "--progress", "none", ":::", "a")).ShouldBe(0, h.Err.ToString());

        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        using var db = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={Path.Combine(h.RunDir(), "run.db")};Mode=ReadOnly;Pooling=false");
        db.Open();
        using var cmd = db.CreateCommand();
        cmd.CommandText = "SELECT detail FROM events WHERE kind = 'pause'";
        var detail = (string?)cmd.ExecuteScalar();
        detail.ShouldNotBeNull();
        detail.ShouldEndWith("retry-after 429");
    }
}

/// <summary>A fleet runs thousands of sessions in one process; none of them may leave its scratch folder behind.</summary>
public sealed class RunScratchTests
{
    [Fact]
    public async Task A_tasks_saved_bash_output_and_its_scratch_folder_are_gone_when_the_task_ends()
    {
        // Given a task whose Bash command prints more than the inline limit, so its output is saved to a file
        var script = new ModelScript
        {
            Conversations = [new Conversation("big", [
                Reply.WithTool("Bash", new System.Text.Json.Nodes.JsonObject { ["command"] = "head -c 60000 /dev/zero | tr '\\0' x" }),
                Reply.WithText("done")])],
        };
        await using var h = await FleetHarness.StartAsync(script);

        // When the run finishes
        (await h.RunAsync("--allowedTools", "Bash", "--prompt", "Do {}", "--run-dir", "run", "--progress", "none", ":::", "big")).ShouldBe(0, h.Err.ToString());

        // Then the model was told where the output was saved, and that folder no longer exists
        var toolResult = h.Server.Requests.Last().Body;
        var match = System.Text.RegularExpressions.Regex.Match(toolResult, @"Full output saved to: ([^\s\\]+)");
        match.Success.ShouldBeTrue(toolResult.Length > 2000 ? toolResult[..2000] : toolResult);
        var saved = match.Groups[1].Value;
        var scratch = saved[..saved.IndexOf("/tool-results/", StringComparison.Ordinal)];
        Directory.Exists(scratch).ShouldBeFalse($"{scratch} was left behind");
    }
}
