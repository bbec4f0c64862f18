using Microsoft.Data.Sqlite;

namespace Herd.Fleet.Runs;

/// <summary>Whether a failure was a full disk, by error numbers (SQLITE_FULL, ENOSPC), never by message text.</summary>
public static class DiskFull
{
    public static bool Caused(Exception ex)
    {
        for (Exception? e = ex; e is not null; e = e.InnerException)
        {
            if (e is SqliteException { SqliteErrorCode: 13 } || (e is IOException && (e.HResult & 0xFFFF) == 28))
                return true;
        }
        return false;
    }
}
