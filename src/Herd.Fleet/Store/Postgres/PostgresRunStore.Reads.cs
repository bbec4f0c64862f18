using Herd.Agent.Models;

namespace Herd.Fleet.Store.Postgres;

/// <summary>
/// Read-only queries for operators (issue #14 "Operations"): what <c>herd runs watch</c> shows of a shared run, and the
/// bulk reads the reports use (<c>report.html</c>, the step summary, <c>herd report|gate --store</c>). None of them
/// writes, locks rows or touches the claim path.
/// </summary>
public sealed partial class PostgresRunStore
{
    /// <summary>
    /// What a watcher reads in one go. <see cref="WatchData.Heartbeat"/> is the freshest sign that something works the
    /// run: the heartbeat of a <c>herd run --store</c> orchestrator's lock, of any live <c>herd worker</c> (worker
    /// presence is store-wide: an <c>--all</c> worker serves every run, so any live worker may take this run's next
    /// task), or <paramref name="now"/> while a task of the run is under an unexpired lease (its holder is alive as far
    /// as the store knows, whatever its heartbeat period). Null when nothing ever beat.
    /// </summary>
    /// <param name="window">The span over which finished tasks are counted for the rate.</param>
    public WatchData ReadWatch(DateTimeOffset now, TimeSpan window, int failures = 5)
    {
        using var db = _source.OpenConnection();
        var running = new List<OpenAttempt>();
        // From the running tasks (a partial index) to their current attempt, not a scan of every attempt of the run.
        using (var cmd = Cmd(db, null, """
            SELECT a.key, t.name, a.n, a.start, a.cost_usd FROM herd_tasks t
            JOIN herd_attempts a ON a.run_id = t.run_id AND a.key = t.key AND a.n = t.attempts
            WHERE t.run_id = $1 AND t.state = 'running' AND a.end_at IS NULL ORDER BY a.start
            """, RunId))
        using (var r = cmd.ExecuteReader())
        {
            while (r.Read())
                running.Add(new OpenAttempt(r.GetString(0), r.GetString(1), r.GetInt32(2), Time(r, 3), r.GetDouble(4)));
        }
        var failed = new List<FailedAttempt>();
        using (var cmd = Cmd(db, null, """
            SELECT a.key, t.name, a.n, a.class, a.error, a.end_at, t.state = 'done' AND t.attempts = a.n
            FROM herd_attempts a JOIN herd_tasks t ON t.run_id = a.run_id AND t.key = a.key
            WHERE a.run_id = $1 AND a.end_at IS NOT NULL AND a.class IS NOT NULL AND a.class NOT IN ('success', 'success_degraded')
            ORDER BY a.end_at DESC LIMIT $2
            """, RunId, failures))
        using (var r = cmd.ExecuteReader())
        {
            while (r.Read())
            {
                failed.Add(new FailedAttempt(r.GetString(0), r.GetString(1), r.GetInt32(2), ParseClass(r.GetString(3)), r.IsDBNull(4) ? null : r.GetString(4),
                    Time(r, 5), r.GetBoolean(6)));
            }
        }
        int finished;
        DateTimeOffset? firstStart;
        DateTimeOffset? heartbeat;
        using (var cmd = Cmd(db, null, """
            SELECT
              (SELECT COUNT(*) FROM herd_tasks t JOIN herd_attempts a ON a.run_id = t.run_id AND a.key = t.key AND a.n = t.attempts
                WHERE t.run_id = $1 AND t.state = 'done' AND a.end_at >= $2),
              (SELECT MIN(start) FROM herd_attempts WHERE run_id = $1 AND start >= $2),
              GREATEST(
                (SELECT heartbeat FROM herd_locks WHERE run_id = $1),
                (SELECT MAX(heartbeat) FROM herd_workers),
                -- final_order IS NULL: the queue's index, where the running tasks come first (no index names the lease, migration 6)
                (SELECT $3::timestamptz WHERE EXISTS (SELECT 1 FROM herd_tasks WHERE run_id = $1 AND final_order IS NULL AND state = 'running' AND lease_until >= $3)))
            """, RunId, Utc(now - window), Utc(now)))
        using (var r = cmd.ExecuteReader())
        {
            r.Read();
            finished = (int)r.GetInt64(0);
            firstStart = r.IsDBNull(1) ? null : Time(r, 1);
            heartbeat = r.IsDBNull(2) ? null : Time(r, 2);
        }
        return new WatchData(running, failed, finished, firstStart, Live: null, heartbeat);
    }

    /// <summary>
    /// <see cref="Totals"/> without the per-task runtime and cost lists (empty here), which a watcher polling every few
    /// seconds does not need and which are a row per finished task.
    /// </summary>
    public RunTotals WatchTotals()
    {
        using var db = _source.OpenConnection();
        var byClass = new SortedDictionary<Herd.Fleet.Engines.OutcomeClass, int>();
        using (var cmd = Cmd(db, null, "SELECT class, COUNT(*) FROM herd_tasks WHERE run_id = $1 AND state = 'done' GROUP BY class", RunId))
        using (var r = cmd.ExecuteReader())
        {
            while (r.Read())
                byClass[ParseClass(r.GetString(0))] = (int)r.GetInt64(1);
        }
        using (var cmd = Cmd(db, null, """
            SELECT (SELECT COUNT(*) FROM herd_tasks WHERE run_id = $1), (SELECT COUNT(*) FROM herd_tasks WHERE run_id = $1 AND state <> 'done'),
              COUNT(*), COALESCE(SUM(cost_usd), 0), COALESCE(SUM(t_in),0)::bigint, COALESCE(SUM(t_out),0)::bigint, COALESCE(SUM(t_cr),0)::bigint,
              COALESCE(SUM(t_cw5),0)::bigint, COALESCE(SUM(t_cw1),0)::bigint
            FROM herd_attempts WHERE run_id = $1
            """, RunId))
        using (var r = cmd.ExecuteReader())
        {
            r.Read();
            var tokens = StoreRows.Usage(r, 4);
            return new RunTotals((int)r.GetInt64(0), (int)r.GetInt64(1), (int)r.GetInt64(2), byClass, r.GetDouble(3), tokens, new(), new());
        }
    }

    /// <summary>The run's <c>--budget-usd</c> as the shared ledger holds it; null without a ceiling (or without the run).</summary>
    public double? StoredCeilingUsd()
    {
        using var db = _source.OpenConnection();
        using var cmd = Cmd(db, null, "SELECT budget_usd FROM herd_runs WHERE run_id = $1", RunId);
        return cmd.ExecuteScalar() is double d ? d : null;
    }
}
