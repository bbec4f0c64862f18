using Herd.Fleet.Store;
using Herd.Testing;

namespace Herd.Cli.Tests.Run;

/// <summary>Bad input: a precise error naming the thing and the fix, exit 255, and no state written.</summary>
public sealed class BadInputTests
{
    [Fact]
    public async Task A_malformed_tasks_file_names_the_file_and_line_and_writes_nothing()
    {
        await using var h = await FleetHarness.StartAsync(new ModelScript());
        File.WriteAllText(Path.Combine(h.Dir, "tasks.ndjson"), "{\"name\":\"a\",\"inputs\":{\"f\":\"a\"}}\n\n{\"name\":\"b\",\"inputs\":[1]}\n");

        var exit = await h.RunAsync("--tasks", "tasks.ndjson", "--prompt", "Do {f}", "--run-dir", "run");

        exit.ShouldBe(255);
        h.Err.ToString().ShouldContain("tasks.ndjson line 3");
        h.Err.ToString().ShouldContain("\"inputs\" must be an object");
        Directory.Exists(h.RunDir()).ShouldBeFalse();
        h.Server.RequestCount.ShouldBe(0);
    }

    [Fact]
    public async Task Invalid_json_in_a_tasks_file_is_reported_with_its_line()
    {
        await using var h = await FleetHarness.StartAsync(new ModelScript());
        File.WriteAllText(Path.Combine(h.Dir, "t.ndjson"), "{\"inputs\":{\"f\":\"a\"}}\n{oops\n");

        (await h.RunAsync("--tasks", "t.ndjson", "--prompt", "Do {f}")).ShouldBe(255);
        h.Err.ToString().ShouldContain("t.ndjson line 2: not valid JSON");
        Directory.Exists(Path.Combine(h.Dir, ".herd")).ShouldBeFalse();
    }

    [Theory]
    [InlineData("0")]
    [InlineData("-3")]
    [InlineData("many")]
    [InlineData("auto:0")]
    public async Task A_bad_job_count_is_refused(string jobs)
    {
        await using var h = await FleetHarness.StartAsync(new ModelScript());

        (await h.RunAsync("-j", jobs, "--prompt", "Do {}", ":::", "a")).ShouldBe(255);
        h.Err.ToString().ShouldContain("-j");
        Directory.Exists(Path.Combine(h.Dir, ".herd")).ShouldBeFalse();
    }

    [Fact]
    public async Task Resume_without_a_run_dir_says_which_flag_is_missing()
    {
        await using var h = await FleetHarness.StartAsync(new ModelScript());

        (await h.RunAsync("--resume")).ShouldBe(255);
        h.Err.ToString().ShouldContain("--resume needs --run-dir");

        (await h.RunAsync("--resume", "--run-dir", "nowhere")).ShouldBe(255);
        h.Err.ToString().ShouldContain("holds no run");
        Directory.Exists(Path.Combine(h.Dir, "nowhere")).ShouldBeFalse();
    }

    [Fact]
    public async Task An_unreadable_input_file_is_named()
    {
        await using var h = await FleetHarness.StartAsync(new ModelScript());

        (await h.RunAsync("--input", "missing.txt", "--prompt", "Do {}")).ShouldBe(255);
        h.Err.ToString().ShouldContain("--input 'missing.txt' does not exist");
    }

    [Fact]
    public async Task Print_only_flags_and_missing_prompts_are_usage_errors()
    {
        await using var h = await FleetHarness.StartAsync(new ModelScript());

        (await h.RunAsync("--output-format", "json", "--prompt", "x", ":::", "a")).ShouldBe(255);
        h.Err.ToString().ShouldContain("unknown option '--output-format'");

        (await h.RunAsync(":::", "a")).ShouldBe(255);
        h.Err.ToString().ShouldContain("--prompt");

        (await h.RunAsync("--prompt", "x")).ShouldBe(255);
        h.Err.ToString().ShouldContain("no inputs");

        (await h.RunAsync("--halt", "sometimes", "--prompt", "x", ":::", "a")).ShouldBe(255);
        h.Err.ToString().ShouldContain("--halt 'sometimes'");
    }

    [Fact]
    public async Task A_new_run_refuses_an_existing_run_dir_and_a_second_orchestrator_is_refused()
    {
        await using var h = await FleetHarness.StartAsync(new ModelScript());
        (await h.RunAsync("--prompt", "Do {}", "--run-dir", "run", "--progress", "none", ":::", "a")).ShouldBe(0);

        (await h.RunAsync("--prompt", "Do {}", "--run-dir", "run", ":::", "b")).ShouldBe(255);
        h.Err.ToString().ShouldContain("already holds a run");

        // A live holder (this very test process, on this host, with a fresh heartbeat) keeps the lock.
        using (var store = SqliteRunStore.Open(h.RunDir()))
            store.AcquireLock(Environment.ProcessId, Environment.MachineName, DateTimeOffset.UtcNow, TimeSpan.FromSeconds(30), _ => true);
        var exit = await h.RunAsync("--resume", "--run-dir", "run");
        exit.ShouldBe(0, "the same pid re-entering is not a second orchestrator");

        using (var store = SqliteRunStore.Open(h.RunDir()))
        {
            store.ReleaseLock();
            store.AcquireLock(1, "another-host", DateTimeOffset.UtcNow, TimeSpan.FromSeconds(30), _ => true);
        }
        (await h.RunAsync("--resume", "--run-dir", "run")).ShouldBe(255);
        h.Err.ToString().ShouldContain("is in use by pid 1 on another-host");
    }
}
