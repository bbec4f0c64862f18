using System.Diagnostics;
using System.Text.Json;
using Herd.Agent;
using Herd.Fleet.Engines;
using Herd.Fleet.Runs;
using Herd.Fleet.Store;
using Herd.Testing;

namespace Herd.Fleet.Tests.Runs;

/// <summary>The run lifecycle through its front door, <see cref="FleetRun"/>: no argv and no CLI involved.</summary>
public sealed class FleetRunTests
{
    [Fact]
    public async Task A_run_from_a_spec_finishes_with_one_record_per_task_a_summary_and_exit_0()
    {
        // Given a plan of five tasks and a model that answers every one
        await using var h = await FleetRunHarness.StartAsync(new ModelScript());
        var plan = FleetRunHarness.PlanOf("a.py", "b.py", "c.py", "d.py", "e.py");

        // When the fleet runs it
        var result = await new FleetRun(h.Spec(plan)).ExecuteAsync();

        // Then every task has exactly one record, the summary agrees, and the lock is released
        result.ExitCode.ShouldBe(0);
        result.Status.ShouldBe(RunStatus.Finished);
        h.ResultLines().Count.ShouldBe(5);
        using var summary = JsonDocument.Parse(File.ReadAllText(Path.Combine(h.RunDir(), "summary.json")));
        summary.RootElement.GetProperty("status").GetString().ShouldBe("finished");
        summary.RootElement.GetProperty("succeeded").GetInt32().ShouldBe(5);
        using var store = SqliteRunStore.OpenReadOnly(h.RunDir());
        store.ReadStatus().ShouldBe((RunStatus.Finished, 0));
        store.LoadTasks().ShouldAllBe(t => t.State == TaskState.Done && t.FinalClass == OutcomeClass.Success);
    }

    [Fact]
    public async Task An_interrupted_run_reports_130_and_a_resume_of_the_same_spec_finishes_only_what_was_left()
    {
        // Given a slow model and a run cancelled as soon as the first task is final
        await using var h = await FleetRunHarness.StartAsync(new ModelScript { LatencyMs = 150 });
        var plan = FleetRunHarness.PlanOf(Enumerable.Range(1, 12).Select(i => $"f{i}.py").ToArray());
        using var cancel = new CancellationTokenSource();
        var fleet = new FleetRun(h.Spec(plan) with { Jobs = new JobsSpec(2) });
        var running = fleet.ExecuteAsync(cancel.Token);
        while (fleet.Status is not { Succeeded: > 0 } && !running.IsCompleted)
            await Task.Delay(10);
        await cancel.CancelAsync();
        var first = await running;

        // Then the run is interrupted, resumable, and no task is lost
        first.ExitCode.ShouldBe(RunExitCodes.Interrupted);
        first.Status.ShouldBe(RunStatus.Interrupted);
        first.Totals.Unfinished.ShouldBeGreaterThan(0);
        var doneBefore = h.ResultLines().Count;

        // When the same spec resumes with no new plan
        var second = await new FleetRun(h.Spec([]) with { Start = RunStart.Resume }).ExecuteAsync();

        // Then it finishes, every task has exactly one record, and finished tasks were not run again
        second.ExitCode.ShouldBe(0);
        var keys = h.ResultLines().Select(l => JsonDocument.Parse(l).RootElement.GetProperty("key").GetString()).ToArray();
        keys.Length.ShouldBe(12);
        keys.Distinct().Count().ShouldBe(12);
        h.Server.RequestCount.ShouldBeLessThanOrEqualTo(12 + 2, "at most the two in flight at the interruption ran twice");
        doneBefore.ShouldBeGreaterThan(0);
    }

    [Fact]
    public async Task A_new_run_in_a_directory_that_holds_one_and_a_resume_of_nothing_are_usage_errors()
    {
        await using var h = await FleetRunHarness.StartAsync(new ModelScript());
        (await new FleetRun(h.Spec(FleetRunHarness.PlanOf("a"))).ExecuteAsync()).ExitCode.ShouldBe(0);

        var again = await Should.ThrowAsync<HerdUsageException>(() => new FleetRun(h.Spec(FleetRunHarness.PlanOf("b"))).ExecuteAsync());
        again.Message.ShouldContain("already holds a run");

        var nothing = await Should.ThrowAsync<HerdUsageException>(() => new FleetRun(h.Spec([], "elsewhere") with { Start = RunStart.Resume }).ExecuteAsync());
        nothing.Message.ShouldContain("holds no run");
        Directory.Exists(h.RunDir("elsewhere")).ShouldBeFalse();
    }

    [Fact]
    public async Task Retry_failed_requeues_failed_tasks_only_and_reruns_them()
    {
        // Given a run whose "bad" task fails for good (400 is not retryable)
        await using var h = await FleetRunHarness.StartAsync(new ModelScript
        {
            Conversations = [new Conversation("bad", [Reply.Error(400, errorType: "invalid_request_error")])],
        });
        var first = await new FleetRun(h.Spec(FleetRunHarness.PlanOf("good", "bad"))).ExecuteAsync();
        first.ExitCode.ShouldBe(1);

        // When it is retried with FailedOnly
        var second = await new FleetRun(h.Spec([]) with { Start = RunStart.Resume, Requeue = RequeueMode.FailedOnly }).ExecuteAsync();

        // Then only the failed task ran again (and failed again); the good one kept its one record
        second.ExitCode.ShouldBe(1);
        h.Notices.ShouldContain("1 failed task(s) requeued.");
        h.ResultLines().Count.ShouldBe(2);
    }

    [Fact]
    public async Task A_full_disk_while_the_plan_is_written_leaves_no_run_and_never_a_0_of_0_resume()
    {
        // Given a run directory on a 256 KiB filesystem and a plan far larger than that
        await using var h = await FleetRunHarness.StartAsync(new ModelScript());
        var dir = h.RunDir("tiny");
        Directory.CreateDirectory(dir);
        Mount("tmpfs", dir, "size=256k");
        try
        {
            var big = FleetRunHarness.PlanOf(Enumerable.Range(1, 400).Select(i => $"{i}-" + new string('x', 2000)).ToArray());

            // When the run is created
            var error = await Should.ThrowAsync<HerdFatalException>(() => new FleetRun(h.Spec(big, "tiny")).ExecuteAsync());

            // Then the error says the disk filled before the plan was stored and to start again (not resume), nothing
            // ran, and the directory holds no run that could "resume"
            error.Message.ShouldContain("filled before the run's plan was stored");
            error.Message.ShouldContain("start it again with the same command (not --resume)");
            h.Server.RequestCount.ShouldBe(0);
            SqliteRunStore.Exists(dir).ShouldBeFalse();
            var resume = await Should.ThrowAsync<HerdUsageException>(() => new FleetRun(h.Spec([], "tiny") with { Start = RunStart.Resume }).ExecuteAsync());
            resume.Message.ShouldContain("holds no run: its creation did not finish");
        }
        finally
        {
            Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
            Run("umount", dir);
        }
    }

    [Fact]
    public async Task A_damaged_run_database_is_named_and_left_untouched()
    {
        await using var h = await FleetRunHarness.StartAsync(new ModelScript());
        (await new FleetRun(h.Spec(FleetRunHarness.PlanOf("a"))).ExecuteAsync()).ExitCode.ShouldBe(0);
        var db = Path.Combine(h.RunDir(), "run.db");
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        var garbage = new byte[8192];
        new Random(7).NextBytes(garbage);
        File.WriteAllBytes(db, garbage);

        var error = await Should.ThrowAsync<HerdFatalException>(() => new FleetRun(h.Spec([]) with { Start = RunStart.Resume }).ExecuteAsync());

        error.Message.ShouldContain("is damaged");
        error.Message.ShouldContain(db);
        File.ReadAllBytes(db).ShouldBe(garbage);
    }

    [Fact]
    public void Opening_for_reading_runs_no_schema_statement()
    {
        // A SQLite file without Herd's tables stays exactly as it was: listing never creates tables.
        var dir = Path.Combine(Path.GetTempPath(), "herd-ro-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(dir);
        try
        {
            var db = Path.Combine(dir, "run.db");
            using (var c = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={db};Pooling=false"))
            {
                c.Open();
                using var cmd = c.CreateCommand();
                cmd.CommandText = "CREATE TABLE other(x)";
                cmd.ExecuteNonQuery();
            }
            var before = File.ReadAllBytes(db);

            Should.Throw<HerdFatalException>(() => SqliteRunStore.OpenReadOnly(dir)).Message.ShouldContain("not a Herd run database");

            File.ReadAllBytes(db).ShouldBe(before);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    private static void Mount(string type, string target, string options)
    {
        // CI runs as root (.ci/run); a full filesystem is only honest when it is a real one.
        Run("mount", "-t", type, "-o", options, type, target);
    }

    private static void Run(string file, params string[] args)
    {
        using var p = Process.Start(new ProcessStartInfo(file, args) { RedirectStandardError = true })!;
        var err = p.StandardError.ReadToEnd();
        p.WaitForExit();
        p.ExitCode.ShouldBe(0, $"{file} {string.Join(' ', args)} failed: {err.Trim()} (this test needs root, as CI has)");
    }
}
