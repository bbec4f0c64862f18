using System.Globalization;
using Herd.Fleet.Engines;

namespace Herd.Fleet.Store;

/// <summary>An attempt without an end in the store: what <c>herd runs watch</c> lists as running.</summary>
public sealed record OpenAttempt(string Key, string Task, int N, DateTimeOffset Start, double CostUsd);

/// <summary>A recent attempt that ended in a failure class (retried or final).</summary>
public sealed record FailedAttempt(string Key, string Task, int N, OutcomeClass Class, string? Error, DateTimeOffset End, bool Final);

/// <summary>What a watcher reads in one go: open attempts, recent failures and the finishing rate's raw counts.</summary>
public sealed record WatchData(
    IReadOnlyList<OpenAttempt> Running,
    IReadOnlyList<FailedAttempt> RecentFailures,
    int FinishedInWindow,
    DateTimeOffset? FirstStart,
    (DateTimeOffset Updated, string Json)? Live,
    DateTimeOffset? Heartbeat = null);

/// <summary>
/// The live part of the store (issue #12, <c>herd runs watch</c>): a one-row <c>live</c> table the run lifecycle
/// rewrites every second with what only the scheduler knows (limit L, pause-until, budget, projection, turns of each
/// running attempt), and the read-only queries a watcher in another process runs. Additive: older run databases have
/// no <c>live</c> table until a run resumes in them, and a watcher then shows what the other tables hold.
/// </summary>
public sealed partial class SqliteRunStore
{
    private const string LiveSchema = "CREATE TABLE IF NOT EXISTS live(id INTEGER PRIMARY KEY CHECK (id = 1), updated TEXT NOT NULL, snapshot TEXT NOT NULL);";

    public void WriteLive(DateTimeOffset now, string snapshotJson)
    {
        lock (_gate)
        {
            using var cmd = Command(LiveSchema + " INSERT INTO live(id, updated, snapshot) VALUES (1, $u, $s) ON CONFLICT(id) DO UPDATE SET updated = $u, snapshot = $s");
            cmd.Parameters.AddWithValue("$u", Iso(now));
            cmd.Parameters.AddWithValue("$s", snapshotJson);
            cmd.ExecuteNonQuery();
        }
    }

    /// <summary>One process writes a SQLite run, so its totals are as cheap to count while it runs as after.</summary>
    public RunTotals WatchTotals() => Totals();

    /// <param name="window">The span over which finished tasks are counted for the rate.</param>
    public WatchData ReadWatch(DateTimeOffset now, TimeSpan window, int failures = 5)
    {
        lock (_gate)
        {
            var running = new List<OpenAttempt>();
            using (var cmd = Command($"SELECT t.key, t.name, a.n, a.start, a.cost_usd FROM attempts a JOIN tasks t ON {_layout.Join("a", "t")} WHERE a.end IS NULL ORDER BY a.start"))
            using (var r = cmd.ExecuteReader())
            {
                while (r.Read())
                    running.Add(new OpenAttempt(r.GetString(0), r.GetString(1), r.GetInt32(2), Time(r.GetString(3)), r.GetDouble(4)));
            }
            var failed = new List<FailedAttempt>();
            using (var cmd = Command($"SELECT t.key, t.name, a.n, a.class, a.error, a.end, t.state = 'done' AND t.attempts = a.n FROM attempts a JOIN tasks t ON {_layout.Join("a", "t")} " +
                "WHERE a.end IS NOT NULL AND a.class IS NOT NULL AND a.class NOT IN ('success', 'success_degraded') ORDER BY a.end DESC LIMIT $n"))
            {
                cmd.Parameters.AddWithValue("$n", failures);
                using var r = cmd.ExecuteReader();
                while (r.Read())
                {
                    failed.Add(new FailedAttempt(r.GetString(0), r.GetString(1), r.GetInt32(2), ParseClass(r.GetString(3)), r.IsDBNull(4) ? null : r.GetString(4),
                        Time(r.GetString(5)), r.GetBoolean(6)));
                }
            }
            int finished;
            using (var cmd = Command($"SELECT COUNT(*) FROM tasks t JOIN attempts a ON {_layout.Join("a", "t")} AND a.n = t.attempts WHERE t.state = 'done' AND a.end >= $since"))
            {
                cmd.Parameters.AddWithValue("$since", Iso(now - window));
                finished = Convert.ToInt32(cmd.ExecuteScalar(), CultureInfo.InvariantCulture);
            }
            var first = Command("SELECT MIN(start) FROM attempts WHERE start >= $since");
            first.Parameters.AddWithValue("$since", Iso(now - window));
            var firstStart = first.ExecuteScalar() is string s ? Time(s) : (DateTimeOffset?)null;
            first.Dispose();
            (DateTimeOffset, string)? live = null;
            if (Scalar<long>("SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'live'") == 1)
            {
                using var cmd = Command("SELECT updated, snapshot FROM live WHERE id = 1");
                using var r = cmd.ExecuteReader();
                if (r.Read())
                    live = (Time(r.GetString(0)), r.GetString(1));
            }
            var beat = Command("SELECT heartbeat FROM lock WHERE id = 1");
            var heartbeat = beat.ExecuteScalar() is string hb ? Time(hb) : (DateTimeOffset?)null;
            beat.Dispose();
            return new WatchData(running, failed, finished, firstStart, live, heartbeat);
        }
    }

    private DateTimeOffset Time(string text) =>
        Parse(text, t => DateTimeOffset.Parse(t, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal));
}
