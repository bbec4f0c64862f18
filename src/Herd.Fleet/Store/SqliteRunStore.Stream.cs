using Herd.Fleet.Jobs;
using Microsoft.Data.Sqlite;

namespace Herd.Fleet.Store;

/// <summary>A stored task as <c>herd merge</c> copies it: the task, where it is, and its final record when it has one.</summary>
public sealed record TaskWithRecord(FleetTask Task, TaskState State, int Retries, string? Record);

/// <summary>Reads that stream (issue #23): a run of any size is read one row at a time.</summary>
public sealed partial class SqliteRunStore
{
    /// <summary>
    /// Every final record in finishing order, read as it is written out: a connection of its own (WAL lets it read
    /// beside the store's), so neither the store's lock nor a list of every record is held while the caller works.
    /// </summary>
    public IEnumerable<string> StreamFinalRecords()
    {
        using var db = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = DatabasePath, Mode = SqliteOpenMode.ReadOnly, Pooling = false, DefaultTimeout = 30 }.ToString());
        db.Open();
        using var cmd = db.CreateCommand();
        // final_order is set with the record: the partial index tasks_final gives the order without a sort.
        cmd.CommandText = "SELECT record FROM tasks WHERE final_order IS NOT NULL AND record IS NOT NULL ORDER BY final_order";
        using var r = cmd.ExecuteReader();
        while (r.Read())
            yield return r.GetString(0);
    }

    /// <summary>
    /// Every task, one at a time: the finished ones in the order they finished, then the rest in plan order (issue #23:
    /// <c>herd merge</c> of a run of any size). A connection of its own, as <see cref="StreamFinalRecords"/>.
    /// </summary>
    public IEnumerable<TaskWithRecord> StreamTasks()
    {
        using var db = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = DatabasePath, Mode = SqliteOpenMode.ReadOnly, Pooling = false, DefaultTimeout = 30 }.ToString());
        db.Open();
        const string Columns = "key, seq, name, prompt, v, inputs, caps, state, retries, record";
        // The finished by the partial index on final_order, the rest by row id (plan order): neither needs a sort.
        foreach (var sql in new[]
                 {
                     $"SELECT {Columns} FROM tasks WHERE final_order IS NOT NULL AND record IS NOT NULL ORDER BY final_order",
                     $"SELECT {Columns} FROM tasks WHERE final_order IS NULL OR record IS NULL ORDER BY rowid",
                 })
        {
            using var cmd = db.CreateCommand();
            cmd.CommandText = sql;
            using var r = cmd.ExecuteReader();
            while (r.Read())
                yield return new TaskWithRecord(StoreRows.Task(r, 0), Parse(r.GetString(7), StoreNames.ParseTaskState), r.GetInt32(8), r.IsDBNull(9) ? null : r.GetString(9));
        }
    }
}
