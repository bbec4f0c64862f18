using Herd.Fleet.Engines;

namespace Herd.Fleet.Store.Postgres;

/// <summary>The plan read back in pages and counted (issue #23), as <see cref="SqliteRunStore"/> does.</summary>
public sealed partial class PostgresRunStore : IPlanCursor
{
    public PlanCounts CountTasks()
    {
        using var db = _source.OpenConnection();
        int succeeded = 0, failed = 0;
        using (var cmd = Cmd(db, null, "SELECT class, COUNT(*) FROM herd_tasks WHERE run_id = $1 AND state = 'done' GROUP BY class", RunId))
        using (var r = cmd.ExecuteReader())
        {
            while (r.Read())
            {
                if (ParseClass(r.GetString(0)).IsSuccess())
                    succeeded += (int)r.GetInt64(1);
                else
                    failed += (int)r.GetInt64(1);
            }
        }
        using var count = Cmd(db, null, """
            SELECT COUNT(*), COUNT(*) FILTER (WHERE state <> 'done'), COUNT(*) FILTER (WHERE state <> 'done' AND attempts > 0)
            FROM herd_tasks WHERE run_id = $1
            """, RunId);
        using var c = count.ExecuteReader();
        c.Read();
        return new PlanCounts((int)c.GetInt64(0), succeeded, failed, (int)c.GetInt64(1), (int)c.GetInt64(2));
    }

    /// <remarks>The position is the task's plan number (seq); its attempts are read only for tasks attempted before.</remarks>
    public PlanPage NextUnfinished(long after, int limit, bool attemptedOnly)
    {
        using var db = _source.OpenConnection();
        var page = new List<StoredTask>(limit);
        var next = after;
        using (var cmd = Cmd(db, null, $"""
            SELECT key, seq, name, prompt, v, inputs, caps, retries, attempts FROM herd_tasks
            WHERE run_id = $1 AND seq > $2 AND state <> 'done'{(attemptedOnly ? " AND attempts > 0" : "")} ORDER BY seq LIMIT $3
            """, RunId, (int)Math.Min(after, int.MaxValue), limit))
        using (var r = cmd.ExecuteReader())
        {
            while (r.Read())
            {
                var task = ReadTask(r, 0);
                next = task.Seq;
                page.Add(new StoredTask(task, TaskState.Pending, null, r.GetInt32(7), r.GetInt32(8), new Dictionary<OutcomeClass, int>()));
            }
        }
        var attempted = page.Where(t => t.Attempts > 0).Select(t => t.Task.Key).ToArray();
        if (attempted.Length == 0)
            return new PlanPage(page, next);
        var classes = new Dictionary<string, Dictionary<OutcomeClass, int>>(StringComparer.Ordinal);
        var spent = new Dictionary<string, double>(StringComparer.Ordinal);
        var cutOff = new Dictionary<string, string?>(StringComparer.Ordinal);
        using (var cmd = Cmd(db, null, "SELECT key, class, cost_usd, session_id FROM herd_attempts WHERE run_id = $1 AND key = ANY($2) ORDER BY key, n", RunId, attempted))
        using (var r = cmd.ExecuteReader())
        {
            while (r.Read())
            {
                var key = r.GetString(0);
                var cls = r.IsDBNull(1) ? (OutcomeClass?)null : ParseClass(r.GetString(1));
                if (!classes.TryGetValue(key, out var map))
                    classes[key] = map = [];
                if (cls is { } c)
                    map[c] = map.GetValueOrDefault(c) + 1;
                spent[key] = spent.GetValueOrDefault(key) + r.GetDouble(2);
                cutOff[key] = cls is OutcomeClass.Interrupted or OutcomeClass.Cancelled ? r.GetString(3) : null;
            }
        }
        return new PlanPage(page.Select(t => t.Attempts == 0 ? t : t with
        {
            ClassCounts = classes.GetValueOrDefault(t.Task.Key) ?? new Dictionary<OutcomeClass, int>(),
            SpentUsd = spent.GetValueOrDefault(t.Task.Key),
            ResumeSessionId = cutOff.GetValueOrDefault(t.Task.Key),
        }).ToArray(), next);
    }
}
