using Microsoft.Data.Sqlite;

namespace Herd.Fleet.Store;

/// <summary>
/// The two layouts a run.db may have, and the SQL that addresses a task's attempts in each (issue #23).
/// <para>
/// Since this layout, <c>attempts</c> is keyed by its task's row id, <c>(task, n)</c>, in a table without row ids: row ids
/// follow plan order, so attempts append near the end of one tree instead of scattering over an index on the random text
/// key (a hash), which outgrew the page cache and made every checkpoint write more distinct pages as the run grew.
/// <c>tasks</c> has its row id as <c>id</c>, and its key index <c>tasks_key</c> is built once after the plan is stored,
/// a sorted build, instead of one random insert per task.
/// </para>
/// <para>
/// A run.db written before (attempts keyed by <c>(key, n)</c>, tasks by <c>key</c>) keeps its layout: it is read and
/// resumed in place, through the same statements with the other fragments.
/// </para>
/// </summary>
internal sealed class RunDbLayout
{
    /// <summary>The layout a new run.db gets.</summary>
    public static readonly RunDbLayout ByTask = new(byTask: true);

    /// <summary>The layout of a run.db written before attempts were keyed by task row id.</summary>
    public static readonly RunDbLayout ByKey = new(byTask: false);

    private RunDbLayout(bool byTask)
    {
        AttemptsByTask = byTask;
        TaskColumn = byTask ? "task" : "key";
        TaskOfKey = byTask ? "(SELECT rowid FROM tasks WHERE key = $k)" : "$k";
    }

    public bool AttemptsByTask { get; }

    /// <summary>The column of <c>attempts</c> that names its task.</summary>
    public string TaskColumn { get; }

    /// <summary>The value of <see cref="TaskColumn"/> for the task whose key is the parameter <c>$k</c>.</summary>
    public string TaskOfKey { get; }

    /// <summary>The condition joining attempts <paramref name="a"/> to their task <paramref name="t"/>.</summary>
    public string Join(string a, string t) => AttemptsByTask ? $"{a}.task = {t}.rowid" : $"{a}.key = {t}.key";

    /// <summary>Reads the layout of an open run.db from its attempts table's columns.</summary>
    public static RunDbLayout Of(SqliteConnection db)
    {
        using var cmd = db.CreateCommand();
        cmd.CommandText = "SELECT COUNT(*) FROM pragma_table_info('attempts') WHERE name = 'task'";
        return Convert.ToInt64(cmd.ExecuteScalar(), System.Globalization.CultureInfo.InvariantCulture) > 0 ? ByTask : ByKey;
    }
}
