using Herd.Fleet.Engines;
using Herd.Fleet.Store;
using Herd.Fleet.Store.Postgres;
using Microsoft.Extensions.Time.Testing;
using Npgsql;

namespace Herd.Fleet.Tests.Store;

/// <summary>
/// What the server writes per task (issue #23) and the schema migrations that cut it (6 and 7), each in a schema of its own so
/// the server's per-table statistics count only this test's rows and the schema can be made as an older herd left it.
/// </summary>
public sealed class PostgresRowWriteTests : IDisposable
{
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 12, 3, 10, 0, 0, TimeSpan.Zero));
    private readonly string _schema = $"herd_rw_{Guid.NewGuid():N}";
    private readonly PgLocation _pg;
    private readonly string _runId = TestPostgres.NewRunId("rw");

    public PostgresRowWriteTests()
    {
        var shared = TestPostgres.Location;
        using (var db = new NpgsqlConnection(shared.ConnectionString))
        {
            db.Open();
            using var create = new NpgsqlCommand($"CREATE SCHEMA {_schema}", db);
            create.ExecuteNonQuery();
        }
        _pg = shared with { ConnectionString = new NpgsqlConnectionStringBuilder(shared.ConnectionString) { SearchPath = _schema }.ConnectionString };
    }

    public void Dispose()
    {
        NpgsqlConnection.ClearAllPools();
        using var db = new NpgsqlConnection(TestPostgres.Location.ConnectionString);
        db.Open();
        using var drop = new NpgsqlCommand($"DROP SCHEMA {_schema} CASCADE", db);
        drop.ExecuteNonQuery();
    }

    [Fact]
    public async Task Claiming_a_task_and_ending_its_attempt_rewrite_no_index_entry()
    {
        // Given a plan of 200 tasks
        using (var store = PostgresRunStore.Open(_pg, _runId, _time))
        {
            store.CreateRun(new RunInfo(_runId, _time.GetUtcNow(), "[]", "/", "herd", "0"), Enumerable.Range(1, 200).Select(RunStoreContract.Task).ToArray());

            // When a worker claims them 5 at a time (about what a busy worker's round trip carries) and ends each batch as it claims the next
            var t = _time.GetUtcNow();
            var running = await store.ClaimAsync(5, t);
            while (running.Count > 0)
            {
                var end = await store.EndAsync([.. running.Select(c => new LeaseEnd(c.Lease, RunStoreContract.Outcome(OutcomeClass.Success, t), AttemptDisposition.Final, Record: new string('r', 1500)))], claim: 5, now: t);
                running = end.Claimed;
            }
            store.FinalRecords().Count.ShouldBe(200);
            store.StreamFinal().Select(f => f.Attempts.Count).ShouldAllBe(n => n == 1);
        }

        // Then most claims and every attempt's end were HOT updates (a new version on the same page, no index entry; a
        // claim that finds its page filled by finals that landed there is not), and only the final update of each task
        // row, which moves it out of the queue's index, is never one. Before migration 6 no claim was. Each record was
        // written once, as a row of its own, and never updated; the task rows stay narrow (before migration 7 the final
        // rewrote each one with its record, about 1.5 KB here).
        var (tasks, attempts, records) = await SettledStatisticsAsync(expectedTaskUpdates: 400, expectedAttemptUpdates: 200);
        tasks.Inserted.ShouldBe(200);
        tasks.Updated.ShouldBe(400);
        tasks.Hot.ShouldBeGreaterThanOrEqualTo(100, "a claim names no indexed column, and the page keeps room for its new version");
        attempts.Updated.ShouldBe(200);
        attempts.Hot.ShouldBeGreaterThanOrEqualTo(190);
        records.Inserted.ShouldBe(200);
        records.Updated.ShouldBe(0);
        Scalar("SELECT MAX(pg_column_size(t.*)) FROM herd_tasks t").ShouldBeLessThan(600, "the record is not in the task row");
    }

    [Theory]
    [InlineData(5)]
    [InlineData(6)]
    public async Task A_run_stored_by_an_older_schema_is_worked_to_the_end_including_its_interrupted_task(int schema)
    {
        // Given a database an older herd (schema 5 or 6) left with a run: task 1 cut off mid-attempt and put back in the
        // queue, task 2 running under a lease that has run out, tasks 3 and 4 never attempted, task 5 finished with its
        // record in the task row (where herds before migration 7 kept it)
        using (var db = new NpgsqlConnection(_pg.ConnectionString))
        {
            db.Open();
            PgSchema.Migrate(db, _pg.Redacted, upTo: schema);
            foreach (var sql in (string[])[
                """
                INSERT INTO herd_runs(run_id, created, argv, cwd, engine, engine_version, total, done) VALUES ($1, $2, '[]', '/', 'herd', '0', 5, 1)
                """,
                """
                INSERT INTO herd_tasks(run_id, key, seq, name, prompt, v, inputs, caps, state, attempts, lease_epoch, lease_owner, lease_until, not_before)
                  SELECT $1, lpad(to_hex(s), 4, '0') || repeat('a', 60), s, 'task-' || s, 'prompt', '[]', '{}', '{}',
                  CASE s WHEN 1 THEN 'pending' WHEN 2 THEN 'running' ELSE 'pending' END, CASE WHEN s <= 2 THEN 1 ELSE 0 END,
                  CASE WHEN s <= 2 THEN 1 ELSE 0 END, CASE s WHEN 2 THEN 'gone:1:x' END, CASE s WHEN 2 THEN $2 - interval '1 minute' END,
                  -- schema 6 marks a task back in the queue by not_before (schema 5 did not; migration 6 does it)
                  CASE WHEN s = 1 AND $3 >= 6 THEN 'epoch'::timestamptz END
                  FROM generate_series(1, 4) s
                """,
                """
                INSERT INTO herd_attempts(run_id, key, n, start, end_at, class, exitval, session_id, epoch)
                  SELECT $1, key, 1, $2 - interval '2 minutes', CASE seq WHEN 1 THEN $2 - interval '1 minute' END, CASE seq WHEN 1 THEN 'interrupted' END,
                  CASE seq WHEN 1 THEN -1 END, 'old-' || seq, 1 FROM herd_tasks WHERE run_id = $1 AND seq <= 2
                """,
                """
                INSERT INTO herd_tasks(run_id, key, seq, name, prompt, v, inputs, caps, state, class, attempts, lease_epoch, record, final_order)
                  VALUES ($1, repeat('f', 64), 5, 'task-5', 'prompt', '[]', '{}', '{}', 'done', 'success', 1, 1, 'record of task-5', nextval('herd_final_order'))
                """,
                """
                INSERT INTO herd_attempts(run_id, key, n, start, end_at, class, exitval, session_id, epoch)
                  VALUES ($1, repeat('f', 64), 1, $2 - interval '3 minutes', $2 - interval '2 minutes', 'success', 0, 'old-5', 1)
                """,
            ])
            {
                using var seed = new NpgsqlCommand(sql, db);
                seed.Parameters.Add(new NpgsqlParameter { Value = _runId });
                seed.Parameters.Add(new NpgsqlParameter { Value = _time.GetUtcNow().UtcDateTime });
                seed.Parameters.Add(new NpgsqlParameter { Value = schema });
                seed.ExecuteNonQuery();
            }
        }

        // When this herd opens it (migrating to the latest schema) and a worker claims until the queue is empty
        using var store = PostgresRunStore.Open(_pg, _runId, _time);
        var t = _time.GetUtcNow();
        var claimed = new List<ClaimedTask>();
        for (var batch = await store.ClaimAsync(10, t); batch.Count > 0; batch = await store.ClaimAsync(10, t))
        {
            claimed.AddRange(batch);
            var end = await store.EndAsync([.. batch.Select(c => new LeaseEnd(c.Lease, RunStoreContract.Outcome(OutcomeClass.Success, t), AttemptDisposition.Final, Record: c.Stored.Task.Name))]);
            end.Accepted.Count.ShouldBe(batch.Count);
        }

        // Then every task ran exactly once more — the interrupted one resuming its session, the expired one taken over —
        // and the run finished
        claimed.Select(c => (c.Stored.Task.Seq, c.Lease.Number)).OrderBy(x => x.Seq).ShouldBe([(1, 2), (2, 2), (3, 1), (4, 1)]);
        claimed.Single(c => c.Stored.Task.Seq == 1).Stored.ResumeSessionId.ShouldBe("old-1");
        store.ReadStatus().Status.ShouldBe(RunStatus.Finished);
        // and the record finished before the migration is the run's first, moved out of its task row, then the new ones
        var records = store.FinalRecords();
        records[0].ShouldBe("record of task-5");
        records.Skip(1).ShouldBe(claimed.Select(c => c.Stored.Task.Name), ignoreOrder: true);
        store.StreamFinal().First().Attempts.Single().SessionId.ShouldBe("old-5");
        Scalar("SELECT COUNT(*) FROM herd_tasks WHERE record IS NOT NULL").ShouldBe(0);

        // and --retry-failed's requeue of the finished task takes its record out of the run's records
        store.Requeue(_ => true).ShouldBe(5);
        store.FinalRecords().ShouldBeEmpty();
    }

    private long Scalar(string sql)
    {
        using var db = new NpgsqlConnection(_pg.ConnectionString);
        db.Open();
        using var cmd = new NpgsqlCommand(sql, db);
        return Convert.ToInt64(cmd.ExecuteScalar(), System.Globalization.CultureInfo.InvariantCulture);
    }

    private sealed record TableWrites(long Inserted, long Updated, long Hot);

    /// <summary>
    /// The server's counts for this schema's task and attempt tables, once they hold what the test wrote: a backend
    /// reports its counts when it goes idle or exits (closing the pool ends them), so they are read until they arrive.
    /// </summary>
    private async Task<(TableWrites Tasks, TableWrites Attempts, TableWrites Records)> SettledStatisticsAsync(long expectedTaskUpdates, long expectedAttemptUpdates)
    {
        NpgsqlConnection.ClearAllPools();
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (true)
        {
            await using var db = new NpgsqlConnection(TestPostgres.Location.ConnectionString);
            await db.OpenAsync();
            await using var cmd = new NpgsqlCommand("""
                SELECT relname, n_tup_ins, n_tup_upd, n_tup_hot_upd FROM pg_stat_user_tables
                WHERE schemaname = $1 AND relname IN ('herd_tasks', 'herd_attempts', 'herd_records')
                """, db);
            cmd.Parameters.Add(new NpgsqlParameter { Value = _schema });
            var rows = new Dictionary<string, TableWrites>();
            await using (var r = await cmd.ExecuteReaderAsync())
            {
                while (await r.ReadAsync())
                    rows[r.GetString(0)] = new TableWrites(r.GetInt64(1), r.GetInt64(2), r.GetInt64(3));
            }
            var tasks = rows.GetValueOrDefault("herd_tasks") ?? new TableWrites(0, 0, 0);
            var attempts = rows.GetValueOrDefault("herd_attempts") ?? new TableWrites(0, 0, 0);
            if ((tasks.Updated >= expectedTaskUpdates && attempts.Updated >= expectedAttemptUpdates) || DateTime.UtcNow > deadline)
                return (tasks, attempts, rows.GetValueOrDefault("herd_records") ?? new TableWrites(0, 0, 0));
            await Task.Delay(200);
        }
    }
}
