using System.Globalization;
using Herd.Fleet.Engines;
using Npgsql;

namespace Herd.Fleet.Store.Postgres;

/// <summary>
/// The lease queue of the shared store (issue #14, <see cref="ILeaseQueue"/>): claims with fenced leases, their renewal, and the reaping of dead workers' tasks; ends are in .Ends.cs, the shared run state in .SharedState.cs.
/// </summary>
public sealed partial class PostgresRunStore
{
    /// <summary>Never-attempted tasks at or before this plan position were claimed already (by anyone): where the next claim's scan starts.</summary>
    private int _freshAfter;

    /// <summary>
    /// Claims up to <paramref name="count"/> tasks for <see cref="Owner"/> in ONE statement: tasks back in the queue whose
    /// retry delay has passed, then never-attempted tasks in plan order, are picked with <c>FOR UPDATE SKIP LOCKED</c> —
    /// so concurrent claimers never wait on nor take the same row — marked running under a new lease epoch, and the new
    /// attempt row is inserted. A crash anywhere leaves either all of that or none of it. When the queue runs short,
    /// expired leases are returned to it first (<see cref="ReapExpiredAsync"/>), so a dead worker's tasks are taken over.
    /// </summary>
    public async Task<IReadOnlyList<ClaimedTask>> ClaimAsync(int count, DateTimeOffset now, CancellationToken cancellationToken = default)
    {
        if (count <= 0)
            return [];
        now = Microseconds(now);
        var list = await ClaimOnceAsync(count, now, cancellationToken).ConfigureAwait(false);
        if (list.Count < count && await ReapExpiredAsync(now, cancellationToken).ConfigureAwait(false) > 0)
            list = [.. list, .. await ClaimOnceAsync(count - list.Count, now, cancellationToken).ConfigureAwait(false)];
        return list;
    }

    /// <summary>
    /// Returns the tasks of workers presumed dead (their lease ran out without a heartbeat) to the queue, closing their
    /// open attempts as <c>interrupted</c> (no retry used); their late results are fenced off by state and epoch. Runs on
    /// every heartbeat and when a claim comes up short — not inside every claim: the running-lease index keeps an entry
    /// for every task that has finished until VACUUM, and walking those per claim made claims slower as the run went on.
    /// </summary>
    public async Task<int> ReapExpiredAsync(DateTimeOffset now, CancellationToken cancellationToken = default)
    {
        await using var db = await _source.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using var cmd = ReapCommand(db, now);
        await using var r = await cmd.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        return ReadReap(r);
    }

    /// <summary>
    /// Plan positions before this one held only final tasks when this instance last reaped: where its next reap starts
    /// reading the queue. Every task before the first open one stays final — except one --retry-failed puts back, which
    /// is why every <see cref="ReapsPerFullScan"/>th reap starts from the beginning again (a task is reaped later, never lost).
    /// </summary>
    private int _openFrom;

    private int _reaps;

    private const int ReapsPerFullScan = 16;

    private NpgsqlCommand ReapCommand(NpgsqlConnection db, DateTimeOffset now)
    {
        var from = Interlocked.Increment(ref _reaps) % ReapsPerFullScan == 0 ? 0 : Volatile.Read(ref _openFrom);
        return Cmd(db, null, """
            WITH gone AS (
              UPDATE herd_tasks t SET state = 'pending', lease_owner = NULL, lease_until = NULL, not_before = 'epoch'
              -- No index names the lease (a claim would rewrite it, migration 6). Claims take never-attempted tasks in plan
              -- order, so the running tasks come before the first of those among the tasks not yet final: that short stretch
              -- of the queue index is all a reap reads — from where the first open task was at the last reap ($3): the
              -- entries before it are finished tasks', dead until VACUUM, and walking them made each reap slower than the
              -- last. A task a rolled-back claim left behind ends the stretch early until it is claimed, which delays the
              -- reaping of tasks after it, never loses it.
              WHERE t.run_id = $1 AND t.final_order IS NULL AND t.state = 'running' AND t.lease_until < $2 AND t.seq >= $3
                AND t.seq < COALESCE((SELECT f.seq FROM herd_tasks f WHERE f.run_id = $1 AND f.final_order IS NULL AND f.seq >= $3
                                      AND f.state = 'pending' AND f.attempts = 0 ORDER BY f.seq LIMIT 1), 2147483647)
              RETURNING t.key),
            closed AS (
              UPDATE herd_attempts a SET end_at = $2, class = 'interrupted', exitval = -1
              FROM gone g WHERE a.run_id = $1 AND a.key = g.key AND a.end_at IS NULL)
            SELECT (SELECT COUNT(*)::int FROM gone),
              COALESCE((SELECT f.seq FROM herd_tasks f WHERE f.run_id = $1 AND f.final_order IS NULL AND f.seq >= $3 ORDER BY f.seq LIMIT 1), $3)
            """, RunId, Utc(now), from);
    }

    /// <summary>The reap's count, keeping where the first open task was for the next reap (see <see cref="_openFrom"/>).</summary>
    private int ReadReap(NpgsqlDataReader r)
    {
        r.Read();
        Volatile.Write(ref _openFrom, r.GetInt32(1));
        return r.GetInt32(0);
    }

    /// <summary>The claim (see <see cref="ClaimAsync"/>); its parameters are <see cref="ClaimArguments"/>.</summary>
    private const string ClaimSql = """
        WITH again AS (
          SELECT t.key, 1 AS pri, t.seq FROM herd_tasks t
          WHERE t.run_id = $1 AND t.not_before IS NOT NULL AND t.not_before <= $3 AND t.state = 'pending'
          ORDER BY t.seq LIMIT $4 FOR UPDATE OF t SKIP LOCKED),
        fresh AS (
          SELECT t.key, 2 AS pri, t.seq FROM herd_tasks t
          WHERE t.run_id = $1 AND t.final_order IS NULL AND t.seq > $6 AND t.state = 'pending' AND t.attempts = 0
          ORDER BY t.seq LIMIT $4 FOR UPDATE OF t SKIP LOCKED),
        -- Index scans of two partial indexes (tasks back in the queue, tasks not yet final), not one scan of an OR over
        -- the whole plan: at a million tasks the OR read and sorted every row per claim. Neither index names a column
        -- the claim changes, so the claim of a task never attempted is a HOT update (migration 6).
        picked AS (
          SELECT x.key FROM (SELECT * FROM again UNION ALL SELECT * FROM fresh) x
          -- `herd run --store` claims like any worker (issue #18, elastic runs): its run lock keeps other `herd run`s off
          -- the run, never workers
          WHERE EXISTS (SELECT 1 FROM herd_runs r WHERE r.run_id = $1 AND r.status = 'running')
          ORDER BY x.pri, x.seq LIMIT $4),
        claimed AS (
          UPDATE herd_tasks t SET state = 'running', attempts = t.attempts + 1, lease_epoch = t.lease_epoch + 1,
            lease_owner = $2, lease_until = $5, not_before = NULL
          FROM picked WHERE t.run_id = $1 AND t.key = picked.key
          RETURNING t.key, t.seq, t.name, t.prompt, t.v, t.inputs, t.caps, t.retries, t.attempts, t.lease_epoch),
        closed AS (
          UPDATE herd_attempts a SET end_at = $3, class = 'interrupted', exitval = -1
          -- only a task attempted before can have an open attempt; ANY(ARRAY(...)) keeps this a primary-key lookup in the
          -- generic plan (joined to the CTE, the planner chose to walk every attempt of the run)
          FROM claimed c WHERE a.run_id = $1 AND a.key = ANY(ARRAY(SELECT key FROM claimed WHERE attempts > 1)) AND a.key = c.key AND a.end_at IS NULL
          RETURNING a.key),
        started AS (
          INSERT INTO herd_attempts(run_id, key, n, start, session_id, epoch, worker)
          SELECT $1, c.key, c.attempts, $3, gen_random_uuid()::text, c.lease_epoch, $2 FROM claimed c
          RETURNING key, session_id)
        SELECT c.key, c.seq, c.name, c.prompt, c.v, c.inputs, c.caps, c.retries, c.attempts, c.lease_epoch, s.session_id,
          -- a task on its first attempt has no history to read
          CASE WHEN c.attempts > 1 THEN (SELECT COALESCE(SUM(a.cost_usd), 0) FROM herd_attempts a WHERE a.run_id = $1 AND a.key = c.key) ELSE 0 END,
          CASE WHEN c.attempts > 1 THEN (SELECT string_agg(a.class, ',') FROM herd_attempts a WHERE a.run_id = $1 AND a.key = c.key AND a.class IS NOT NULL) END,
          (SELECT COUNT(*) FROM closed x WHERE x.key = c.key),
          -- the session of the previous attempt when it was cut off (killed or cancelled), for the engine to resume, as
          -- LoadTasks gives herd run; an attempt closed by this very statement is still open in this snapshot
          CASE WHEN c.attempts > 1 THEN (SELECT a.session_id FROM herd_attempts a WHERE a.run_id = $1 AND a.key = c.key AND a.n = c.attempts - 1
            AND (a.class IN ('interrupted', 'cancelled') OR EXISTS (SELECT 1 FROM closed x WHERE x.key = c.key))) END
        FROM claimed c JOIN started s ON s.key = c.key
        ORDER BY c.seq
        """;

    /// <summary>The attempt row stores microseconds: the start a claim keeps in memory must be the one read back later.</summary>
    private static DateTimeOffset Microseconds(DateTimeOffset t) => new(t.UtcTicks - t.UtcTicks % 10, TimeSpan.Zero);

    private object?[] ClaimArguments(int count, DateTimeOffset now) =>
        [RunId, Owner, Utc(now), count, Utc(now + LeaseDuration), Volatile.Read(ref _freshAfter)];

    private async Task<IReadOnlyList<ClaimedTask>> ClaimOnceAsync(int count, DateTimeOffset now, CancellationToken cancellationToken)
    {
        await using var db = await _source.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using var cmd = Cmd(db, null, ClaimSql, ClaimArguments(count, now));
        await using var r = await cmd.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        return ReadClaims(r, count, now);
    }

    /// <summary>The claimed tasks from the claim's result (whose rows the reader has already received: it is small).</summary>
    private List<ClaimedTask> ReadClaims(NpgsqlDataReader r, int count, DateTimeOffset now)
    {
        var list = new List<ClaimedTask>();
        while (r.Read())
        {
            var task = ReadTask(r, 0);
            var counts = new Dictionary<OutcomeClass, int>();
            if (!r.IsDBNull(12))
            {
                foreach (var name in r.GetString(12).Split(','))
                {
                    var cls = ParseClass(name);
                    counts[cls] = counts.GetValueOrDefault(cls) + 1;
                }
            }
            // The attempt closed by this very statement as interrupted is not yet visible to the subquery above.
            if (r.GetInt64(13) > 0)
                counts[OutcomeClass.Interrupted] = counts.GetValueOrDefault(OutcomeClass.Interrupted) + 1;
            var attempts = r.GetInt32(8);
            var stored = new StoredTask(task, TaskState.Running, null, r.GetInt32(7), attempts, counts, r.GetDouble(11), r.IsDBNull(14) ? null : r.GetString(14));
            var lease = new TaskLease(task.Key, attempts, r.GetInt64(9));
            _epochs[task.Key] = lease.Epoch; // held until its end (RenewLeases)
            list.Add(new ClaimedTask(stored, lease, r.GetString(10), now));
        }
        // The next scan of never-attempted tasks starts after the last one claimed here; a short claim means the queue ran
        // low (or a concurrent claim rolled back), so the next one looks from the start again.
        var fresh = list.Where(c => c.Lease.Number == 1).Select(c => c.Stored.Task.Seq).DefaultIfEmpty(0).Max();
        Volatile.Write(ref _freshAfter, list.Count < count ? 0 : Math.Max(fresh, Volatile.Read(ref _freshAfter)));
        return list;
    }

    /// <summary>Extends every lease this instance holds on this run; returns how many. Called by the heartbeat.</summary>
    public int RenewLeases(DateTimeOffset now)
    {
        using var db = _source.OpenConnection();
        return RenewLeases(db, now);
    }

    private int RenewLeases(NpgsqlConnection db, DateTimeOffset now)
    {
        // By the keys this instance holds (claimed or started here, not yet ended), found by primary key: a search by
        // owner walked the running-lease index, which keeps an entry per finished task until VACUUM (16 ms a beat at
        // a few hundred thousand finished tasks).
        var held = _epochs.Keys.ToArray();
        if (held.Length == 0)
            return 0;
        using var cmd = Cmd(db, null, "UPDATE herd_tasks SET lease_until = $3 WHERE run_id = $1 AND key = ANY($4) AND lease_owner = $2 AND state = 'running'",
            RunId, Owner, Utc(now + LeaseDuration), held);
        return cmd.ExecuteNonQuery();
    }

    /// <summary>
    /// Ends an attempt and puts its task back in the queue (a retry, or a requeue class), fenced by the lease epoch.
    /// Returns false — and writes nothing — when the lease was lost to another claimer.
    /// </summary>
    /// <param name="notBefore">A retry's backoff: no worker claims the task before then.</param>
    public bool Release(TaskLease lease, TaskOutcome outcome, bool usedRetry, DateTimeOffset? notBefore) =>
        End([new LeaseEnd(lease, outcome, usedRetry ? AttemptDisposition.Retry : AttemptDisposition.Requeue, notBefore)]).Accepted.Contains(lease.Key);

    /// <summary>
    /// Makes a task final, fenced by the lease epoch: the attempt's end, the task's one record (built from its stored
    /// attempts, this one ended) and the run's counts move in one transaction, so a record is written exactly once. When
    /// the last task becomes final the run is marked finished in the same transaction. A lost lease returns a null
    /// record and writes nothing.
    /// </summary>
    public FinalCommit Complete(TaskLease lease, TaskOutcome outcome, Func<IReadOnlyList<AttemptRow>, string> buildRecord)
    {
        List<AttemptRow> rows;
        using (var db = _source.OpenConnection())
        {
            rows = Attempts(db, null, lease.Key).Where(a => a.N <= lease.Number).ToList();
            if (rows.Count == 0 || rows[^1].N != lease.Number)
            {
                // No such attempt here: the lease is not this task's current one, so nothing may be written.
                var (status, total, done, failed) = Counts(db);
                return new FinalCommit(null, done, failed, total, status);
            }
        }
        rows[^1] = rows[^1].Ended(outcome);
        var record = buildRecord(rows);
        var end = End([new LeaseEnd(lease, outcome, AttemptDisposition.Final, Record: record)]);
        return new FinalCommit(end.Accepted.Contains(lease.Key) ? record : null, end.Done, end.Failed, end.Total, end.Status);
    }

    private (RunStatus Status, int Total, int Done, int Failed) Counts(NpgsqlConnection db)
    {
        using var cmd = Cmd(db, null, $"SELECT r.status, r.total, {DoneSql}, {FailedSql} FROM herd_runs r WHERE r.run_id = $1", RunId);
        using var r = cmd.ExecuteReader();
        if (!r.Read())
            throw new Herd.Agent.HerdFatalException($"Error: run store {Location} has no such run. `herd runs list --store URL` shows the runs.");
        return (ParseStatus(r.GetString(0)), r.GetInt32(1), r.GetInt32(2), r.GetInt32(3));
    }

    /// <summary>The run's finished tasks (of the run row <c>r</c>): the base on the run row plus every writer's counter row.</summary>
    private const string DoneSql = "(r.done + COALESCE((SELECT SUM(c.done) FROM herd_run_counts c WHERE c.run_id = r.run_id), 0))::int";

    /// <summary>The run's failed tasks, as <see cref="DoneSql"/>.</summary>
    private const string FailedSql = "(r.failed + COALESCE((SELECT SUM(c.failed) FROM herd_run_counts c WHERE c.run_id = r.run_id), 0))::int";

    /// <summary>
    /// Marks the run finished once every task is final. Final batches do this themselves, but two workers committing
    /// the last tasks at once each count without the other's batch; whichever goes idle afterwards closes the run here.
    /// </summary>
    public async Task FinishIfDoneAsync(CancellationToken cancellationToken = default)
    {
        await using var db = await _source.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using var cmd = Cmd(db, null, $"""
            UPDATE herd_runs r SET status = 'finished', exit_code = LEAST({FailedSql}, 101), updated = $2
            WHERE r.run_id = $1 AND r.status = 'running' AND {DoneSql} >= r.total
            """, RunId, Utc(_time.GetUtcNow()));
        await cmd.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
    }
}
