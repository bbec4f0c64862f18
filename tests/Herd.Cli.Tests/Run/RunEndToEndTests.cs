using Herd.Testing;

namespace Herd.Cli.Tests.Run;

/// <summary>`herd run` in-process against the real scripted server, real SQLite and the real agent.</summary>
public sealed class RunEndToEndTests
{
    [Fact]
    public async Task I_can_run_200_tasks_through_seeded_429_529_5xx_dropped_and_truncated_streams_and_all_succeed()
    {
        // Given a server that fails about a quarter of all calls in every way it can
        var faults = new FaultPlan { Seed = 7, Rate429 = 0.05, Rate529 = 0.05, Rate500 = 0.05, RateDrop = 0.04, RateTruncate = 0.03, RateStreamError = 0.03 };
        await using var h = await FleetHarness.StartAsync(new ModelScript { LatencyMs = 5, Faults = faults });

        // When 200 tasks run with fast fleet backoff
        var exit = await h.RunAsync(["-j", "16", "--retries", "6", "--retry-base", "5ms", "--prompt", "Summarize {}", "--run-dir", "run", "--progress", "none", ":::", .. FleetHarness.Inputs(200)]);

        // Then every task has exactly one successful record
        exit.ShouldBe(0, h.Err.ToString());
        var records = h.Records();
        records.Count.ShouldBe(200);
        records.Select(r => r.GetProperty("key").GetString()).Distinct().Count().ShouldBe(200);
        records.ShouldAllBe(r => r.GetProperty("outcome").GetProperty("class").GetString() == "success");
        h.Out.ToString().Trim().ShouldEndWith("results.ndjson");
        File.ReadAllText(Path.Combine(h.RunDir(), "summary.json")).ShouldContain("\"success\": 200");
    }

    [Fact]
    public async Task The_run_wide_budget_is_never_crossed_under_random_task_costs_and_the_run_exits_102()
    {
        // Given 80 tasks whose costs vary from about $0.002 to $0.03
        var random = new Random(3);
        var conversations = Enumerable.Range(1, 80).Select(i =>
            new Conversation($"item-{i:D4}", [Reply.WithText("ok", new ScriptedUsage(Input: 200 + random.Next(2000), Output: 50 + random.Next(1800)))])).ToArray();
        await using var h = await FleetHarness.StartAsync(new ModelScript { LatencyMs = 5, Conversations = conversations });
        const double ceiling = 0.40;

        // When they run with a ceiling far below their total
        var exit = await h.RunAsync(["-j", "8", "--max-tokens", "2000", "--budget-usd", "0.40", "--prompt", "Do {}", "--run-dir", "run", "--progress", "none", ":::", .. FleetHarness.Inputs(80)]);

        // Then the run halts on budget and the recorded spend stays within the ceiling
        exit.ShouldBe(102, h.Err.ToString());
        var records = h.Records();
        records.Count.ShouldBeGreaterThan(0);
        records.Count.ShouldBeLessThan(80);
        using var store = Herd.Fleet.Store.SqliteRunStore.Open(h.RunDir());
        store.TotalSpentUsd().ShouldBeLessThanOrEqualTo(ceiling);
        records.Sum(r => r.GetProperty("cost_usd").GetDouble()).ShouldBeLessThanOrEqualTo(ceiling);
        h.Err.ToString().ShouldContain("--resume");
    }

    [Fact]
    public async Task Halt_soon_on_failures_stops_starting_tasks_and_exits_with_the_failure_count()
    {
        // Given tasks that all fail with a non-retryable invalid request
        await using var h = await FleetHarness.StartAsync(new ModelScript { Default = Reply.Error(400) });

        // When the run may fail twice
        var exit = await h.RunAsync(["-j", "1", "--halt", "soon,fail=2", "--prompt", "Do {}", "--run-dir", "run", "--progress", "none", ":::", .. FleetHarness.Inputs(10)]);

        // Then it stops after two failures, leaving the rest resumable
        exit.ShouldBe(2, h.Err.ToString());
        var records = h.Records();
        records.Count.ShouldBe(2);
        records.ShouldAllBe(r => r.GetProperty("outcome").GetProperty("class").GetString() == "invalid_request");
        h.Err.ToString().ShouldContain("halted");
    }

    [Fact]
    public async Task Halt_now_with_a_percentage_cancels_running_tasks_and_leaves_them_resumable()
    {
        await using var h = await FleetHarness.StartAsync(new ModelScript
        {
            LatencyMs = 5,
            Conversations = [new Conversation("bad", [Reply.Error(400)]), new Conversation("slow", [new Reply { Text = "late", LatencyMs = 3000 }])],
        });
        string[] inputs = [.. Enumerable.Range(1, 4).Select(i => $"slow-{i}"), .. Enumerable.Range(1, 12).Select(i => $"bad-{i}")];

        var started = DateTime.UtcNow;
        var exit = await h.RunAsync(["-j", "8", "--halt", "now,fail=50%", "--halt-min", "3", "--prompt", "Do {}", "--run-dir", "run", "--progress", "none", ":::", .. inputs]);

        (DateTime.UtcNow - started).ShouldBeLessThan(TimeSpan.FromSeconds(2.5));
        exit.ShouldBeInRange(3, 12);
        h.Records().ShouldAllBe(r => r.GetProperty("outcome").GetProperty("class").GetString() == "invalid_request");
        using var store = Herd.Fleet.Store.SqliteRunStore.Open(h.RunDir());
        store.Totals().Unfinished.ShouldBeGreaterThan(0);
    }

    [Fact]
    public async Task An_auth_failure_halts_the_run_now_with_exit_103()
    {
        await using var h = await FleetHarness.StartAsync(new ModelScript { Default = Reply.Error(401) });

        var exit = await h.RunAsync(["-j", "2", "--prompt", "Do {}", "--run-dir", "run", "--progress", "none", ":::", .. FleetHarness.Inputs(20)]);

        exit.ShouldBe(103, h.Err.ToString());
        h.Records().Count.ShouldBeLessThanOrEqualTo(2);
        h.Records()[0].GetProperty("outcome").GetProperty("class").GetString().ShouldBe("auth");
    }

    [Fact]
    public async Task I_can_retry_failed_tasks_and_keep_exactly_one_record_per_task()
    {
        // Given a run where a third of the tasks fail for good
        await using var h = await FleetHarness.StartAsync(new ModelScript { Conversations = [new Conversation("flaky", [Reply.Error(400)])] });
        string[] inputs = [.. FleetHarness.Inputs(6, "fine"), .. FleetHarness.Inputs(3, "flaky")];
        (await h.RunAsync(["--prompt", "Do {}", "--run-dir", "run", "--progress", "none", ":::", .. inputs])).ShouldBe(3);

        // When the server is fixed and the failed tasks are retried from the stored plan
        h.Server.Reset(new ModelScript());
        var exit = await h.RunAsync("--retry-failed", "--run-dir", "run", "--progress", "none");

        // Then all succeed and each key has one record
        exit.ShouldBe(0, h.Err.ToString());
        var records = h.Records();
        records.Count.ShouldBe(9);
        records.Select(r => r.GetProperty("key").GetString()).Distinct().Count().ShouldBe(9);
        records.ShouldAllBe(r => r.GetProperty("outcome").GetProperty("class").GetString() == "success");
    }

    [Fact]
    public async Task Inputs_come_from_stdin_lines_and_named_ndjson_inputs_render_into_the_prompt()
    {
        await using var h = await FleetHarness.StartAsync(new ModelScript { Default = Reply.WithText("echo: {prompt}") });

        (await h.RunWithStdinAsync("src/a.cs\nsrc/b.cs\n\n", "--prompt", "Review {/.} in {//} ({#})", "--run-dir", "stdin", "--progress", "none")).ShouldBe(0, h.Err.ToString());
        h.Records("stdin").Select(r => r.GetProperty("Stdout").GetString()).Order().ShouldBe(["echo: Review a in src (1)", "echo: Review b in src (2)"]);

        File.WriteAllText(Path.Combine(h.Dir, "tasks.ndjson"), """
            {"name":"one","inputs":{"file":"x.py","lang":"python"},"prompt":"Port {file} from {lang}"}
            {"name":"two","inputs":{"file":"y.py"},"caps":{"max_turns":3}}
            """);
        (await h.RunAsync("--tasks", "tasks.ndjson", "--prompt", "Check {file}", "--run-dir", "nd", "--progress", "none")).ShouldBe(0, h.Err.ToString());
        var records = h.Records("nd").OrderBy(r => r.GetProperty("task").GetString()).ToArray();
        records[0].GetProperty("Stdout").GetString().ShouldBe("echo: Port x.py from python");
        records[1].GetProperty("Stdout").GetString().ShouldBe("echo: Check y.py");
        records[1].GetProperty("caps").GetProperty("max_turns").GetInt32().ShouldBe(3);
        records[0].GetProperty("inputs").GetProperty("lang").GetString().ShouldBe("python");
    }

    [Fact]
    public async Task Dry_run_lists_tasks_with_an_estimate_and_writes_nothing()
    {
        await using var h = await FleetHarness.StartAsync(new ModelScript());

        var exit = await h.RunAsync("--dry-run", "--estimate", "--prompt", "Do {}", "--run-dir", "run", ":::", "a", "b", "a");

        exit.ShouldBe(0);
        var lines = h.Out.ToString().Trim().Split('\n');
        lines.Length.ShouldBe(2);
        lines[0].Split('\t')[2].ShouldBe("Do a");
        h.Err.ToString().ShouldContain("identical to task 1");
        h.Err.ToString().ShouldContain("estimated $");
        Directory.Exists(h.RunDir()).ShouldBeFalse();
        h.Server.RequestCount.ShouldBe(0);
    }

    [Fact]
    public async Task A_sample_runs_a_seeded_subset_and_projects_the_full_cost()
    {
        await using var h = await FleetHarness.StartAsync(new ModelScript());

        var exit = await h.RunAsync(["--sample", "5", "--seed", "4", "--prompt", "Do {}", "--run-dir", "run", "--progress", "none", ":::", .. FleetHarness.Inputs(50)]);

        exit.ShouldBe(0);
        h.Records().Count.ShouldBe(5);
        h.Err.ToString().ShouldContain("projected full run of 50 task(s)");
    }

    [Fact]
    public async Task An_input_file_that_is_a_pipe_is_read_as_it_streams_and_every_line_runs()
    {
        if (!OperatingSystem.IsLinux())
            return; // mkfifo
        // Given a named pipe (as --input <(git ls-files) is) that a writer fills only once herd opens it
        await using var h = await FleetHarness.StartAsync(new ModelScript());
        var fifo = Path.Combine(h.Dir, "inputs.fifo");
        using (var mk = System.Diagnostics.Process.Start("mkfifo", fifo))
            await mk.WaitForExitAsync();
        var writer = Task.Run(() => File.WriteAllLines(fifo, ["", .. FleetHarness.Inputs(1000, "src/a/longer/path/to/a/file"), "  "]));

        // When herd runs its lines (the first 8 KiB are read ahead for the binary check, then the rest)
        var exit = await h.RunAsync(["-j", "16", "--prompt", "Do {}", "--input", fifo, "--run-dir", "run", "--progress", "none"]);
        await writer;

        // Then every non-blank line became one task
        exit.ShouldBe(0, h.Err.ToString());
        h.Records().Select(r => r.GetProperty("key").GetString()).Distinct().Count().ShouldBe(1000);
    }

    [Fact]
    public async Task A_tasks_file_that_is_a_pipe_is_checked_whole_then_planned_from_its_spool()
    {
        if (!OperatingSystem.IsLinux())
            return; // mkfifo
        // Given --tasks as a named pipe (--tasks <(generate)), checked whole before anything is planned, so read twice
        await using var h = await FleetHarness.StartAsync(new ModelScript());
        var fifo = Path.Combine(h.Dir, "tasks.fifo");
        using (var mk = System.Diagnostics.Process.Start("mkfifo", fifo))
            await mk.WaitForExitAsync();
        var lines = Enumerable.Range(1, 1500).Select(i => $"{{\"name\":\"t{i}\",\"inputs\":{{\"file\":\"src/dir/file{i}.cs\"}},\"prompt\":\"Review {{file}}\"}}");
        var writer = Task.Run(() => File.WriteAllLines(fifo, ["", .. lines]));

        // When herd runs it
        var exit = await h.RunAsync(["-j", "16", "--tasks", fifo, "--run-dir", "run", "--progress", "none"]);
        await writer;

        // Then every line became one task, named as the line says (the second read came from the spool, not the pipe)
        exit.ShouldBe(0, h.Err.ToString());
        var names = h.Records().Select(r => r.GetProperty("task").GetString()).ToHashSet();
        names.Count.ShouldBe(1500);
        names.ShouldContain("t1");
        names.ShouldContain("t1500");
    }
}
