using System.Diagnostics;
using System.Globalization;
using System.Text.Json.Nodes;
using Herd.Testing;
using Npgsql;
using Xunit.Abstractions;

namespace Herd.Reliability.Tests;

/// <summary>
/// Issue #14 end to end: runs created with <c>herd run --store postgres://… --enqueue</c> and finished by several real
/// <c>herd worker</c> processes against one real PostgreSQL (HERD_TEST_PG, started by .ci/run) and the scripted model
/// server. The database is read by the test itself, not through Herd's store.
/// </summary>
/// <summary>The test's own access to the PostgreSQL the tests use (independent of Herd's store).</summary>
internal static class WorkerTestsDb
{
    public static string Url => Environment.GetEnvironmentVariable("HERD_TEST_PG") is { Length: > 0 } url ? url : "postgres://herd_test:herd_test@127.0.0.1:5432/herd_test";

    public static NpgsqlConnection Db()
    {
        var uri = new Uri(Url);
        var user = uri.UserInfo.Split(':');
        var db = new NpgsqlConnection(new NpgsqlConnectionStringBuilder
        {
            Host = uri.Host, Port = uri.Port > 0 ? uri.Port : 5432, Database = uri.AbsolutePath.Trim('/'), Username = user[0], Password = user.Length > 1 ? user[1] : null,
        }.ConnectionString);
        try
        {
            db.Open();
        }
        catch (NpgsqlException ex)
        {
            throw new InvalidOperationException($"No PostgreSQL for the tests ({ex.Message}). Run `export HERD_TEST_PG=$(sudo tests/postgres.sh)` first.", ex);
        }
        return db;
    }

    public static T Scalar<T>(string sql, string runId)
    {
        using var db = Db();
        using var cmd = new NpgsqlCommand(sql, db);
        cmd.Parameters.Add(new NpgsqlParameter { Value = runId });
        return (T)Convert.ChangeType(cmd.ExecuteScalar()!, typeof(T), CultureInfo.InvariantCulture);
    }

    /// <summary>The loopback cluster (pg_lsclusters) serving the tests, for the restart test.</summary>
    public static (string Version, string Name) Cluster()
    {
        var port = new Uri(Url).Port is > 0 and var p ? p : 5432;
        var list = Process.Start(new ProcessStartInfo("pg_lsclusters", ["-h"]) { RedirectStandardOutput = true })!;
        var lines = list.StandardOutput.ReadToEnd().Split('\n', StringSplitOptions.RemoveEmptyEntries);
        list.WaitForExit();
        var cols = lines.Select(l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries)).First(c => c[2] == port.ToString(CultureInfo.InvariantCulture));
        return (cols[0], cols[1]);
    }

    public static async Task WaitUntilAsync(Func<bool> condition, TimeSpan timeout)
    {
        var until = DateTime.UtcNow + timeout;
        while (!condition())
        {
            if (DateTime.UtcNow > until)
                throw new TimeoutException("condition not reached in time");
            await Task.Delay(50);
        }
    }
}

public sealed class WorkerTests(ITestOutputHelper output)
{
    private static string Url => WorkerTestsDb.Url;

    private static T Scalar<T>(string sql, string runId) => WorkerTestsDb.Scalar<T>(sql, runId);

    private static HerdProcess Herd(Workspace ws) => ws.Herd().WithEnvironment("HERD_STORE", Url).WithEnvironment("HERD_FLEET_RETRY_BASE_MS", "20");

    private static async Task<string> EnqueueAsync(Workspace ws, string runId, IEnumerable<string> options, int tasks)
    {
        var run = await Herd(ws).RunAsync(["run", .. options, "--model", TestPrices.Model, "--prompt", "Do {}", "--run-dir", runId, "--enqueue", ":::", .. Enumerable.Range(1, tasks).Select(i => $"{runId}-t{i:D3}")]);
        run.ExitCode.ShouldBe(0, run.ToString());
        run.Stdout.Trim().ShouldBe(runId);
        return runId;
    }

    private static Task WaitUntilAsync(Func<bool> condition, TimeSpan timeout) => WorkerTestsDb.WaitUntilAsync(condition, timeout);

    [Fact]
    public async Task Halt_now_decided_by_one_worker_stops_the_attempts_of_the_others_at_their_next_heartbeat()
    {
        // Given a run with --halt now,fail=1 whose first task fails at once (it needs a second turn, --max-turns 1)
        // while every other task takes a minute
        await using var ws = await Workspace.StartAsync(new ModelScript
        {
            Conversations =
            [
                new Conversation("-t001", [Reply.WithTool("Read", new JsonObject { ["file_path"] = "notes.txt" }), Reply.WithText("ok")]),
                new Conversation(null, [Reply.WithText("ok") with { LatencyMs = 60_000 }]),
            ],
        });
        ws.Work.WriteFile("notes.txt", "notes\n");
        var runId = await EnqueueAsync(ws, $"halt-{Guid.NewGuid():N}"[..20], ["--allowedTools", "Read", "--max-turns", "1", "--halt", "now,fail=1"], 6);

        // When two workers (1 s heartbeats) work it, one of them taking the failing task
        var started = Stopwatch.StartNew();
        var workers = Enumerable.Range(0, 2).Select(_ => ws.Start(Herd(ws), ["worker", "--run", runId, "-j", "3", "--lease", "3s"])).ToArray();
        foreach (var (process, _, stderr) in workers)
        {
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(45));
            await process.WaitForExitAsync(cts.Token);
            process.ExitCode.ShouldBe(0, await stderr);
            output.WriteLine((await stderr).Trim());
        }

        // Then both stopped long before the minute-long attempts could end: the run is halted, no attempt is left open,
        // and the stopped tasks are back in the queue
        started.Elapsed.ShouldBeLessThan(TimeSpan.FromSeconds(45));
        Scalar<string>("SELECT status FROM herd_runs WHERE run_id = $1", runId).ShouldBe("halted");
        Scalar<long>("SELECT COUNT(*) FROM herd_attempts WHERE run_id = $1 AND end_at IS NULL", runId).ShouldBe(0);
        Scalar<long>("SELECT COUNT(*) FROM herd_tasks WHERE run_id = $1 AND state = 'done' AND class = 'max_turns'", runId).ShouldBe(1);
        Scalar<long>("SELECT COUNT(*) FROM herd_tasks WHERE run_id = $1 AND state = 'running'", runId).ShouldBe(0);
    }

    [Fact]
    public async Task Three_workers_finish_a_run_with_one_killed_by_kill_9_mid_task_and_every_task_has_exactly_one_record()
    {
        // Given a stored run of 60 tasks of one tool call each, with enough latency that a worker is always mid-task
        await using var ws = await Workspace.StartAsync(new ModelScript
        {
            LatencyMs = 120,
            Conversations = [new Conversation(null, [Reply.WithTool("Read", new JsonObject { ["file_path"] = "notes.txt" }), Reply.WithText("ok")])],
        });
        ws.Work.WriteFile("notes.txt", "notes\n");
        var runId = await EnqueueAsync(ws, $"kill-{Guid.NewGuid():N}"[..20], ["--allowedTools", "Read"], 60);

        // When three workers work it with 2 s leases, and one is killed with SIGKILL while it holds a task
        var workers = Enumerable.Range(0, 3).Select(_ => ws.Start(Herd(ws), ["worker", "--run", runId, "-j", "3", "--lease", "2s"])).ToArray();
        var victim = workers[0].Process;
        await WaitUntilAsync(() => Scalar<long>("SELECT COUNT(*) FROM herd_tasks WHERE run_id = $1 AND state = 'done'", runId) >= 10, TimeSpan.FromSeconds(90));
        await WaitUntilAsync(() => Scalar<long>($"SELECT COUNT(*) FROM herd_tasks WHERE run_id = $1 AND state = 'running' AND lease_owner LIKE '%:{victim.Id}:%'", runId) > 0, TimeSpan.FromSeconds(30));
        victim.Kill(entireProcessTree: true);
        await victim.WaitForExitAsync();
        var held = Scalar<long>($"SELECT COUNT(*) FROM herd_tasks WHERE run_id = $1 AND state = 'running' AND lease_owner LIKE '%:{victim.Id}:%'", runId);
        foreach (var (process, _, stderr) in workers.Skip(1))
        {
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(120));
            await process.WaitForExitAsync(cts.Token);
            process.ExitCode.ShouldBe(0, await stderr);
            output.WriteLine((await stderr).Trim());
        }

        // Then the run is finished with exactly one record per task, and the killed worker's tasks were taken over
        var export = await Herd(ws).RunAsync(["runs", "export", runId, "--out", "export"]);
        export.ExitCode.ShouldBe(0, export.ToString());
        var records = Workspace.Records(ws.Work.Combine("export"));
        records.Count.ShouldBe(60);
        records.Select(r => (string)r["key"]!).Distinct().Count().ShouldBe(60);
        records.ShouldAllBe(r => (string)r["outcome"]!["class"]! == "success");
        Scalar<string>("SELECT status FROM herd_runs WHERE run_id = $1", runId).ShouldBe("finished");
        Scalar<long>("SELECT COUNT(*) FROM herd_tasks WHERE run_id = $1 AND state = 'done'", runId).ShouldBe(60);
        output.WriteLine($"victim held {held} task(s) when killed");
        held.ShouldBeGreaterThan(0);
        Scalar<long>("SELECT COUNT(*) FROM herd_attempts WHERE run_id = $1 AND class = 'interrupted'", runId).ShouldBe(held);
        ((int)Workspace.SummaryOf(ws.Work.Combine("export"))["unfinished"]!).ShouldBe(0);
    }

    [Fact]
    public async Task Herd_run_with_a_postgres_store_runs_and_resumes_a_run_like_the_sqlite_one_and_never_stores_the_password()
    {
        // Given a plan run by herd run itself with --store, interrupted by kill -9 part way
        await using var ws = await Workspace.StartAsync(new ModelScript { LatencyMs = 60, Conversations = [new Conversation(null, [Reply.WithText("ok")])] });
        var runId = $"orch-{Guid.NewGuid():N}"[..20];
        var herd = ws.Herd();
        var (first, _, _) = ws.Start(herd, ["run", "--store", Url, "-j", "2", "--model", TestPrices.Model, "--prompt", "Do {}", "--run-dir", runId, "--progress", "none", ":::", .. Enumerable.Range(1, 30).Select(i => $"t{i:D3}")]);
        await WaitUntilAsync(() => Scalar<long>("SELECT COUNT(*) FROM herd_tasks WHERE run_id = $1 AND state = 'done'", runId) >= 5, TimeSpan.FromSeconds(60));
        first.Kill(entireProcessTree: true);
        await first.WaitForExitAsync();

        // When it is resumed from the store
        var resumed = await herd.RunAsync(["run", "--store", Url, "--resume", "--run-dir", runId, "--progress", "none"], timeout: TimeSpan.FromSeconds(120));

        // Then it finishes with one record per task, in the run directory and in the store, and the URL's password is nowhere
        resumed.ExitCode.ShouldBe(0, resumed.ToString());
        var records = Workspace.Records(ws.Work.Combine(runId));
        records.Count.ShouldBe(30);
        records.Select(r => (string)r["key"]!).Distinct().Count().ShouldBe(30);
        Scalar<string>("SELECT status FROM herd_runs WHERE run_id = $1", runId).ShouldBe("finished");
        var password = new Uri(Url).UserInfo.Split(':').ElementAtOrDefault(1) ?? "herd_test";
        Scalar<string>("SELECT argv FROM herd_runs WHERE run_id = $1", runId).ShouldNotContain(password);
        resumed.Stderr.ShouldNotContain(Url);
    }

    [Fact]
    public async Task Three_workers_never_spend_more_than_the_runs_budget_under_random_costs()
    {
        // Given 36 tasks with random usage whose whole plan costs far more than the ceiling
        var random = new Random(1401);
        var conversations = new List<Conversation>();
        var planned = 0.0;
        var runId = $"budget-{Guid.NewGuid():N}"[..22];
        for (var i = 1; i <= 36; i++)
        {
            var usage = new ScriptedUsage(Input: random.Next(200, 3000), Output: random.Next(50, 1024));
            planned += TestPrices.CostOf(usage);
            conversations.Add(new Conversation($"{runId}-t{i:D3}", [Reply.WithText("ok", usage)]));
        }
        await using var ws = await Workspace.StartAsync(new ModelScript { LatencyMs = 30, Conversations = conversations });
        var ceiling = Math.Round(planned * 0.4, 4);
        await EnqueueAsync(ws, runId, ["--max-tokens", "1024", "--budget-usd", ceiling.ToString(CultureInfo.InvariantCulture)], 36);

        // When three workers work it concurrently
        var workers = Enumerable.Range(0, 3).Select(_ => ws.Start(Herd(ws), ["worker", "--run", runId, "-j", "3"])).ToArray();
        foreach (var (process, _, stderr) in workers)
        {
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(120));
            await process.WaitForExitAsync(cts.Token);
            process.ExitCode.ShouldBe(0, await stderr);
        }

        // Then what the server billed, and what the store recorded, stay within the ceiling; the run halted on budget
        var billed = ws.Server.Served.Where(s => s.Completed).Sum(s => TestPrices.CostOf(s.Usage));
        var stored = Scalar<double>("SELECT COALESCE(SUM(cost_usd), 0) FROM herd_attempts WHERE run_id = $1", runId);
        output.WriteLine(FormattableString.Invariant($"plan ${planned:0.####}, ceiling ${ceiling}, billed ${billed:0.####}, stored ${stored:0.####}"));
        billed.ShouldBeLessThanOrEqualTo(ceiling);
        stored.ShouldBe(billed, 1e-9);
        billed.ShouldBeGreaterThan(ceiling * 0.5); // the ceiling was really used, not refused from the start
        Scalar<string>("SELECT status FROM herd_runs WHERE run_id = $1", runId).ShouldBe("halted");
        Scalar<int>("SELECT exit_code FROM herd_runs WHERE run_id = $1", runId).ShouldBe(102);
        Scalar<double>("SELECT reserved_usd FROM herd_runs WHERE run_id = $1", runId).ShouldBe(0, 1e-9);
        Scalar<long>("SELECT COUNT(*) FROM herd_tasks WHERE run_id = $1 AND state = 'done'", runId).ShouldBeLessThan(36);
    }
}

/// <summary>The PostgreSQL server restarted under running workers (issue #14 "a PostgreSQL restart mid-run loses nothing").</summary>
public sealed class PostgresRestartTests(ITestOutputHelper output)
{
    [Fact]
    public async Task A_postgresql_restart_mid_run_loses_nothing_and_the_workers_finish_the_run()
    {
        // Given two workers halfway through a stored run of 40 tasks on the loopback server
        await using var ws = await Workspace.StartAsync(new ModelScript { LatencyMs = 100, Conversations = [new Conversation(null, [Reply.WithText("ok")])] });
        var runId = $"restart-{Guid.NewGuid():N}"[..22];
        var herd = ws.Herd().WithEnvironment("HERD_STORE", WorkerTestsDb.Url);
        var enqueue = await herd.RunAsync(["run", "--model", TestPrices.Model, "--prompt", "Do {}", "--run-dir", runId, "--enqueue", ":::", .. Enumerable.Range(1, 40).Select(i => $"t{i:D3}")]);
        enqueue.ExitCode.ShouldBe(0, enqueue.ToString());
        var workers = Enumerable.Range(0, 2).Select(_ => ws.Start(herd, ["worker", "--run", runId, "-j", "2"])).ToArray();
        await WorkerTestsDb.WaitUntilAsync(() => WorkerTestsDb.Scalar<long>("SELECT COUNT(*) FROM herd_tasks WHERE run_id = $1 AND state = 'done'", runId) >= 8, TimeSpan.FromSeconds(60));

        // When the server restarts (every connection is cut; it is gone for a moment)
        var cluster = WorkerTestsDb.Cluster();
        var restart = Process.Start(new ProcessStartInfo("pg_ctlcluster", [cluster.Version, cluster.Name, "restart"]) { RedirectStandardError = true })!;
        await restart.WaitForExitAsync();
        restart.ExitCode.ShouldBe(0, await restart.StandardError.ReadToEndAsync());
        NpgsqlConnection.ClearAllPools(); // the test's own pooled connections were cut too

        // Then both workers reconnect and finish the run, with exactly one record per task
        foreach (var (process, _, stderr) in workers)
        {
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(120));
            await process.WaitForExitAsync(cts.Token);
            var text = await stderr;
            output.WriteLine(text.Trim());
            process.ExitCode.ShouldBe(0, text);
        }
        WorkerTestsDb.Scalar<string>("SELECT status FROM herd_runs WHERE run_id = $1", runId).ShouldBe("finished");
        var export = await herd.RunAsync(["runs", "export", runId, "--out", "export"]);
        export.ExitCode.ShouldBe(0, export.ToString());
        var records = Workspace.Records(ws.Work.Combine("export"));
        records.Count.ShouldBe(40);
        records.Select(r => (string)r["key"]!).Distinct().Count().ShouldBe(40);
    }
}
