using Microsoft.Data.Sqlite;

namespace Herd.Fleet.Store;

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
}
