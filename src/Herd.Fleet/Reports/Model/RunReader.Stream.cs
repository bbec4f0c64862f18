using System.Globalization;
using System.Text.Json;
using Herd.Fleet.Store;
using Microsoft.Data.Sqlite;

namespace Herd.Fleet.Reports;

/// <summary>The streaming half of the reader (issue #23): a run of any size, read one task at a time.</summary>
public static partial class RunReader
{
    /// <summary>
    /// Opens a run directory as a stream. With run.db, the records come from it in finishing order, each with its
    /// attempts, from one query that holds one task at a time. A directory with only results.ndjson (an exported run, a
    /// CI artifact) is read as <see cref="Read(string)"/> reads it: its later lines supersede earlier ones, which only a
    /// whole reading can tell.
    /// </summary>
    /// <exception cref="RunDirectoryException">The directory or its database is missing or damaged.</exception>
    public static RunStream Open(string directory)
    {
        var dir = Path.GetFullPath(directory);
        var db = Path.Combine(dir, "run.db");
        if (!File.Exists(db))
            return RunStream.Of(Read(dir));
        var stored = ReadDatabaseHeader(db);
        var summary = ReadSummary(Path.Combine(dir, "summary.json"));
        var definition = Runs.RunDefinition.ReadOrNull(stored.DefinitionJson);
        // The ceiling the run ended with (summary.json), else the one it was created with (a run that never ended).
        var header = new RunHeader(dir, stored.RunId, stored.Status, stored.ExitCode, stored.Cwd, stored.Planned, stored.Pauses,
            summary.Ceiling ?? definition?.BudgetUsd, summary.Wall, definition);
        return new RunStream(header, () => StreamDatabase(db));
    }

    /// <summary>
    /// Opens a run kept in a store (PostgreSQL) as a stream. <paramref name="open"/> opens a fresh instance of the store:
    /// one for the header, one for each pass over the records, each closed when its pass ends.
    /// </summary>
    /// <exception cref="RunDirectoryException">The store holds no such run.</exception>
    public static RunStream Open(Func<IRunStore> open, string directory)
    {
        var dir = Path.GetFullPath(directory);
        RunHeader header;
        using (var store = open())
        {
            var info = store.ReadRun() ?? throw new RunDirectoryException($"Error: run store {store.Location} holds no such run. `herd runs list --store URL` shows the runs.", damaged: false);
            var (status, exit) = store.ReadStatus();
            var summary = ReadSummary(Path.Combine(dir, "summary.json"));
            var definition = Runs.RunDefinition.ReadOrNull(info.DefinitionJson);
            header = new RunHeader(dir, info.RunId, StoreNames.Name(status), exit, info.Cwd, store.Totals().Tasks, [],
                summary.Ceiling ?? store.StoredCeilingUsd() ?? definition?.BudgetUsd, summary.Wall, definition);
        }
        return new RunStream(header, () => StreamStore(open));
    }

    private static IEnumerable<ReportTask> StreamStore(Func<IRunStore> open)
    {
        using var store = open();
        var i = 0;
        foreach (var (record, attempts) in store.StreamFinal())
        {
            i++;
            using var doc = ParseDocument(record, $"record {i} in {store.Location}", store.Location);
            var list = attempts.Select(a => new ReportAttempt(a.N, a.Slot, a.Start, a.End is { } e ? Max(a.Start, e) : null,
                a.Class is { } c ? Herd.Fleet.Engines.OutcomeClasses.Name(c) : null, a.CostUsd)).ToList();
            var task = ToTask(doc.RootElement, list.Count > 0 ? list : null);
            yield return task.StructuredOutput is { } so ? task with { StructuredOutput = so.Clone() } : task;
        }
    }

    private static IEnumerable<ReportTask> StreamDatabase(string path)
    {
        using var db = OpenDatabase(path);
        // The partial index tasks_final serves the order (final_order is set with the record), so SQLite sorts nothing;
        // the attempts join on their primary key. One task's rows are consecutive: they share its final_order.
        using var cmd = Command(db, $"""
            SELECT t.record, a.n, a.slot, a.start, a.end, a.class, a.cost_usd, t.final_order
            FROM tasks t LEFT JOIN attempts a ON {Guard(path, () => RunDbLayout.Of(db)).Join("a", "t")}
            WHERE t.final_order IS NOT NULL AND t.record IS NOT NULL
            ORDER BY t.final_order, a.n
            """);
        using var r = Guard(path, cmd.ExecuteReader);
        string? record = null;
        long order = 0;
        var attempts = new List<ReportAttempt>();
        var n = 0;
        while (Guard(path, r.Read))
        {
            var next = r.GetInt64(7);
            if (record is null || next != order)
            {
                if (record is not null)
                    yield return Task(++n, record, attempts, path);
                record = r.GetString(0);
                order = next;
                attempts = [];
            }
            if (!r.IsDBNull(1))
                attempts.Add(Attempt(path, r));
        }
        if (record is not null)
            yield return Task(++n, record, attempts, path);
    }

    private static ReportTask Task(int n, string record, List<ReportAttempt> attempts, string path)
    {
        using var doc = ParseDocument(record, $"record {n} in {path}", path);
        var task = ToTask(doc.RootElement, attempts.Count > 0 ? attempts : null);
        // The document goes back to its pool now: the caller gets the task with a copy of its structured output only.
        return task.StructuredOutput is { } so ? task with { StructuredOutput = so.Clone() } : task;
    }

    private static ReportAttempt Attempt(string path, SqliteDataReader r) => Guard(path, () =>
    {
        var start = Time(r.GetString(3));
        // An attempt refused at once can be stamped a millisecond before its start by another clock; never draw it backwards.
        DateTimeOffset? end = r.IsDBNull(4) ? null : Max(start, Time(r.GetString(4)));
        return new ReportAttempt(r.GetInt32(1), r.IsDBNull(2) ? null : r.GetInt32(2), start, end, r.IsDBNull(5) ? null : r.GetString(5), r.GetDouble(6));
    });

    private static JsonDocument ParseDocument(string json, string where, string path)
    {
        try
        {
            var doc = JsonDocument.Parse(json);
            if (doc.RootElement.ValueKind == JsonValueKind.Object)
                return doc;
            doc.Dispose();
            throw Damaged($"{where} is not a JSON object", path);
        }
        catch (JsonException)
        {
            throw Damaged($"{where} is not JSON", path);
        }
    }

    private static T Guard<T>(string path, Func<T> read)
    {
        try
        {
            return read();
        }
        catch (Exception e) when (e is SqliteException or FormatException or InvalidCastException)
        {
            throw new RunDirectoryException($"Error: {path} is not a readable run database ({FirstLine(e.Message)}). Restore the run directory from its artifact, or rerun it with `herd run --run-dir`.", damaged: true);
        }
    }

    private static SqliteConnection OpenDatabase(string path)
    {
        // A finished run has no -wal file: open it immutable, so reading creates no -wal/-shm beside it (a read-only
        // connection to a WAL database would, and could not remove them). A live run's WAL is read as it stands.
        var finished = !File.Exists(path + "-wal");
        var source = finished ? new Uri(path).AbsoluteUri + "?immutable=1" : path;
        var db = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = source, Mode = SqliteOpenMode.ReadOnly, Pooling = false, DefaultTimeout = 30 }.ToString());
        try
        {
            db.Open();
            return db;
        }
        catch (SqliteException e)
        {
            db.Dispose();
            throw new RunDirectoryException($"Error: {path} is not a readable run database ({FirstLine(e.Message)}). Restore the run directory from its artifact, or rerun it with `herd run --run-dir`.", damaged: true);
        }
    }

    private sealed record StoredHeader(string RunId, string Status, int? ExitCode, string Cwd, int Planned, List<ReportPause> Pauses, string? DefinitionJson = null);

    private static StoredHeader ReadDatabaseHeader(string path)
    {
        using var db = OpenDatabase(path);
        return Guard(path, () => ReadHeader(db, path));
    }

    private static StoredHeader ReadHeader(SqliteConnection db, string path)
    {
        string runId = Path.GetFileName(Path.GetDirectoryName(path)!), status = "unknown", cwd = Path.GetDirectoryName(path)!;
        int? exit = null;
        using (var cmd = Command(db, "SELECT run_id, status, exit_code, cwd FROM run WHERE id = 1"))
        using (var r = cmd.ExecuteReader())
        {
            if (r.Read())
            {
                runId = r.GetString(0);
                status = r.GetString(1);
                exit = r.IsDBNull(2) ? null : r.GetInt32(2);
                cwd = r.GetString(3);
            }
        }
        int planned;
        using (var cmd = Command(db, "SELECT COUNT(*) FROM tasks"))
            planned = Convert.ToInt32(cmd.ExecuteScalar(), CultureInfo.InvariantCulture);
        var pauses = new List<ReportPause>();
        // A pause event's detail is "<until ISO-8601> <reason>" (see docs/observability.md); runs that record none show none.
        using (var cmd = Command(db, "SELECT at, detail FROM events WHERE kind = 'pause' ORDER BY id"))
        using (var r = cmd.ExecuteReader())
        {
            while (r.Read())
            {
                var detail = r.IsDBNull(1) ? "" : r.GetString(1);
                var space = detail.IndexOf(' ', StringComparison.Ordinal);
                var until = space < 0 ? detail : detail[..space];
                if (DateTimeOffset.TryParse(until, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var end))
                    pauses.Add(new ReportPause(Time(r.GetString(0)), end, space < 0 ? "pause" : detail[(space + 1)..]));
            }
        }
        // The run's definition, as created (argv is for display only); a run.db written before definitions has no table.
        string? definition = null;
        bool hasDefinition;
        using (var cmd = Command(db, "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'definition'"))
            hasDefinition = Convert.ToInt64(cmd.ExecuteScalar(), CultureInfo.InvariantCulture) > 0;
        if (hasDefinition)
        {
            using var cmd = Command(db, "SELECT json FROM definition WHERE id = 1");
            definition = cmd.ExecuteScalar() as string;
        }
        return new StoredHeader(runId, status, exit, cwd, planned, pauses, definition);
    }
}
