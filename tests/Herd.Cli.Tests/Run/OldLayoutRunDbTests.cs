using System.Text.Json;
using Herd.Testing;
using Microsoft.Data.Sqlite;

namespace Herd.Cli.Tests.Run;

/// <summary>
/// A run.db in the layout Herd wrote before attempts were keyed by their task's row id (issue #23): attempts keyed by
/// <c>(key, n)</c> and tasks by their text key. The real herd must still read it and resume it in place.
/// </summary>
public sealed class OldLayoutRunDbTests
{
    /// <summary>The tables as the previous build created them, statement for statement.</summary>
    private const string OldSchema = """
        CREATE TABLE IF NOT EXISTS run(
          id INTEGER PRIMARY KEY CHECK (id = 1), schema INTEGER NOT NULL, run_id TEXT NOT NULL, created TEXT NOT NULL,
          argv TEXT NOT NULL, cwd TEXT NOT NULL, engine TEXT NOT NULL, engine_version TEXT NOT NULL,
          status TEXT NOT NULL DEFAULT 'running', exit_code INTEGER, updated TEXT);
        CREATE TABLE IF NOT EXISTS tasks(
          key TEXT PRIMARY KEY, seq INTEGER NOT NULL, name TEXT NOT NULL, prompt TEXT NOT NULL, v TEXT NOT NULL,
          inputs TEXT NOT NULL, caps TEXT NOT NULL, state TEXT NOT NULL DEFAULT 'pending', class TEXT,
          retries INTEGER NOT NULL DEFAULT 0, attempts INTEGER NOT NULL DEFAULT 0, cost_usd REAL NOT NULL DEFAULT 0,
          record TEXT, final_order INTEGER, runtime_s REAL);
        CREATE TABLE IF NOT EXISTS attempts(
          key TEXT NOT NULL REFERENCES tasks(key), n INTEGER NOT NULL, slot INTEGER, start TEXT NOT NULL, end TEXT,
          class TEXT, exitval INTEGER, cost_usd REAL NOT NULL DEFAULT 0, session_id TEXT NOT NULL, error TEXT,
          t_in INTEGER NOT NULL DEFAULT 0, t_out INTEGER NOT NULL DEFAULT 0, t_cr INTEGER NOT NULL DEFAULT 0,
          t_cw5 INTEGER NOT NULL DEFAULT 0, t_cw1 INTEGER NOT NULL DEFAULT 0,
          PRIMARY KEY (key, n));
        CREATE TABLE IF NOT EXISTS events(
          id INTEGER PRIMARY KEY AUTOINCREMENT, at TEXT NOT NULL, key TEXT, kind TEXT NOT NULL, detail TEXT);
        CREATE TABLE IF NOT EXISTS lock(
          id INTEGER PRIMARY KEY CHECK (id = 1), pid INTEGER NOT NULL, host TEXT NOT NULL, heartbeat TEXT NOT NULL);
        CREATE INDEX IF NOT EXISTS tasks_final ON tasks(final_order) WHERE final_order IS NOT NULL;
        CREATE TABLE IF NOT EXISTS definition(id INTEGER PRIMARY KEY CHECK (id = 1), json TEXT NOT NULL);
        """;

    private const string Columns = "slot, start, end, class, exitval, cost_usd, session_id, error, t_in, t_out, t_cr, t_cw5, t_cw1";

    [Fact]
    public async Task A_run_db_of_the_previous_layout_cut_off_mid_run_resumes_in_place_and_reads_in_reports()
    {
        // Given a finished 30-task run rewritten into the previous layout, its last 10 tasks left running as kill -9 leaves them
        await using var server = await ScriptedModelServer.StartAsync(new ModelScript());
        var dir = Path.Combine(Path.GetTempPath(), "herd-oldlayout-" + Guid.NewGuid().ToString("N")[..10]);
        Directory.CreateDirectory(dir);
        try
        {
            var herd = new HerdProcess(server.BaseUrl, dir, Path.Combine(dir, ".config"));
            var first = await herd.RunAsync(["run", "-j", "4", "--prompt", "Do {}", "--run-dir", "run", "--progress", "none", ":::", .. FleetHarness.Inputs(30)]);
            first.ExitCode.ShouldBe(0, first.ToString());
            var runDb = Path.Combine(dir, "run", "run.db");
            RewriteInOldLayout(runDb);
            CutOffLastTasks(runDb, 10);

            // When it resumes with this build
            var resume = await herd.RunAsync(["run", "--resume", "--run-dir", "run", "--progress", "none"]);

            // Then the 10 cut-off tasks ran again, once each, and every task has one record
            resume.ExitCode.ShouldBe(0, resume.ToString());
            resume.Stderr.ShouldContain("marked interrupted");
            var keys = File.ReadAllLines(Path.Combine(dir, "run", "results.ndjson")).Where(l => l.Length > 0)
                .Select(l => JsonDocument.Parse(l).RootElement.GetProperty("key").GetString()).ToArray();
            keys.Length.ShouldBe(30);
            keys.Distinct().Count().ShouldBe(30);
            // And the run.db kept its layout, with each cut-off task's interrupted attempt followed by a successful one
            using (var db = Open(runDb))
            {
                Scalar(db, "SELECT COUNT(*) FROM pragma_table_info('attempts') WHERE name = 'key'").ShouldBe(1);
                Scalar(db, "SELECT COUNT(*) FROM attempts WHERE class = 'interrupted' AND n = 1").ShouldBe(10);
                Scalar(db, "SELECT COUNT(*) FROM attempts WHERE class = 'success' AND n = 2").ShouldBe(10);
                Scalar(db, "SELECT COUNT(*) FROM tasks WHERE state = 'done' AND attempts = 2").ShouldBe(10);
            }
            // And the reports read it: `herd runs show` counts the attempts, `herd report` lists every task
            var show = await herd.RunAsync("runs", "show", "run", "--json");
            show.ExitCode.ShouldBe(0, show.ToString());
            show.Stdout.ShouldContain("40");
            var report = await herd.RunAsync("report", "run", "--format", "junit");
            report.ExitCode.ShouldBe(0, report.ToString());
            report.Stdout.Split("<testcase ").Length.ShouldBe(31);
        }
        finally
        {
            try
            {
                Directory.Delete(dir, recursive: true);
            }
            catch (IOException)
            {
            }
        }
    }

    /// <summary>Builds a run.db with the old statements and copies every row of the new one into it, then puts it in its place.</summary>
    private static void RewriteInOldLayout(string runDb)
    {
        var old = runDb + ".old";
        using (var db = Open(old))
        {
            Exec(db, "PRAGMA page_size=1024; PRAGMA journal_mode=WAL;");
            Exec(db, OldSchema);
            Exec(db, $"""
                ATTACH DATABASE '{runDb}' AS n;
                BEGIN;
                INSERT INTO run SELECT * FROM n.run;
                INSERT INTO definition SELECT * FROM n.definition;
                INSERT INTO events SELECT * FROM n.events;
                INSERT INTO tasks(key, seq, name, prompt, v, inputs, caps, state, class, retries, attempts, cost_usd, record, final_order, runtime_s)
                  SELECT key, seq, name, prompt, v, inputs, caps, state, class, retries, attempts, cost_usd, record, final_order, runtime_s FROM n.tasks ORDER BY id;
                INSERT INTO attempts(key, n, {Columns}) SELECT t.key, a.n, {string.Join(", ", Columns.Split(", ").Select(c => "a." + c))}
                  FROM n.attempts a JOIN n.tasks t ON t.id = a.task;
                COMMIT;
                DETACH DATABASE n;
                PRAGMA wal_checkpoint(TRUNCATE);
                """);
            Scalar(db, "SELECT COUNT(*) FROM attempts").ShouldBe(30);
        }
        SqliteConnection.ClearAllPools();
        foreach (var file in new[] { runDb, runDb + "-wal", runDb + "-shm" })
            File.Delete(file);
        File.Move(old, runDb);
        File.Delete(old + "-wal");
        File.Delete(old + "-shm");
    }

    /// <summary>What kill -9 leaves of the last tasks: their attempt open, the task running, no record.</summary>
    private static void CutOffLastTasks(string runDb, int count)
    {
        using var db = Open(runDb);
        Exec(db, $"""
            CREATE TEMP TABLE cut AS SELECT key FROM tasks ORDER BY seq DESC LIMIT {count};
            UPDATE attempts SET end = NULL, class = NULL, exitval = NULL WHERE key IN (SELECT key FROM cut);
            UPDATE tasks SET state = 'running', class = NULL, record = NULL, final_order = NULL, runtime_s = NULL WHERE key IN (SELECT key FROM cut);
            UPDATE run SET status = 'running', exit_code = NULL;
            """);
    }

    private static SqliteConnection Open(string path)
    {
        var db = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = path, Pooling = false }.ToString());
        db.Open();
        return db;
    }

    private static void Exec(SqliteConnection db, string sql)
    {
        using var cmd = db.CreateCommand();
        cmd.CommandText = sql;
        cmd.ExecuteNonQuery();
    }

    private static long Scalar(SqliteConnection db, string sql)
    {
        using var cmd = db.CreateCommand();
        cmd.CommandText = sql;
        return Convert.ToInt64(cmd.ExecuteScalar(), System.Globalization.CultureInfo.InvariantCulture);
    }
}
