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
    public async Task A_gate_on_an_enqueued_run_is_refused_with_the_command_that_judges_it_later()
    {
        await using var h = await FleetHarness.StartAsync(new ModelScript());

        var exit = await h.RunAsync("--store", "postgres://herd@127.0.0.1:1/herd", "--enqueue", "--gate", "max-failed=0", "--prompt", "Do {}", ":::", "a");

        exit.ShouldBe(255);
        h.Err.ToString().Trim().Split('\n').Length.ShouldBe(1);
        h.Err.ToString().ShouldContain("herd gate RUN --store URL");
        Directory.Exists(Path.Combine(h.Dir, ".herd")).ShouldBeFalse();
    }

    [Theory]
    [InlineData("tasks-pipe")]
    [InlineData("sample-percent")]
    public async Task A_temporary_directory_that_cannot_be_written_is_one_line_naming_TMPDIR_and_nothing_runs(string what)
    {
        // Given what spools to a temporary file (a --tasks pipe, read twice; --sample P%, whose size is known at the end)
        // and a TMPDIR that does not exist
        await using var server = await ScriptedModelServer.StartAsync(new ModelScript());
        using var temp = new TempDirectory("herd-tmpdir");
        var herd = new HerdProcess(server.BaseUrl, temp.Path, Path.Combine(temp.Path, ".config"))
            .WithEnvironment("TMPDIR", Path.Combine(temp.Path, "missing"));

        var run = what == "tasks-pipe"
            ? await herd.RunAsync(["run", "--tasks", "/dev/stdin", "--prompt", "Do {f}", "--run-dir", "run"], stdin: "{\"name\":\"a\",\"inputs\":{\"f\":\"a\"}}\n")
            : await herd.RunAsync(["run", "--sample", "50%", "--prompt", "Do {}", "--run-dir", "run", ":::", "a", "b", "c"]);

        // Then one line names the directory and the fix, the exit is non-zero, and nothing was asked of the model
        run.ExitCode.ShouldNotBe(0);
        var lines = run.Stderr.Trim().Split('\n');
        lines.Length.ShouldBe(1, run.Stderr);
        lines[0].ShouldContain("cannot create a temporary file");
        lines[0].ShouldContain("Set TMPDIR");
        server.RequestCount.ShouldBe(0);
        Directory.Exists(Path.Combine(temp.Path, "run")).ShouldBeFalse();
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

/// <summary>Bad input by class (issue #10): each class gets one line naming the thing and the fix, exit 255, nothing written.</summary>
public sealed class BadInputClassTests
{
    [Theory]
    [InlineData("--timeout", "1e300s", "too long")]
    [InlineData("--timeout", "99999d", "too long")]
    [InlineData("--idle-timeout", "1e300s", "too long")]
    [InlineData("--timeout", "abc%", "not a valid percentage")]
    [InlineData("--timeout", "0s", "not a duration")]
    [InlineData("--delay", "NaNs", "not a duration")]
    [InlineData("-j", "99999999999", "-j")]
    [InlineData("--retries", "1.5", "--retries")]
    [InlineData("--budget-usd", "1e400", "--budget-usd")]
    [InlineData("--sample", "0.5", "--sample")]
    [InlineData("--rerun-class", "oops", "not an outcome class")]
    public async Task Numbers_and_durations_out_of_range_are_refused_with_the_flag(string flag, string value, string expected)
    {
        await using var h = await FleetHarness.StartAsync(new ModelScript());

        (await h.RunAsync(flag, value, "--prompt", "Do {}", "--run-dir", "run", ":::", "a")).ShouldBe(255);

        OneLine(h.Err.ToString()).ShouldContain(expected);
        h.Err.ToString().ShouldContain(flag);
        Directory.Exists(h.RunDir()).ShouldBeFalse();
    }

    [Fact]
    public async Task A_timeout_given_as_a_percentage_of_the_median_runs_as_documented()
    {
        await using var h = await FleetHarness.StartAsync(new ModelScript());

        (await h.RunAsync("--timeout", "300%", "--prompt", "Do {}", "--run-dir", "run", "--progress", "none", ":::", "a", "b")).ShouldBe(0);
    }

    [Theory]
    [InlineData("{\"inputs\":{\"f\":\"a\"},\"caps\":{\"timeout_s\":1e300}}", "caps.timeout_s is too long")]
    [InlineData("{\"inputs\":{\"f\":\"a\"},\"caps\":{\"max_turns\":0.5}}", "caps.max_turns must be a whole number")]
    [InlineData("{\"inputs\":{\"f\":\"a\"},\"caps\":{\"max_turns\":1e12}}", "caps.max_turns must be a whole number")]
    [InlineData("{\"inputs\":{\"f\":\"a\"},\"caps\":{\"idle_timeout_s\":-1}}", "caps.idle_timeout_s must be a positive number")]
    public async Task Caps_in_a_tasks_file_are_checked_like_flags(string line, string expected)
    {
        await using var h = await FleetHarness.StartAsync(new ModelScript());
        File.WriteAllText(Path.Combine(h.Dir, "t.ndjson"), line + "\n");

        (await h.RunAsync("--tasks", "t.ndjson", "--prompt", "Do {f}", "--run-dir", "run")).ShouldBe(255);

        OneLine(h.Err.ToString()).ShouldContain(expected);
        h.Err.ToString().ShouldContain("t.ndjson line 1");
        Directory.Exists(h.RunDir()).ShouldBeFalse();
    }

    [Fact]
    public async Task Paths_of_the_wrong_kind_are_named_with_what_they_are()
    {
        await using var h = await FleetHarness.StartAsync(new ModelScript());
        Directory.CreateDirectory(Path.Combine(h.Dir, "adir"));
        File.WriteAllText(Path.Combine(h.Dir, "afile"), "x");
        File.WriteAllBytes(Path.Combine(h.Dir, "binary.bin"), [0x7f, 0x45, 0x4c, 0x46, 0, 0, 0, 1, 2, 3]);

        (await h.RunAsync("--input", "adir", "--prompt", "Do {}")).ShouldBe(255);
        OneLine(h.Err.ToString()).ShouldContain("--input 'adir' is a directory");

        (await h.RunAsync("--prompt-file", "adir", ":::", "a")).ShouldBe(255);
        OneLine(h.Err.ToString()).ShouldContain("--prompt-file 'adir' is a directory");

        (await h.RunAsync("--prompt-file", "binary.bin", ":::", "a")).ShouldBe(255);
        OneLine(h.Err.ToString()).ShouldContain("is a binary file");

        (await h.RunAsync("--tasks", "/dev/zero", "--prompt", "x")).ShouldBe(255);
        OneLine(h.Err.ToString()).ShouldContain("is a binary file");

        (await h.RunAsync("--prompt", "Do {}", "--run-dir", "afile", ":::", "a")).ShouldBe(255);
        OneLine(h.Err.ToString()).ShouldContain("is a file, not a directory");

        (await h.RunAsync("--prompt", "Do {}", "--run-dir", "", ":::", "a")).ShouldBe(255);
        OneLine(h.Err.ToString()).ShouldContain("--run-dir is empty");

        (await h.RunAsync("--prompt", "Do {}", "--audit-log", "adir", "--run-dir", "run", ":::", "a")).ShouldBe(255);
        OneLine(h.Err.ToString()).ShouldContain("--audit-log 'adir' is a directory");

        (await h.RunAsync("--prompt", "Do {}", "--audit-log", "afile/log.jsonl", "--run-dir", "run", ":::", "a")).ShouldBe(255);
        OneLine(h.Err.ToString()).ShouldContain("is a file, not a directory");

        Directory.Exists(h.RunDir()).ShouldBeFalse();
        h.Server.RequestCount.ShouldBe(0);
    }

    [Fact]
    public async Task A_run_directory_on_a_read_only_filesystem_is_refused_in_one_line()
    {
        await using var h = await FleetHarness.StartAsync(new ModelScript());
        var ro = Path.Combine(h.Dir, "ro");
        Directory.CreateDirectory(ro);
        Root.Run("mount", "-t", "tmpfs", "-o", "size=1m,ro", "tmpfs", ro);
        try
        {
            (await h.RunAsync("--prompt", "Do {}", "--run-dir", "ro/run", ":::", "a")).ShouldBe(255);

            var err = h.Err.ToString();
            err.Trim().Split('\n').Length.ShouldBe(1, err);
            err.ShouldContain("ro/run");
            err.ShouldNotContain("   at ");
            h.Server.RequestCount.ShouldBe(0);
        }
        finally
        {
            Root.Run("umount", ro);
        }
    }

    [Fact]
    public async Task A_damaged_run_is_named_while_herd_runs_list_still_lists_the_good_ones()
    {
        await using var h = await FleetHarness.StartAsync(new ModelScript());
        var root = Path.Combine(h.Dir, ".herd", "runs");
        (await h.RunAsync("--prompt", "Do {}", "--run-dir", Path.Combine(root, "good"), "--progress", "none", ":::", "a")).ShouldBe(0);
        (await h.RunAsync("--prompt", "Do {}", "--run-dir", Path.Combine(root, "torn"), "--progress", "none", ":::", "b")).ShouldBe(0);
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        var torn = Path.Combine(root, "torn", "run.db");
        File.WriteAllBytes(torn, File.ReadAllBytes(torn)[..100]);
        Directory.CreateDirectory(Path.Combine(root, "garbage"));
        File.WriteAllText(Path.Combine(root, "garbage", "run.db"), "this is not a database at all, just text that is long enough to be read as a header......");

        var stdout = new StringWriter();
        var stderr = new StringWriter();
        var exit = Herd.Cli.Run.RunsCommand.Run(["list"], stdout, stderr, h.Dir);

        exit.ShouldBe(1);
        stdout.ToString().ShouldContain("good");
        stdout.ToString().ShouldNotContain("torn");
        stderr.ToString().ShouldContain("skipped garbage");
        stderr.ToString().ShouldContain("skipped torn");
        stderr.ToString().ShouldNotContain("   at ");

        (await h.RunAsync("--resume", "--run-dir", Path.Combine(root, "garbage"))).ShouldBe(255);
        OneLine(h.Err.ToString()).ShouldContain("is damaged");
    }

    [Fact]
    public async Task A_closed_port_halts_the_run_in_seconds_with_one_line_per_endpoint_state_and_the_run_resumes()
    {
        // Given an ANTHROPIC_BASE_URL where nothing listens, and ten tasks eight at a time
        await using var h = await FleetHarness.StartAsync(new ModelScript { Default = Reply.WithText("ok") });
        using var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        var port = ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop(); // now nothing listens there
        h.ClientOverride = h.ClientOptions with { BaseUrl = new Uri($"http://127.0.0.1:{port}") };
        var clock = System.Diagnostics.Stopwatch.StartNew();

        var exit = await h.RunAsync(["-j", "8", "--prompt", "Do {}", "--run-dir", "run", "--retries", "3", "--progress", "none", ":::", .. FleetHarness.Inputs(10)]);

        // Then the run halts as run-fatal within seconds, not after every task's retries
        exit.ShouldBe(103, h.Err.ToString());
        clock.Elapsed.ShouldBeLessThan(TimeSpan.FromSeconds(30));
        // And stderr says it once per state of the endpoint, not once per task or retry
        var lines = h.Err.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries);
        lines.Count(l => l.StartsWith($"herd: API unreachable at http://127.0.0.1:{port}: connection refused; calls are retried", StringComparison.Ordinal)).ShouldBe(1, h.Err.ToString());
        lines.Count(l => l.Contains("giving up without more retries. Check ANTHROPIC_BASE_URL.", StringComparison.Ordinal)).ShouldBe(1, h.Err.ToString());
        lines.Length.ShouldBeLessThanOrEqualTo(4, h.Err.ToString());
        h.Records().ShouldAllBe(r => r.GetProperty("outcome").GetProperty("class").GetString() == "unreachable");
        // And the closing line names the flag that runs them again (plain --resume skips tasks with a final record)
        lines.ShouldContain(l => l.Contains("once the endpoint answers, continue with: herd run --resume-failed --run-dir", StringComparison.Ordinal), h.Err.ToString());

        // And once the endpoint is up, the same run resumes to the end
        h.ClientOverride = null;
        var resumed = await h.RunAsync("--resume-failed", "--run-dir", "run", "--progress", "none");
        resumed.ShouldBe(0, h.Err.ToString());
        h.Records().Where(r => r.GetProperty("outcome").GetProperty("class").GetString() == "success")
            .Select(r => r.GetProperty("Seq").GetInt64()).Distinct().Count().ShouldBe(10);
    }

    private static string OneLine(string err)
    {
        var lines = err.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        lines.Length.ShouldBe(1, $"one line on stderr, got: {err}");
        lines[0].ShouldNotContain("Exception");
        return lines[0];
    }
}

internal static class Root
{
    /// <summary>Runs a system command this test needs as root (CI runs as root; a real mount is the honest test).</summary>
    public static void Run(string file, params string[] args)
    {
        using var p = System.Diagnostics.Process.Start(new System.Diagnostics.ProcessStartInfo(file, args) { RedirectStandardError = true })!;
        var err = p.StandardError.ReadToEnd();
        p.WaitForExit();
        p.ExitCode.ShouldBe(0, $"{file} {string.Join(' ', args)} failed: {err.Trim()} (this test needs root, as CI has)");
    }
}
