using System.Text.Json.Nodes;
using Herd.Testing;
using Npgsql;
using Xunit.Abstractions;

namespace Herd.Reliability.Tests;

/// <summary>
/// Issue #14 "Operations" end to end, with real herd processes and a real PostgreSQL (HERD_TEST_PG): the end-of-run
/// reports and gate of <c>herd run --store</c>, <c>herd report|gate --store</c>, <c>--retry-failed</c> against the
/// store, and <c>herd runs watch --store</c> following workers.
/// </summary>
public sealed class PostgresOperationsTests(ITestOutputHelper output)
{
    private static string Url => WorkerTestsDb.Url;

    private static string NewRunId(string prefix) => $"{prefix}-{Guid.NewGuid():N}"[..20];

    /// <summary>Three tasks, the one named bad-3 refused by the model (a final failure, no retry).</summary>
    private static ModelScript OneRefused(int latencyMs = 0) =>
        new() { LatencyMs = latencyMs, Conversations = [new Conversation("bad-", [Reply.Error(400)])], Default = Reply.WithText("ok") };

    private static string[] Run(string runId, params string[] extra) =>
        ["run", "--store", Url, "--model", TestPrices.Model, "--prompt", "Do {}", "--run-dir", runId, "--progress", "none", .. extra, ":::", "t-1", "t-2", "bad-3"];

    [Fact]
    public async Task Herd_run_with_a_postgres_store_writes_report_html_the_step_summary_and_lets_the_gate_verdict_replace_the_failed_count()
    {
        // Given a run kept in PostgreSQL where one of three tasks fails, under GitHub Actions, with a gate that allows one failure
        await using var ws = await Workspace.StartAsync(OneRefused());
        var runId = NewRunId("gate");
        var stepSummary = ws.Work.Combine("step-summary.md");
        var herd = ws.Herd().WithEnvironment("GITHUB_ACTIONS", "true").WithEnvironment("GITHUB_STEP_SUMMARY", stepSummary);

        // When it runs to the end
        var passed = await herd.RunAsync(Run(runId, "--gate", "max-failed=1"));

        // Then the gate's verdict (passed) is the exit code, not the failed count, as for a SQLite run
        passed.ExitCode.ShouldBe(0, passed.ToString());
        passed.Stderr.ShouldContain("herd: gate passed");
        // And report.html is in the run directory, read from the store (three tasks, one failed)
        var html = File.ReadAllText(Path.Combine(ws.Work.Combine(runId), "report.html"));
        html.ShouldContain(runId);
        html.ShouldContain("bad-3");
        // And the step summary says the same
        var summary = File.ReadAllText(stepSummary);
        summary.ShouldContain($"Herd run `{runId}` — finished");
        summary.ShouldContain("| 3 | 2 | 1 | 0 |");

        // And a stricter gate on a second run fails the build with exit 1 and names the condition
        var strictId = NewRunId("strict");
        var failed = await herd.RunAsync(Run(strictId, "--gate", "max-failed=0", "--ci", "none"));
        failed.ExitCode.ShouldBe(1, failed.ToString());
        failed.Stderr.ShouldContain("herd: gate: ");
        File.Exists(Path.Combine(ws.Work.Combine(strictId), "report.html")).ShouldBeTrue();
        File.ReadAllText(stepSummary).ShouldNotContain(strictId); // --ci none
    }

    [Fact]
    public async Task Herd_report_and_herd_gate_read_a_postgres_run_by_its_id_and_say_in_one_line_when_it_is_not_there()
    {
        // Given a finished run kept in PostgreSQL, one of three tasks failed
        await using var ws = await Workspace.StartAsync(OneRefused());
        var runId = NewRunId("report");
        var run = await ws.Herd().RunAsync(Run(runId, "--ci", "none"));
        run.ExitCode.ShouldBe(1, run.ToString());
        // (its local directory gone: the store alone is read)
        Directory.Delete(ws.Work.Combine(runId), recursive: true);

        // When herd report and herd gate are pointed at its id in the store
        var junit = await ws.Herd().RunAsync("report", runId, "--store", Url, "--format", "junit");
        var strict = await ws.Herd().RunAsync("gate", runId, "--store", Url, "--max-failed", "0");
        var lenient = await ws.Herd().WithEnvironment("HERD_STORE", Url).RunAsync("gate", runId, "--max-failed", "1");
        var html = await ws.Herd().RunAsync("report", runId, "--store", Url, "--format", "html");

        // Then they judge and report the stored run
        junit.ExitCode.ShouldBe(0, junit.ToString());
        junit.Stdout.ShouldContain("tests=\"3\"");
        junit.Stdout.ShouldContain("failures=\"1\"");
        strict.ExitCode.ShouldBe(1, strict.ToString());
        strict.Stderr.ShouldContain("failed");
        lenient.ExitCode.ShouldBe(0, lenient.ToString());
        lenient.Stderr.ShouldContain("gate passed");
        html.ExitCode.ShouldBe(0, html.ToString());
        File.Exists(Path.Combine(ws.Work.Combine(".herd", "runs", runId), "report.html")).ShouldBeTrue();

        // And a run id the store does not hold is one line and exit 255 (could not run, as the exit-code table says), without the password
        var missing = await ws.Herd().RunAsync("gate", "no-such-run", "--store", Url, "--max-failed", "0");
        missing.ExitCode.ShouldBe(255, missing.ToString());
        missing.Stderr.Trim().Split('\n').Length.ShouldBe(1);
        missing.Stderr.ShouldContain("no run 'no-such-run'");
        missing.Stderr.ShouldNotContain(Url);

        // And with HERD_STORE set, a local SQLite run named by its id is still read from its own run.db
        var local = await ws.Herd().RunAsync(["run", "--model", TestPrices.Model, "--prompt", "Do {}", "--progress", "none", "--ci", "none", ":::", "l-1", "bad-2"]);
        local.ExitCode.ShouldBe(1, local.ToString());
        var localId = Path.GetFileName(Path.GetDirectoryName(local.Stdout.Trim()))!;
        var localGate = await ws.Herd().WithEnvironment("HERD_STORE", Url).RunAsync("gate", localId, "--max-failed", "1");
        localGate.ExitCode.ShouldBe(0, localGate.ToString());
        localGate.Stderr.ShouldContain("gate passed");
    }

    [Fact]
    public async Task An_exported_postgres_run_is_judged_from_its_directory_with_its_unfinished_tasks_counted()
    {
        // Given a run enqueued in PostgreSQL that no worker has worked yet, exported to a directory
        await using var ws = await Workspace.StartAsync(OneRefused());
        var runId = NewRunId("export");
        var herd = ws.Herd().WithEnvironment("HERD_STORE", Url);
        (await herd.RunAsync(["run", "--model", TestPrices.Model, "--prompt", "Do {}", "--run-dir", runId, "--enqueue", ":::", "a", "b", "c"])).ExitCode.ShouldBe(0);
        var export = await herd.RunAsync("runs", "export", runId, "--out", "exported");
        export.ExitCode.ShouldBe(0, export.ToString());

        // When a gate judges the exported directory alone (no store)
        var gate = await ws.Herd().RunAsync("gate", "exported", "--max-failed", "0");

        // Then the three planned tasks that never ran fail it: summary.json says how many were planned
        gate.ExitCode.ShouldBe(1, gate.ToString());
        gate.Stderr.ShouldContain("3 of 3 tasks failed (0 failed, 3 unfinished)");
    }

    [Fact]
    public async Task Retry_failed_with_a_postgres_store_reruns_only_the_failed_task_and_finishes_the_run()
    {
        // Given a run kept in PostgreSQL whose task bad-3 failed
        await using var ws = await Workspace.StartAsync(OneRefused());
        var runId = NewRunId("retry");
        var first = await ws.Herd().RunAsync(Run(runId, "--ci", "none"));
        first.ExitCode.ShouldBe(1, first.ToString());
        var servedBefore = ws.Server.Served.Count;

        // When the model is fixed and the failed task is retried from the store
        ws.Server.Reset(new ModelScript { Default = Reply.WithText("ok") });
        var retried = await ws.Herd().RunAsync(["run", "--store", Url, "--retry-failed", "--run-dir", runId, "--progress", "none", "--ci", "none"]);

        // Then only that task ran again, and the run is finished with one successful record per task
        retried.ExitCode.ShouldBe(0, retried.ToString());
        retried.Stderr.ShouldContain("1 failed task(s) requeued");
        ws.Server.Served.Count.ShouldBe(servedBefore + 1);
        var records = Workspace.Records(ws.Work.Combine(runId));
        records.Count.ShouldBe(3);
        records.ShouldAllBe(r => (string)r["outcome"]!["class"]! == "success");
        WorkerTestsDb.Scalar<string>("SELECT status FROM herd_runs WHERE run_id = $1", runId).ShouldBe("finished");
        ((int)Workspace.SummaryOf(ws.Work.Combine(runId))["failed"]!).ShouldBe(0);
    }

    [Fact]
    public async Task Runs_watch_with_a_postgres_store_follows_a_run_worked_by_a_worker_and_calls_a_run_nobody_works_orphaned()
    {
        // Given a database of its own (worker presence is store-wide; other tests' workers must not look alive here)
        await using var database = await OwnDatabase.CreateAsync();
        await using var ws = await Workspace.StartAsync(new ModelScript { LatencyMs = 400, Default = Reply.WithText("ok") });
        var herd = ws.Herd().WithEnvironment("HERD_STORE", database.Url);
        var runId = NewRunId("watch");
        var enqueue = await herd.RunAsync(["run", "--model", TestPrices.Model, "--prompt", "Do {}", "--run-dir", runId, "--enqueue", ":::", .. Enumerable.Range(1, 8).Select(i => $"w-{i}")]);
        enqueue.ExitCode.ShouldBe(0, enqueue.ToString());

        // When a worker works it, and a watcher follows it with --json from when the first task runs
        var worker = ws.Start(herd, ["worker", "--run", runId, "-j", "2"]);
        await WorkerTestsDb.WaitUntilAsync(() => database.Started(runId), TimeSpan.FromSeconds(60));
        var follow = await herd.RunAsync(["runs", "watch", runId, "--json", "--interval", "200ms"], null, TimeSpan.FromSeconds(90));
        await worker.Process.WaitForExitAsync();

        // Then it saw tasks running with nobody calling the run orphaned, and ended on the finished run
        follow.ExitCode.ShouldBe(0, follow.ToString());
        output.WriteLine(await worker.Stderr);
        var snapshots = follow.JsonLines;
        snapshots.ShouldAllBe(s => (bool)s["orphaned"]! == false, follow.Stdout);
        snapshots.ShouldContain(s => ((JsonArray)s["running_tasks"]!).Count > 0);
        ((string?)snapshots[^1]["status"]).ShouldBe("finished");
        ((int)snapshots[^1]["done"]!).ShouldBe(8);

        // And a run enqueued with no worker alive is orphaned, with the command that continues it
        var idleId = NewRunId("idle");
        (await herd.RunAsync(["run", "--model", TestPrices.Model, "--prompt", "Do {}", "--run-dir", idleId, "--enqueue", ":::", "x"])).ExitCode.ShouldBe(0);
        var plain = await herd.RunAsync("runs", "watch", idleId, "--once");
        plain.ExitCode.ShouldBe(0, plain.ToString());
        plain.Stdout.ShouldContain($"herd: run {idleId} is not running any more");
        plain.Stdout.ShouldContain($"herd worker --store URL --run {idleId}");
        var json = await herd.RunAsync("runs", "watch", idleId, "--once", "--json");
        ((bool)json.JsonLines.Single()["orphaned"]!).ShouldBeTrue();
    }

    [Fact]
    public async Task Runs_watch_with_a_postgres_store_follows_a_run_that_herd_run_works_itself_without_calling_it_orphaned()
    {
        // Given a database of its own and a run worked by herd run --store itself (no worker anywhere)
        await using var database = await OwnDatabase.CreateAsync();
        await using var ws = await Workspace.StartAsync(new ModelScript { LatencyMs = 400, Default = Reply.WithText("ok") });
        var herd = ws.Herd().WithEnvironment("HERD_STORE", database.Url);
        var runId = NewRunId("orchw");
        var run = ws.Start(herd, ["run", "-j", "2", "--model", TestPrices.Model, "--prompt", "Do {}", "--run-dir", runId, "--progress", "none", "--ci", "none", ":::", .. Enumerable.Range(1, 8).Select(i => $"o-{i}")]);

        // When a watcher follows it from when its first task runs
        await WorkerTestsDb.WaitUntilAsync(() => database.Started(runId), TimeSpan.FromSeconds(60));
        var follow = await herd.RunAsync(["runs", "watch", runId, "--json", "--interval", "200ms"], null, TimeSpan.FromSeconds(90));
        await run.Process.WaitForExitAsync();

        // Then its lock and leases kept it from looking orphaned, its running tasks were listed, and it ended finished
        follow.ExitCode.ShouldBe(0, follow.ToString());
        run.Process.ExitCode.ShouldBe(0, await run.Stderr);
        var snapshots = follow.JsonLines;
        snapshots.ShouldAllBe(s => (bool)s["orphaned"]! == false, follow.Stdout);
        snapshots.ShouldContain(s => ((JsonArray)s["running_tasks"]!).Count > 0);
        ((string?)snapshots[^1]["status"]).ShouldBe("finished");
    }

    /// <summary>A database created for one test and dropped after it, on the tests' server.</summary>
    private sealed class OwnDatabase : IAsyncDisposable
    {
        private readonly string _name = $"herd_ops_{Guid.NewGuid():N}"[..24];

        public string Url => new UriBuilder(WorkerTestsDb.Url) { Path = "/" + _name }.Uri.ToString().TrimEnd('/');

        public static async Task<OwnDatabase> CreateAsync()
        {
            var db = new OwnDatabase();
            await using var admin = WorkerTestsDb.Db();
            await using var create = new NpgsqlCommand($"CREATE DATABASE {db._name}", admin);
            await create.ExecuteNonQueryAsync();
            return db;
        }

        public T Scalar<T>(string sql, string runId)
        {
            var uri = new Uri(Url);
            var user = uri.UserInfo.Split(':');
            using var db = new NpgsqlConnection(new NpgsqlConnectionStringBuilder
            {
                Host = uri.Host, Port = uri.Port > 0 ? uri.Port : 5432, Database = _name, Username = user[0], Password = user.Length > 1 ? user[1] : null, Pooling = false,
            }.ConnectionString);
            db.Open();
            using var cmd = new NpgsqlCommand(sql, db);
            cmd.Parameters.Add(new NpgsqlParameter { Value = runId });
            return (T)Convert.ChangeType(cmd.ExecuteScalar()!, typeof(T), System.Globalization.CultureInfo.InvariantCulture);
        }

        /// <summary>Whether a task of the run has started; false too while the first herd process is still creating the schema.</summary>
        public bool Started(string runId)
        {
            try
            {
                return Scalar<long>("SELECT COUNT(*) FROM herd_tasks WHERE run_id = $1 AND state <> 'pending'", runId) > 0;
            }
            catch (PostgresException ex) when (ex.SqlState == PostgresErrorCodes.UndefinedTable)
            {
                return false;
            }
        }

        public async ValueTask DisposeAsync()
        {
            await using var admin = WorkerTestsDb.Db();
            await using var drop = new NpgsqlCommand($"DROP DATABASE IF EXISTS {_name} WITH (FORCE)", admin);
            await drop.ExecuteNonQueryAsync();
        }
    }
}
