using Herd.Agent.Models;
using Herd.Fleet.Engines;
using Npgsql;
using NpgsqlTypes;

namespace Herd.Fleet.Store.Postgres;

/// <summary>
/// Group commit of attempt ends (issue #14's throughput goal): every attempt a worker saw end since its last round trip
/// is written in ONE round trip and ONE transaction — the retries and requeues in one set-based statement, the finals
/// (attempt end, the task's record, the writer's own counter row) in another, both sent as one batch. Per task that replaced six
/// statements and a commit (a WAL flush) with a share of two, which is what lets sixteen workers share one server.
/// </summary>
/// <remarks>
/// Fencing is unchanged: a row is updated only while it still carries the lease epoch the attempt was started under, so
/// the late end of a worker presumed dead matches nothing and is reported as not accepted. Rows are locked in key
/// order, so two batches that meet on a task (a takeover) cannot deadlock on their own; a deadlock with anything else
/// is a transient error and the whole batch — atomic — is simply sent again. Every row is found by primary key: the
/// <c>= ANY($2)</c> conditions keep it so in the generic plans of these prepared statements, where the planner cannot
/// see how few keys a batch holds and preferred to walk the running-lease index (an entry per finished task until VACUUM).
/// </remarks>
public sealed partial class PostgresRunStore
{
    private const string EndInput = """
        unnest($2::text[], $3::int[], $4::bigint[], $5::timestamptz[], $6::text[], $7::int[], $8::float8[], $9::text[], $10::text[],
               $11::bigint[], $12::bigint[], $13::bigint[], $14::bigint[], $15::bigint[])
          AS i(key, n, epoch, end_at, class, exitval, cost, session_id, error, t_in, t_out, t_cr, t_cw5, t_cw1)
        """;

    private const string EndAttemptsSql = """
        UPDATE herd_attempts a SET end_at = i.end_at, class = i.class, exitval = i.exitval, cost_usd = i.cost, session_id = i.session_id,
          error = i.error, t_in = i.t_in, t_out = i.t_out, t_cr = i.t_cr, t_cw5 = i.t_cw5, t_cw1 = i.t_cw1
        FROM i JOIN moved m ON m.key = i.key WHERE a.run_id = $1 AND a.key = ANY($2) AND a.key = i.key AND a.n = i.n
        """;

    /// <summary>Retries and requeues: the tasks go back to the queue (fenced), their attempts end.</summary>
    private static readonly string ReleaseSql = $"""
        WITH i AS (SELECT i.*, x.used, x.not_before FROM {EndInput}
                   JOIN unnest($2::text[], $16::int[], $17::timestamptz[]) AS x(key, used, not_before) ON x.key = i.key),
        moved AS (
          UPDATE herd_tasks t SET state = 'pending', retries = t.retries + i.used, not_before = COALESCE(i.not_before, 'epoch'), lease_owner = NULL, lease_until = NULL
          FROM i WHERE t.run_id = $1 AND t.key = ANY($2) AND t.key = i.key AND t.lease_epoch = i.epoch AND t.state = 'running'
          RETURNING t.key),
        ended AS ({EndAttemptsSql})
        SELECT key FROM moved
        """;

    /// <summary>
    /// Finals: the tasks become done (fenced), their records are appended to herd_records, their attempts end, and the writer's own counter row
    /// moves once for the batch — finishing the run in the same transaction when the batch sees the last task final.
    /// </summary>
    private static readonly string FinalSql = $"""
        WITH i AS (SELECT i.*, x.record, x.runtime_s, x.failed FROM {EndInput}
                   JOIN unnest($2::text[], $16::text[], $17::float8[], $18::int[]) AS x(key, record, runtime_s, failed) ON x.key = i.key),
        moved AS (
          UPDATE herd_tasks t SET state = 'done', class = i.class, final_order = nextval('herd_final_order'),
            runtime_s = i.runtime_s, lease_owner = NULL, lease_until = NULL,
            cost_usd = i.cost + (SELECT COALESCE(SUM(a.cost_usd), 0) FROM herd_attempts a WHERE a.run_id = $1 AND a.key = i.key AND a.n <> i.n)
          FROM i WHERE t.run_id = $1 AND t.key = ANY($2) AND t.key = i.key AND t.lease_epoch = i.epoch AND t.state = 'running'
          RETURNING t.key, t.final_order, i.record, i.failed),
        ended AS ({EndAttemptsSql}),
        -- The record goes to its own insert-only table (migration 7): the task row stays small.
        kept AS (INSERT INTO herd_records(run_id, final_order, key, record) SELECT $1, m.final_order, m.key, m.record FROM moved m),
        k AS (SELECT COUNT(*)::int AS n, COALESCE(SUM(failed), 0)::int AS f FROM moved),
        -- This writer's own counter row (no other writer waits on it); the run row is written once, when the run ends.
        counted AS (
          INSERT INTO herd_run_counts(run_id, worker, done, failed) SELECT $1, $20, k.n, k.f FROM k WHERE k.n > 0
          ON CONFLICT (run_id, worker) DO UPDATE SET done = herd_run_counts.done + EXCLUDED.done, failed = herd_run_counts.failed + EXCLUDED.failed),
        -- The counts as committed by everyone else, plus this batch (the statement's snapshot cannot see its own insert).
        tot AS (
          SELECT r.status, r.total, r.done + COALESCE(c.done, 0) + k.n AS done, r.failed + COALESCE(c.failed, 0) + k.f AS failed
          FROM herd_runs r CROSS JOIN k
          LEFT JOIN (SELECT SUM(done)::int AS done, SUM(failed)::int AS failed FROM herd_run_counts WHERE run_id = $1) c ON true
          WHERE r.run_id = $1),
        finished AS (
          UPDATE herd_runs r SET status = 'finished', exit_code = LEAST(tot.failed, 101), updated = $19
          FROM tot WHERE r.run_id = $1 AND r.status = 'running' AND tot.done >= tot.total
          RETURNING r.status)
        SELECT tot.done, tot.failed, tot.total, COALESCE((SELECT status FROM finished), tot.status), (SELECT array_agg(key) FROM moved) FROM tot
        """;

    /// <summary>
    /// Ends a batch of attempts in one round trip and one transaction (see the type's remarks), and claims up to
    /// <paramref name="claim"/> new tasks in the same round trip (<see cref="ClaimAsync"/>'s claim, without its reaping):
    /// a worker in full flow exchanges the attempts that ended for as many new ones, one round trip a turn.
    /// </summary>
    public async Task<EndBatch> EndAsync(IReadOnlyList<LeaseEnd> ends, int claim = 0, DateTimeOffset? now = null, CancellationToken cancellationToken = default)
    {
        var at = Microseconds(now ?? _time.GetUtcNow());
        await using var db = await _source.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        using var batch = EndCommands(db, ends, claim, at);
        await using var r = await batch.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        return ReadEnds(r, ends, claim, at);
    }

    /// <summary>The synchronous form, for the orchestrator's path (<see cref="IRunStore"/> is synchronous).</summary>
    public EndBatch End(IReadOnlyList<LeaseEnd> ends)
    {
        using var db = _source.OpenConnection();
        using var batch = EndCommands(db, ends, 0, default);
        using var r = batch.ExecuteReader();
        return ReadEnds(r, ends, 0, default);
    }

    private NpgsqlBatch EndCommands(NpgsqlConnection db, IReadOnlyList<LeaseEnd> ends, int claim, DateTimeOffset now)
    {
        // Key order is lock order (see remarks).
        var sorted = ends.OrderBy(e => e.Lease.Key, StringComparer.Ordinal).ToArray();
        var released = sorted.Where(e => !e.IsFinal).ToArray();
        var finals = sorted.Where(e => e.IsFinal).ToArray();
        var batch = new NpgsqlBatch(db);
        if (claim > 0)
        {
            // First: the claim locks only task rows (skipping locked ones), so the counter row, written last by the finals,
            // is held for as short a time as possible.
            var cmd = new NpgsqlBatchCommand(ClaimSql);
            foreach (var value in ClaimArguments(claim, now))
                cmd.Parameters.Add(new NpgsqlParameter { Value = value ?? DBNull.Value });
            batch.BatchCommands.Add(cmd);
        }
        // The ends' statements on their generic plans, for this transaction only (the claim before keeps the server's
        // choice: its generic plan once read a thousand pages a claim). Left to choose, the server planned most ends
        // afresh once the tables had statistics; these find every row by primary key, which needs no custom plan.
        batch.BatchCommands.Add(new NpgsqlBatchCommand("SELECT set_config('plan_cache_mode', 'force_generic_plan', true)"));
        if (released.Length > 0)
        {
            var cmd = EndCommand(ReleaseSql, released);
            cmd.Parameters.Add(Array(released.Select(e => e.Disposition == AttemptDisposition.Retry ? 1 : 0), NpgsqlDbType.Integer));
            cmd.Parameters.Add(Array(released.Select(e => e.NotBefore is { } nb ? (DateTime?)Utc(nb) : null), NpgsqlDbType.TimestampTz));
            batch.BatchCommands.Add(cmd);
        }
        // The finals' statement always runs: it also returns the run's counts, which the halt policy reads.
        var fin = EndCommand(FinalSql, finals);
        fin.Parameters.Add(Array(finals.Select(e => e.Record ?? throw new ArgumentException($"the final end of {e.Lease.Key} has no record", nameof(ends))), NpgsqlDbType.Text));
        fin.Parameters.Add(Array(finals.Select(e => (e.Outcome.End - e.Outcome.Start).TotalSeconds), NpgsqlDbType.Double));
        fin.Parameters.Add(Array(finals.Select(e => e.Outcome.Class.IsSuccess() ? 0 : 1), NpgsqlDbType.Integer));
        fin.Parameters.Add(new NpgsqlParameter { Value = Utc(_time.GetUtcNow()), NpgsqlDbType = NpgsqlDbType.TimestampTz });
        fin.Parameters.Add(new NpgsqlParameter { Value = Owner });
        batch.BatchCommands.Add(fin);
        return batch;
    }

    private NpgsqlBatchCommand EndCommand(string sql, LeaseEnd[] ends)
    {
        var cmd = new NpgsqlBatchCommand(sql);
        cmd.Parameters.Add(new NpgsqlParameter { Value = RunId });
        cmd.Parameters.Add(Array(ends.Select(e => e.Lease.Key), NpgsqlDbType.Text));
        cmd.Parameters.Add(Array(ends.Select(e => e.Lease.Number), NpgsqlDbType.Integer));
        cmd.Parameters.Add(Array(ends.Select(e => e.Lease.Epoch), NpgsqlDbType.Bigint));
        cmd.Parameters.Add(Array(ends.Select(e => Utc(e.Outcome.End)), NpgsqlDbType.TimestampTz));
        cmd.Parameters.Add(Array(ends.Select(e => e.Outcome.Class.Name()), NpgsqlDbType.Text));
        cmd.Parameters.Add(Array(ends.Select(e => e.Outcome.Exitval), NpgsqlDbType.Integer));
        cmd.Parameters.Add(Array(ends.Select(e => e.Outcome.CostUsd), NpgsqlDbType.Double));
        cmd.Parameters.Add(Array(ends.Select(e => e.Outcome.SessionId), NpgsqlDbType.Text));
        cmd.Parameters.Add(Array(ends.Select(e => e.Outcome.Error), NpgsqlDbType.Text));
        cmd.Parameters.Add(Array(ends.Select(e => e.Outcome.Usage.InputTokens), NpgsqlDbType.Bigint));
        cmd.Parameters.Add(Array(ends.Select(e => e.Outcome.Usage.OutputTokens), NpgsqlDbType.Bigint));
        cmd.Parameters.Add(Array(ends.Select(e => e.Outcome.Usage.CacheReadInputTokens), NpgsqlDbType.Bigint));
        cmd.Parameters.Add(Array(ends.Select(e => StoreRows.CacheWrite5m(e.Outcome.Usage)), NpgsqlDbType.Bigint));
        cmd.Parameters.Add(Array(ends.Select(e => e.Outcome.Usage.CacheCreation1hTokens), NpgsqlDbType.Bigint));
        return cmd;
    }

    private EndBatch ReadEnds(NpgsqlDataReader r, IReadOnlyList<LeaseEnd> ends, int claim, DateTimeOffset now)
    {
        IReadOnlyList<ClaimedTask> claimed = [];
        if (claim > 0)
        {
            claimed = ReadClaims(r, claim, now);
            r.NextResult();
        }
        r.NextResult(); // past the plan setting
        var accepted = new HashSet<string>(StringComparer.Ordinal);
        if (ends.Any(e => !e.IsFinal))
        {
            while (r.Read())
                accepted.Add(r.GetString(0));
            r.NextResult();
        }
        if (!r.Read())
            throw new Herd.Agent.HerdFatalException($"Error: run store {Location} has no such run. `herd runs list --store URL` shows the runs.");
        var batch = new EndBatch(accepted, r.GetInt32(0), r.GetInt32(1), r.GetInt32(2), ParseStatus(r.GetString(3)), claimed);
        if (!r.IsDBNull(4))
            accepted.UnionWith(r.GetFieldValue<string[]>(4));
        foreach (var e in ends)
            _epochs.TryRemove(new KeyValuePair<string, long>(e.Lease.Key, e.Lease.Epoch)); // ended (or lost): no longer held
        var spent = ends.Where(e => accepted.Contains(e.Lease.Key)).Sum(e => e.Outcome.CostUsd);
        lock (_spentGate)
            _spentUsd += spent;
        return batch;
    }

    /// <summary>
    /// The ended attempts of tasks claimed again (a retry, or a takeover), by key — what their records list before the
    /// last attempt. One query for a whole batch, and none at all when every task is on its first attempt.
    /// </summary>
    public async Task<IReadOnlyDictionary<string, IReadOnlyList<AttemptRow>>> EarlierAttemptsAsync(IReadOnlyList<TaskLease> leases, CancellationToken cancellationToken = default)
    {
        var wanted = leases.Where(l => l.Number > 1).ToArray();
        var map = new Dictionary<string, IReadOnlyList<AttemptRow>>(StringComparer.Ordinal);
        if (wanted.Length == 0)
            return map;
        await using var db = await _source.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using var cmd = Cmd(db, null, $"""
            SELECT a.key, {AttemptColumns} FROM herd_attempts a
            JOIN unnest($2::text[], $3::int[]) AS w(key, n) ON w.key = a.key AND a.n < w.n
            WHERE a.run_id = $1 ORDER BY a.key, a.n
            """, RunId, wanted.Select(l => l.Key).ToArray(), wanted.Select(l => l.Number).ToArray());
        await using var r = await cmd.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        while (await r.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            var key = r.GetString(0);
            if (!map.TryGetValue(key, out var rows))
                map[key] = rows = new List<AttemptRow>();
            ((List<AttemptRow>)rows).Add(ReadAttempt(r, 1));
        }
        return map;
    }


    private static NpgsqlParameter Array<T>(IEnumerable<T> values, NpgsqlDbType element) =>
        new() { Value = values.ToArray(), NpgsqlDbType = NpgsqlDbType.Array | element };
}
