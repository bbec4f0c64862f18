using Herd.Fleet.Engines;
using Herd.Fleet.Jobs;
using Microsoft.Data.Sqlite;

namespace Herd.Fleet.Store;

/// <summary>The plan read back in pages (issue #23): the scheduler's feed, and counts instead of lists.</summary>
public sealed partial class SqliteRunStore : IPlanCursor
{
    private SqliteCommand? _nextUnfinished, _nextAttempted, _taskAttempts, _isFinished;

    public PlanCounts CountTasks()
    {
        lock (_gate)
        {
            int succeeded = 0, failed = 0;
            using (var cmd = Command("SELECT class, COUNT(*) FROM tasks WHERE state = 'done' GROUP BY class"))
            using (var r = cmd.ExecuteReader())
            {
                while (r.Read())
                {
                    if (ParseClass(r.GetString(0)).IsSuccess())
                        succeeded += r.GetInt32(1);
                    else
                        failed += r.GetInt32(1);
                }
            }
            using var count = Command("SELECT COUNT(*), COALESCE(SUM(state <> 'done'), 0), COALESCE(SUM(state <> 'done' AND attempts > 0), 0) FROM tasks");
            using var c = count.ExecuteReader();
            c.Read();
            return new PlanCounts(c.GetInt32(0), succeeded, failed, c.GetInt32(1), c.GetInt32(2));
        }
    }

    /// <remarks>
    /// The position is the row id: the order tasks were stored in, which is plan order (tasks a resume adds come after
    /// the stored ones). Walking the table by row id needs no index of its own, and a cursor that only moves forward
    /// reads each row once over the whole run. Only tasks attempted before read their attempts (retries used, classes
    /// seen, spend, the session to continue); a fresh plan costs one query per page.
    /// </remarks>
    public PlanPage NextUnfinished(long after, int limit, bool attemptedOnly)
    {
        lock (_gate)
        {
            var cmd = attemptedOnly
                ? Prepared(ref _nextAttempted, "SELECT rowid, key, seq, name, prompt, v, inputs, caps, retries, attempts FROM tasks WHERE rowid > $after AND state <> 'done' AND attempts > 0 ORDER BY rowid LIMIT $limit", null)
                : Prepared(ref _nextUnfinished, "SELECT rowid, key, seq, name, prompt, v, inputs, caps, retries, attempts FROM tasks WHERE rowid > $after AND state <> 'done' ORDER BY rowid LIMIT $limit", null);
            cmd.Parameters["$after"].Value = after;
            cmd.Parameters["$limit"].Value = limit;
            var page = new List<(FleetTask Task, int Retries, int Attempts)>(limit);
            var next = after;
            using (var r = cmd.ExecuteReader())
            {
                while (r.Read())
                {
                    next = r.GetInt64(0);
                    var task = new FleetTask(r.GetInt32(2), r.GetString(1), r.GetString(3), r.GetString(4),
                        StoreJson.ReadStrings(r.GetString(5)), StoreJson.ReadMap(r.GetString(6)), StoreJson.ReadCaps(r.GetString(7)));
                    page.Add((task, r.GetInt32(8), r.GetInt32(9)));
                }
            }
            var tasks = new StoredTask[page.Count];
            for (var i = 0; i < page.Count; i++)
            {
                var (task, retries, attempts) = page[i];
                tasks[i] = attempts == 0
                    ? new StoredTask(task, TaskState.Pending, null, retries, 0, NoClasses)
                    : WithHistory(task, retries, attempts);
            }
            return new PlanPage(tasks, next);
        }
    }

    /// <summary>Whether the task with <paramref name="key"/> is stored and has its final record (<c>herd merge</c>'s missing tasks).</summary>
    public bool IsFinished(string key)
    {
        lock (_gate)
        {
            var cmd = Prepared(ref _isFinished, "SELECT 1 FROM tasks WHERE key = $k AND state = 'done' AND record IS NOT NULL", null);
            cmd.Parameters["$k"].Value = key;
            return cmd.ExecuteScalar() is not null;
        }
    }

    private static readonly IReadOnlyDictionary<OutcomeClass, int> NoClasses = new Dictionary<OutcomeClass, int>();

    /// <summary>A task attempted before: its classes so far, what it spent, and the session its last attempt left cut off.</summary>
    private StoredTask WithHistory(FleetTask task, int retries, int attempts)
    {
        var cmd = Prepared(ref _taskAttempts, $"SELECT class, cost_usd, session_id FROM attempts WHERE {_layout.TaskColumn} = {_layout.TaskOfKey} ORDER BY n", null);
        cmd.Parameters["$k"].Value = task.Key;
        var classes = new Dictionary<OutcomeClass, int>();
        var spent = 0.0;
        string? cutOff = null;
        using var r = cmd.ExecuteReader();
        while (r.Read())
        {
            var cls = r.IsDBNull(0) ? (OutcomeClass?)null : ParseClass(r.GetString(0));
            if (cls is { } c)
                classes[c] = classes.GetValueOrDefault(c) + 1;
            spent += r.GetDouble(1);
            cutOff = cls is OutcomeClass.Interrupted or OutcomeClass.Cancelled ? r.GetString(2) : null;
        }
        return new StoredTask(task, TaskState.Pending, null, retries, attempts, classes, spent, cutOff);
    }
}
