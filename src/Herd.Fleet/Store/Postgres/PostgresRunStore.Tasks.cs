using System.Globalization;
using Herd.Agent;
using Herd.Agent.Models;
using Herd.Fleet.Engines;
using Herd.Fleet.Jobs;
using Npgsql;
using NpgsqlTypes;

namespace Herd.Fleet.Store.Postgres;

/// <summary>The task queue of one scheduling process (<see cref="ITaskQueue"/>): <c>herd run --store</c>'s orchestration path and recovery; workers claim with leases instead (.Leases.cs).</summary>
public sealed partial class PostgresRunStore
{
    // ---- tasks ---------------------------------------------------------------------------------------------------

    public IReadOnlyList<StoredTask> LoadTasks()
    {
        using var db = _source.OpenConnection();
        var counts = new Dictionary<string, Dictionary<OutcomeClass, int>>(StringComparer.Ordinal);
        using (var cmd = Cmd(db, null, "SELECT key, class, COUNT(*) FROM herd_attempts WHERE run_id = $1 AND class IS NOT NULL GROUP BY key, class", RunId))
        using (var r = cmd.ExecuteReader())
        {
            while (r.Read())
            {
                if (!counts.TryGetValue(r.GetString(0), out var map))
                    counts[r.GetString(0)] = map = [];
                map[ParseClass(r.GetString(1))] = (int)r.GetInt64(2);
            }
        }
        var spent = new Dictionary<string, double>(StringComparer.Ordinal);
        using (var cmd = Cmd(db, null, "SELECT key, SUM(cost_usd) FROM herd_attempts WHERE run_id = $1 GROUP BY key", RunId))
        using (var r = cmd.ExecuteReader())
        {
            while (r.Read())
                spent[r.GetString(0)] = r.GetDouble(1);
        }
        // As SQLite does: a task whose last attempt was cut off (killed, cancelled) resumes that attempt's session.
        var cutOff = new Dictionary<string, string>(StringComparer.Ordinal);
        using (var cmd = Cmd(db, null, """
            SELECT a.key, a.session_id FROM herd_attempts a
            WHERE a.run_id = $1 AND a.class IN ('interrupted', 'cancelled')
              AND a.n = (SELECT MAX(b.n) FROM herd_attempts b WHERE b.run_id = a.run_id AND b.key = a.key)
            """, RunId))
        using (var r = cmd.ExecuteReader())
        {
            while (r.Read())
                cutOff[r.GetString(0)] = r.GetString(1);
        }
        var list = new List<StoredTask>();
        using (var cmd = Cmd(db, null, "SELECT key, seq, name, prompt, v, inputs, caps, state, class, retries, attempts FROM herd_tasks WHERE run_id = $1 ORDER BY seq", RunId))
        using (var r = cmd.ExecuteReader())
        {
            while (r.Read())
            {
                var task = ReadTask(r, 0);
                var state = ParseState(r.GetString(7));
                list.Add(new StoredTask(task, state, r.IsDBNull(8) ? null : ParseClass(r.GetString(8)), r.GetInt32(9), r.GetInt32(10),
                    counts.TryGetValue(task.Key, out var c) ? c : new Dictionary<OutcomeClass, int>(), spent.GetValueOrDefault(task.Key),
                    state == TaskState.Done ? null : cutOff.GetValueOrDefault(task.Key)));
            }
        }
        return list;
    }

    /// <summary>
    /// Spec §7.1 for the orchestrator: open attempts become <c>interrupted</c> and their tasks pending, without a retry
    /// used. Tasks under a live lease of another process (a worker) are left alone; their lease decides.
    /// </summary>
    public int RecoverInterrupted(DateTimeOffset now)
    {
        using var db = _source.OpenConnection();
        using var tx = db.BeginTransaction();
        int n;
        using (var cmd = Cmd(db, tx, """
            UPDATE herd_attempts a SET end_at = $2, class = 'interrupted', exitval = -1
            FROM herd_tasks t WHERE a.run_id = $1 AND a.end_at IS NULL AND t.run_id = a.run_id AND t.key = a.key
              AND (t.lease_until IS NULL OR t.lease_until < $2 OR t.lease_owner = $3)
            """, RunId, Utc(now), Owner))
            n = cmd.ExecuteNonQuery();
        using (var cmd = Cmd(db, tx, """
            UPDATE herd_tasks SET state = 'pending', lease_owner = NULL, lease_until = NULL, not_before = 'epoch'
            WHERE run_id = $1 AND state = 'running' AND (lease_until IS NULL OR lease_until < $2 OR lease_owner = $3)
            """, RunId, Utc(now), Owner))
            cmd.ExecuteNonQuery();
        tx.Commit();
        return n;
    }

    public int Requeue(Func<OutcomeClass, bool> classMatches)
    {
        using var db = _source.OpenConnection();
        var keys = new List<(string Key, bool Failed)>();
        using (var cmd = Cmd(db, null, "SELECT key, class FROM herd_tasks WHERE run_id = $1 AND state = 'done'", RunId))
        using (var r = cmd.ExecuteReader())
        {
            while (r.Read())
            {
                var cls = ParseClass(r.GetString(1));
                if (classMatches(cls))
                    keys.Add((r.GetString(0), !cls.IsSuccess()));
            }
        }
        using var tx = db.BeginTransaction();
        // The requeued tasks' records leave the run's records (migration 7 keeps them in a table of their own) with their final order.
        using (var up = Cmd(db, tx, """
            WITH up AS (
              UPDATE herd_tasks t SET state = 'pending', class = NULL, record = NULL, final_order = NULL, retries = 0, not_before = 'epoch'
              FROM herd_tasks o WHERE t.run_id = $1 AND t.key = ANY($2) AND t.state = 'done' AND o.run_id = t.run_id AND o.key = t.key
              RETURNING o.final_order)
            DELETE FROM herd_records r USING up WHERE r.run_id = $1 AND r.final_order = up.final_order
            """, RunId, keys.Select(k => k.Key).ToArray()))
            up.ExecuteNonQuery();
        using (var counters = Cmd(db, tx, "UPDATE herd_runs SET done = done - $2, failed = failed - $3, status = 'running' WHERE run_id = $1", RunId, keys.Count, keys.Count(k => k.Failed)))
            counters.ExecuteNonQuery();
        tx.Commit();
        Volatile.Write(ref _openFrom, 0); // the requeued tasks may come before where this instance's reaps start
        return keys.Count;
    }

    // ---- attempts (the orchestrator's path; workers use Claim / Release / Complete) --------------------------------

    /// <summary>The orchestrator's start: the task is leased to this instance (renewed by <see cref="Heartbeat"/>), so workers leave it alone.</summary>
    public void StartAttempt(string key, int n, int slot, DateTimeOffset start, string sessionId)
    {
        using var db = _source.OpenConnection();
        using var tx = db.BeginTransaction();
        long epoch;
        using (var mark = Cmd(db, tx, """
            UPDATE herd_tasks SET state = 'running', attempts = $3, lease_epoch = lease_epoch + 1, lease_owner = $4, lease_until = $5, not_before = NULL
            WHERE run_id = $1 AND key = $2 RETURNING lease_epoch
            """, RunId, key, n, Owner, Utc(start + LeaseDuration)))
            epoch = Convert.ToInt64(mark.ExecuteScalar(), CultureInfo.InvariantCulture);
        using (var insert = Cmd(db, tx, """
            INSERT INTO herd_attempts(run_id, key, n, slot, start, session_id, epoch, worker) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
            ON CONFLICT (run_id, key, n) DO UPDATE SET slot = EXCLUDED.slot, start = EXCLUDED.start, session_id = EXCLUDED.session_id, epoch = EXCLUDED.epoch, worker = EXCLUDED.worker, end_at = NULL
            """, RunId, key, n, slot, Utc(start), sessionId, epoch, Owner))
            insert.ExecuteNonQuery();
        tx.Commit();
        _epochs[key] = epoch;
    }

    public void AddAttemptCost(string key, int n, double costUsd)
    {
        using var db = _source.OpenConnection();
        using var cmd = Cmd(db, null, "UPDATE herd_attempts SET cost_usd = cost_usd + $4 WHERE run_id = $1 AND key = $2 AND n = $3 AND end_at IS NULL", RunId, key, n, costUsd);
        cmd.ExecuteNonQuery();
    }

    /// <exception cref="HerdFatalException">This instance lost the task's lease (its heartbeats stopped long enough for a worker to take it over).</exception>
    public string? FinishAttempt(string key, int n, TaskOutcome outcome, bool usedRetry, Func<IReadOnlyList<AttemptRow>, string>? buildRecord)
    {
        var epoch = _epochs.TryGetValue(key, out var e) ? e : throw new InvalidOperationException($"no attempt of {key} was started here");
        var lease = new TaskLease(key, n, epoch);
        string? record = null;
        var accepted = buildRecord is null ? Release(lease, outcome, usedRetry, notBefore: null) : (record = Complete(lease, outcome, buildRecord).Record) is not null;
        if (!accepted)
            throw new HerdFatalException($"Error: run '{RunId}': the lease on task {key[..12]} was lost (no heartbeat for {LeaseDuration.TotalSeconds:0} s) and another process took it over; this result was discarded. Continue with --resume.");
        _epochs.TryRemove(key, out _);
        return record;
    }
}
