using Npgsql;

namespace Herd.Fleet.Store.Postgres;

/// <summary>
/// The run-wide state every worker of a shared run reads and writes (<see cref="ISharedRunState"/>): presence and
/// heartbeats, the halt, the budget ledger and the AIMD limit with its pause.
/// </summary>
public sealed partial class PostgresRunStore
{
    /// <summary>Stops the run for every worker: claims select only running runs. The first halt wins; returns whether it was this one.</summary>
    public async Task<bool> HaltAsync(string detail, int exitCode, CancellationToken cancellationToken = default)
    {
        await using var db = await _source.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using var cmd = Cmd(db, null, "UPDATE herd_runs SET status = 'halted', halt_detail = $2, exit_code = $3, updated = $4 WHERE run_id = $1 AND status = 'running'", RunId, detail, exitCode, Utc(_time.GetUtcNow()));
        return await cmd.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false) > 0;
    }

    /// <summary>The ceiling every worker's reservations count against (<c>--budget-usd</c>); null removes it.</summary>
    public void SetBudget(double? ceilingUsd)
    {
        using var db = _source.OpenConnection();
        using var cmd = Cmd(db, null, "UPDATE herd_runs SET budget_usd = $2 WHERE run_id = $1", RunId, ceilingUsd);
        cmd.Parameters[1].NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.Double;
        cmd.ExecuteNonQuery();
    }

    // ---- workers: presence, shared budget, shared rate limit -----------------------------------------------------

    /// <summary>
    /// The worker's heartbeat: its presence row and its leases on this run. Also returns what other workers decided
    /// (status, AIMD limit, pause) and how many workers are alive, so the limit is shared rather than assumed by each.
    /// </summary>
    /// <param name="runningCosts">What the worker's open attempts have spent so far, written here rather than after every
    /// model call (a round trip per call): if the worker dies, its interrupted attempts keep their cost up to the last beat.</param>
    public SharedRunState Beat(DateTimeOffset now, TimeSpan liveWithin, IReadOnlyCollection<RunningCost>? runningCosts = null)
    {
        using var db = _source.OpenConnection();
        if (runningCosts is { Count: > 0 })
        {
            // One primary-key update per open attempt (a worker has at most -j), sent as one batch.
            using var costs = new NpgsqlBatch(db);
            foreach (var c in runningCosts)
            {
                var update = new NpgsqlBatchCommand("UPDATE herd_attempts SET cost_usd = $4 WHERE run_id = $1 AND key = $2 AND n = $3 AND end_at IS NULL");
                foreach (var value in new object[] { RunId, c.Key, c.N, c.CostUsd })
                    update.Parameters.Add(new NpgsqlParameter { Value = value });
                costs.BatchCommands.Add(update);
            }
            costs.ExecuteNonQuery();
        }

        using (var presence = Cmd(db, null, """
            INSERT INTO herd_workers(worker, host, pid, heartbeat) VALUES ($1, $2, $3, $4)
            ON CONFLICT (worker) DO UPDATE SET heartbeat = EXCLUDED.heartbeat
            """, Owner, Environment.MachineName, Environment.ProcessId, Utc(now)))
            presence.ExecuteNonQuery();
        RenewLeases(db, now);
        // After renewing: a worker back from a short outage keeps its own tasks; only other, silent holders lose theirs.
        using (var reap = ReapCommand(db, now))
        using (var r = reap.ExecuteReader())
            ReadReap(r);
        // Reservations of workers that stopped beating go back to the run: a kill -9 does not shrink the budget for good.
        // Lock order everywhere: the run row, then reservation rows (TryReserve and Settle do the same), so no deadlock.
        using (var tx = db.BeginTransaction())
        {
            using (var stale = Cmd(db, tx, """
                SELECT 1 FROM herd_reservations r WHERE r.run_id = $1 AND r.reserved_usd > 0
                  AND NOT EXISTS (SELECT 1 FROM herd_workers w WHERE w.worker = r.worker AND w.heartbeat >= $2) LIMIT 1
                """, RunId, Utc(now - liveWithin)))
            {
                if (stale.ExecuteScalar() is not null)
                {
                    LockRun(db, tx);
                    using var reap = Cmd(db, tx, """
                        WITH gone AS (
                          DELETE FROM herd_reservations r WHERE r.run_id = $1
                            AND NOT EXISTS (SELECT 1 FROM herd_workers w WHERE w.worker = r.worker AND w.heartbeat >= $2)
                          RETURNING r.reserved_usd)
                        UPDATE herd_runs SET reserved_usd = GREATEST(0, reserved_usd - (SELECT COALESCE(SUM(reserved_usd), 0) FROM gone))
                        WHERE run_id = $1
                        """, RunId, Utc(now - liveWithin));
                    reap.ExecuteNonQuery();
                }
            }
            tx.Commit();
        }
        return ReadShared(db, now, liveWithin);
    }

    public async Task<SharedRunState> ReadSharedAsync(DateTimeOffset now, TimeSpan liveWithin, CancellationToken cancellationToken = default)
    {
        await using var db = await _source.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using var cmd = SharedCommand(db, now, liveWithin);
        await using var r = await cmd.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        return await r.ReadAsync(cancellationToken).ConfigureAwait(false) ? SharedOf(r) : throw NoSuchRun();
    }

    private SharedRunState ReadShared(NpgsqlConnection db, DateTimeOffset now, TimeSpan liveWithin)
    {
        using var cmd = SharedCommand(db, now, liveWithin);
        using var r = cmd.ExecuteReader();
        return r.Read() ? SharedOf(r) : throw NoSuchRun();
    }

    private NpgsqlCommand SharedCommand(NpgsqlConnection db, DateTimeOffset now, TimeSpan liveWithin) => Cmd(db, null, $"""
        SELECT r.status, r.total, {DoneSql}, {FailedSql}, r.rate_limit, r.pause_until, r.budget_usd,
          (SELECT COUNT(*) FROM herd_workers w WHERE w.heartbeat >= $2), r.exit_code
        FROM herd_runs r WHERE r.run_id = $1
        """, RunId, Utc(now - liveWithin));

    private SharedRunState SharedOf(NpgsqlDataReader r) => new(ParseStatus(r.GetString(0)), r.GetInt32(1), r.GetInt32(2), r.GetInt32(3),
        r.IsDBNull(4) ? null : r.GetInt32(4), r.IsDBNull(5) ? null : Time(r, 5), r.IsDBNull(6) ? null : r.GetDouble(6), (int)Math.Max(1, r.GetInt64(7)), r.IsDBNull(8) ? null : r.GetInt32(8));

    private Herd.Agent.HerdFatalException NoSuchRun() =>
        new($"Error: run '{RunId}' does not exist in {Database.Redacted}. `herd runs list --store URL` shows the runs.");

    /// <summary>Removes this worker's presence row (a clean exit); its reservations are settled by then.</summary>
    public async Task LeaveAsync(CancellationToken cancellationToken = default)
    {
        await using var db = await _source.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using var cmd = Cmd(db, null, "DELETE FROM herd_workers WHERE worker = $1", Owner);
        await cmd.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Reserves against the run's ceiling in ONE statement: the run row's UPDATE re-checks
    /// <c>spent + reserved + amount ≤ budget</c> on the latest row version under its row lock, so concurrent workers
    /// can never together cross the ceiling; the amount is also booked to this worker, so a dead worker's
    /// reservations can be returned (<see cref="Beat"/>).
    /// </summary>
    public bool TryReserve(double amountUsd)
    {
        using var db = _source.OpenConnection();
        using var cmd = Cmd(db, null, """
            WITH r AS (
              UPDATE herd_runs SET reserved_usd = reserved_usd + $3
              WHERE run_id = $1 AND (budget_usd IS NULL OR spent_usd + reserved_usd + $3 <= budget_usd)
              RETURNING 1)
            INSERT INTO herd_reservations(run_id, worker, reserved_usd) SELECT $1, $2, $3 FROM r
            ON CONFLICT (run_id, worker) DO UPDATE SET reserved_usd = herd_reservations.reserved_usd + EXCLUDED.reserved_usd
            RETURNING 1
            """, RunId, Owner, amountUsd);
        return cmd.ExecuteScalar() is not null;
    }

    /// <summary>Replaces a reservation by the actual cost. The run's reserved total drops only if this worker's reservation still existed (it was not reaped).</summary>
    public void Settle(double reservedUsd, double actualUsd)
    {
        using var db = _source.OpenConnection();
        using var tx = db.BeginTransaction();
        LockRun(db, tx);
        using (var cmd = Cmd(db, tx, """
            WITH w AS (
              UPDATE herd_reservations SET reserved_usd = GREATEST(0, reserved_usd - $3) WHERE run_id = $1 AND worker = $2 RETURNING 1)
            UPDATE herd_runs SET reserved_usd = CASE WHEN EXISTS (SELECT 1 FROM w) THEN GREATEST(0, reserved_usd - $3) ELSE reserved_usd END,
              spent_usd = spent_usd + $4
            WHERE run_id = $1
            """, RunId, Owner, reservedUsd, actualUsd))
            cmd.ExecuteNonQuery();
        tx.Commit();
    }

    /// <summary>Takes the run row's lock first, so every transaction that also touches reservation rows locks in one order.</summary>
    private void LockRun(NpgsqlConnection db, NpgsqlTransaction tx)
    {
        using var cmd = Cmd(db, tx, "SELECT 1 FROM herd_runs WHERE run_id = $1 FOR UPDATE", RunId);
        cmd.ExecuteNonQuery();
    }

    public Herd.Agent.Loop.ISpendAccount SpendAccount(TimeProvider? time = null) => new PostgresSpendAccount(this, time ?? _time);

    /// <summary>(spent, reserved, ceiling) of the run-wide ledger.</summary>
    public (double Spent, double Reserved, double? Ceiling) Ledger()
    {
        using var db = _source.OpenConnection();
        using var cmd = Cmd(db, null, "SELECT spent_usd, reserved_usd, budget_usd FROM herd_runs WHERE run_id = $1", RunId);
        using var r = cmd.ExecuteReader();
        r.Read();
        return (r.GetDouble(0), r.GetDouble(1), r.IsDBNull(2) ? null : r.GetDouble(2));
    }

    /// <summary>
    /// Shared AIMD (spec §6 across workers): back-pressure halves the run's limit — at most once per
    /// <paramref name="cooldown"/>, so ten workers hit by the same burst halve it once, not ten times — and a
    /// <c>retry-after</c> pauses every worker until then.
    /// </summary>
    public void OnBackPressure(DateTimeOffset now, int ceiling, DateTimeOffset? pauseUntil, TimeSpan cooldown)
    {
        using var db = _source.OpenConnection();
        using var cmd = Cmd(db, null, """
            UPDATE herd_runs SET
              rate_limit = CASE WHEN rate_changed IS NULL OR rate_changed < $3 THEN GREATEST(1, COALESCE(rate_limit, $4) / 2) ELSE rate_limit END,
              rate_changed = CASE WHEN rate_changed IS NULL OR rate_changed < $3 THEN $2 ELSE rate_changed END,
              pause_until = CASE WHEN $5::timestamptz IS NULL THEN pause_until ELSE GREATEST(COALESCE(pause_until, $5), $5) END
            WHERE run_id = $1
            """, RunId, Utc(now), Utc(now - cooldown), ceiling, pauseUntil is { } p ? Utc(p) : null);
        cmd.Parameters[4].NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.TimestampTz;
        cmd.ExecuteNonQuery();
    }

    /// <summary>Additive increase of the shared limit after a success, at most once per <paramref name="cooldown"/>.</summary>
    public async Task OnSuccessAsync(DateTimeOffset now, int ceiling, TimeSpan cooldown, CancellationToken cancellationToken = default)
    {
        await using var db = await _source.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using var cmd = Cmd(db, null, """
            UPDATE herd_runs SET rate_limit = LEAST($4, rate_limit + 1), rate_changed = $2
            WHERE run_id = $1 AND rate_limit IS NOT NULL AND rate_limit < $4 AND rate_changed < $3
            """, RunId, Utc(now), Utc(now - cooldown), ceiling);
        await cmd.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
    }
}
