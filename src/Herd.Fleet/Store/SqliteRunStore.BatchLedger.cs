using System.Globalization;
using Herd.Fleet.Batches;

namespace Herd.Fleet.Store;

/// <summary>
/// The rounds of a batch run (<c>herd run --batch</c>) in run.db: three tables created on first use, so older run
/// databases open unchanged and gain them when a batch run works in them.
/// </summary>
public sealed partial class SqliteRunStore : IBatchLedger
{
    private const string BatchSchema = """
        CREATE TABLE IF NOT EXISTS batch_sessions(
          key TEXT PRIMARY KEY, attempt_session TEXT NOT NULL, calls INTEGER NOT NULL, retries INTEGER NOT NULL, state TEXT NOT NULL);
        CREATE TABLE IF NOT EXISTS batch_requests(
          custom_id TEXT PRIMARY KEY, key TEXT NOT NULL, round INTEGER NOT NULL, batch_id TEXT);
        CREATE TABLE IF NOT EXISTS batches(
          batch_id TEXT PRIMARY KEY, round INTEGER NOT NULL, requests INTEGER NOT NULL, state TEXT NOT NULL,
          processing INTEGER NOT NULL DEFAULT 0, succeeded INTEGER NOT NULL DEFAULT 0, errored INTEGER NOT NULL DEFAULT 0,
          canceled INTEGER NOT NULL DEFAULT 0, expired INTEGER NOT NULL DEFAULT 0, created TEXT NOT NULL);
        """;

    private bool _batchSchema;

    /// <summary>Caller holds <see cref="_gate"/>.</summary>
    private void EnsureBatchSchema()
    {
        if (_batchSchema)
            return;
        Exec(BatchSchema);
        _batchSchema = true;
    }

    public BatchSessionRow? LoadSession(string taskKey)
    {
        lock (_gate)
        {
            EnsureBatchSchema();
            using var cmd = Command("SELECT attempt_session, calls, retries, state FROM batch_sessions WHERE key = $k");
            cmd.Parameters.AddWithValue("$k", taskKey);
            using var r = cmd.ExecuteReader();
            return r.Read() ? new BatchSessionRow(r.GetString(0), r.GetInt32(1), r.GetInt32(2), r.GetString(3)) : null;
        }
    }

    public void SaveSession(string taskKey, BatchSessionRow row)
    {
        lock (_gate)
        {
            EnsureBatchSchema();
            using var cmd = Command("INSERT INTO batch_sessions(key, attempt_session, calls, retries, state) VALUES ($k, $a, $c, $r, $s) " +
                "ON CONFLICT(key) DO UPDATE SET attempt_session = $a, calls = $c, retries = $r, state = $s");
            cmd.Parameters.AddWithValue("$k", taskKey);
            cmd.Parameters.AddWithValue("$a", row.AttemptSession);
            cmd.Parameters.AddWithValue("$c", row.Calls);
            cmd.Parameters.AddWithValue("$r", row.Retries);
            cmd.Parameters.AddWithValue("$s", row.StateJson);
            cmd.ExecuteNonQuery();
        }
    }

    public void DeleteSession(string taskKey)
    {
        lock (_gate)
        {
            EnsureBatchSchema();
            using var cmd = Command("DELETE FROM batch_sessions WHERE key = $k");
            cmd.Parameters.AddWithValue("$k", taskKey);
            cmd.ExecuteNonQuery();
        }
    }

    public IReadOnlyDictionary<string, string?> ClaimRequests(int round, IReadOnlyList<(string CustomId, string TaskKey)> requests)
    {
        lock (_gate)
        {
            EnsureBatchSchema();
            var claimed = new Dictionary<string, string?>(StringComparer.Ordinal);
            using var tx = _db.BeginTransaction();
            using var find = Command("SELECT batch_id FROM batch_requests WHERE custom_id = $id", tx);
            var findId = find.Parameters.Add("$id", Microsoft.Data.Sqlite.SqliteType.Text);
            using var insert = Command("INSERT INTO batch_requests(custom_id, key, round) VALUES ($id, $k, $r)", tx);
            var insertId = insert.Parameters.Add("$id", Microsoft.Data.Sqlite.SqliteType.Text);
            var insertKey = insert.Parameters.Add("$k", Microsoft.Data.Sqlite.SqliteType.Text);
            insert.Parameters.AddWithValue("$r", round);
            foreach (var (customId, key) in requests)
            {
                findId.Value = customId;
                using (var r = find.ExecuteReader())
                {
                    if (r.Read())
                    {
                        claimed[customId] = r.IsDBNull(0) ? null : r.GetString(0);
                        continue;
                    }
                }
                insertId.Value = customId;
                insertKey.Value = key;
                insert.ExecuteNonQuery();
            }
            tx.Commit();
            return claimed;
        }
    }

    public void RecordBatch(string batchId, int round, IReadOnlyList<string> customIds)
    {
        lock (_gate)
        {
            EnsureBatchSchema();
            using var tx = _db.BeginTransaction();
            using (var batch = Command("INSERT INTO batches(batch_id, round, requests, state, processing, created) VALUES ($b, $r, $n, 'in_progress', $n, $c)", tx))
            {
                batch.Parameters.AddWithValue("$b", batchId);
                batch.Parameters.AddWithValue("$r", round);
                batch.Parameters.AddWithValue("$n", customIds.Count);
                batch.Parameters.AddWithValue("$c", Iso(_time.GetUtcNow()));
                batch.ExecuteNonQuery();
            }
            using var update = Command("UPDATE batch_requests SET batch_id = $b, round = $r WHERE custom_id = $id", tx);
            update.Parameters.AddWithValue("$b", batchId);
            update.Parameters.AddWithValue("$r", round);
            var id = update.Parameters.Add("$id", Microsoft.Data.Sqlite.SqliteType.Text);
            foreach (var customId in customIds)
            {
                id.Value = customId;
                update.ExecuteNonQuery();
            }
            tx.Commit();
        }
    }

    public void UpdateBatch(BatchRow row)
    {
        lock (_gate)
        {
            EnsureBatchSchema();
            using var cmd = Command("UPDATE batches SET state = $s, processing = $p, succeeded = $ok, errored = $e, canceled = $c, expired = $x WHERE batch_id = $b");
            cmd.Parameters.AddWithValue("$b", row.BatchId);
            cmd.Parameters.AddWithValue("$s", BatchStates.Name(row.State));
            cmd.Parameters.AddWithValue("$p", row.Processing);
            cmd.Parameters.AddWithValue("$ok", row.Succeeded);
            cmd.Parameters.AddWithValue("$e", row.Errored);
            cmd.Parameters.AddWithValue("$c", row.Canceled);
            cmd.Parameters.AddWithValue("$x", row.Expired);
            cmd.ExecuteNonQuery();
        }
    }

    public IReadOnlyList<BatchRow> Batches()
    {
        lock (_gate)
        {
            // A read-only open (herd runs watch) of a run that never batched has no such table and must not create one.
            if (Scalar<long>("SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'batches'") == 0)
                return [];
            using var cmd = Command("SELECT batch_id, round, requests, state, processing, succeeded, errored, canceled, expired FROM batches ORDER BY created, round");
            using var r = cmd.ExecuteReader();
            var rows = new List<BatchRow>();
            while (r.Read())
            {
                rows.Add(new BatchRow(r.GetString(0), r.GetInt32(1), r.GetInt32(2), Parse(r.GetString(3), BatchStates.Parse),
                    r.GetInt32(4), r.GetInt32(5), r.GetInt32(6), r.GetInt32(7), r.GetInt32(8)));
            }
            return rows;
        }
    }
}
