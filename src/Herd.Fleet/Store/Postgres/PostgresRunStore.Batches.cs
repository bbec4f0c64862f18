using Herd.Fleet.Batches;

namespace Herd.Fleet.Store.Postgres;

/// <summary>
/// The rounds of a batch run in the shared store (migration 5). A request's claim is an insert that a second claimant
/// cannot repeat (<c>ON CONFLICT DO NOTHING</c> on the run's custom_id), so two workers never submit the same request.
/// </summary>
public sealed partial class PostgresRunStore : IBatchLedger
{
    public BatchSessionRow? LoadSession(string taskKey)
    {
        using var db = _source.OpenConnection();
        using var cmd = Cmd(db, null, "SELECT attempt_session, calls, retries, state FROM herd_batch_sessions WHERE run_id = $1 AND key = $2", RunId, taskKey);
        using var r = cmd.ExecuteReader();
        return r.Read() ? new BatchSessionRow(r.GetString(0), r.GetInt32(1), r.GetInt32(2), r.GetString(3)) : null;
    }

    public void SaveSession(string taskKey, BatchSessionRow row)
    {
        using var db = _source.OpenConnection();
        using var cmd = Cmd(db, null, "INSERT INTO herd_batch_sessions(run_id, key, attempt_session, calls, retries, state) VALUES ($1, $2, $3, $4, $5, $6) " +
            "ON CONFLICT (run_id, key) DO UPDATE SET attempt_session = $3, calls = $4, retries = $5, state = $6",
            RunId, taskKey, row.AttemptSession, row.Calls, row.Retries, row.StateJson);
        cmd.ExecuteNonQuery();
    }

    public void DeleteSession(string taskKey)
    {
        using var db = _source.OpenConnection();
        using var cmd = Cmd(db, null, "DELETE FROM herd_batch_sessions WHERE run_id = $1 AND key = $2", RunId, taskKey);
        cmd.ExecuteNonQuery();
    }

    public IReadOnlyDictionary<string, string?> ClaimRequests(int round, IReadOnlyList<(string CustomId, string TaskKey)> requests)
    {
        var claimed = new Dictionary<string, string?>(StringComparer.Ordinal);
        if (requests.Count == 0)
            return claimed;
        using var db = _source.OpenConnection();
        using var tx = db.BeginTransaction();
        var ids = requests.Select(r => r.CustomId).ToArray();
        // Those claimed before (by a process that died, or by another worker) are answered, not claimed again.
        using (var find = Cmd(db, tx, "SELECT custom_id, batch_id FROM herd_batch_requests WHERE run_id = $1 AND custom_id = ANY($2)", RunId, ids))
        using (var r = find.ExecuteReader())
        {
            while (r.Read())
                claimed[r.GetString(0)] = r.IsDBNull(1) ? null : r.GetString(1);
        }
        var fresh = requests.Where(r => !claimed.ContainsKey(r.CustomId)).ToArray();
        using (var insert = Cmd(db, tx, "INSERT INTO herd_batch_requests(run_id, custom_id, key, round) SELECT $1, c, k, $4 FROM unnest($2::text[], $3::text[]) AS u(c, k) " +
            "ON CONFLICT (run_id, custom_id) DO NOTHING RETURNING custom_id",
            RunId, fresh.Select(r => r.CustomId).ToArray(), fresh.Select(r => r.TaskKey).ToArray(), round))
        using (var r = insert.ExecuteReader())
        {
            var inserted = new HashSet<string>(StringComparer.Ordinal);
            while (r.Read())
                inserted.Add(r.GetString(0));
            // Claimed by another worker between the read and the insert: its batch id is not known yet; treat it as theirs.
            foreach (var lost in fresh.Where(f => !inserted.Contains(f.CustomId)))
                claimed[lost.CustomId] = null;
        }
        tx.Commit();
        return claimed;
    }

    public void RecordBatch(string batchId, int round, IReadOnlyList<string> customIds)
    {
        using var db = _source.OpenConnection();
        using var tx = db.BeginTransaction();
        using (var batch = Cmd(db, tx, "INSERT INTO herd_batches(run_id, batch_id, round, requests, state, processing, created) VALUES ($1, $2, $3, $4, 'in_progress', $4, $5)",
            RunId, batchId, round, customIds.Count, Utc(_time.GetUtcNow())))
            batch.ExecuteNonQuery();
        using (var update = Cmd(db, tx, "UPDATE herd_batch_requests SET batch_id = $2, round = $3 WHERE run_id = $1 AND custom_id = ANY($4)", RunId, batchId, round, customIds.ToArray()))
            update.ExecuteNonQuery();
        tx.Commit();
    }

    public void UpdateBatch(BatchRow row)
    {
        using var db = _source.OpenConnection();
        using var cmd = Cmd(db, null, "UPDATE herd_batches SET state = $3, processing = $4, succeeded = $5, errored = $6, canceled = $7, expired = $8 WHERE run_id = $1 AND batch_id = $2",
            RunId, row.BatchId, BatchStates.Name(row.State), row.Processing, row.Succeeded, row.Errored, row.Canceled, row.Expired);
        cmd.ExecuteNonQuery();
    }

    public IReadOnlyList<BatchRow> Batches()
    {
        using var db = _source.OpenConnection();
        using var cmd = Cmd(db, null, "SELECT batch_id, round, requests, state, processing, succeeded, errored, canceled, expired FROM herd_batches WHERE run_id = $1 ORDER BY created, round", RunId);
        using var r = cmd.ExecuteReader();
        var rows = new List<BatchRow>();
        while (r.Read())
        {
            rows.Add(new BatchRow(r.GetString(0), r.GetInt32(1), r.GetInt32(2), BatchStates.Parse(r.GetString(3)),
                r.GetInt32(4), r.GetInt32(5), r.GetInt32(6), r.GetInt32(7), r.GetInt32(8)));
        }
        return rows;
    }
}
