using System.Globalization;

namespace Herd.Fleet.Store;

public sealed partial class SqliteRunStore : IAttemptSpans
{
    /// <summary>One aggregate over the attempts (times are fixed-width ISO text, so MIN and MAX order them).</summary>
    public AttemptSpan? AttemptSpan()
    {
        lock (_gate)
        {
            using var cmd = Command("SELECT MIN(start), MAX(end), COUNT(*) - COUNT(end) FROM attempts");
            using var r = cmd.ExecuteReader();
            if (!r.Read() || r.IsDBNull(0))
                return null;
            static DateTimeOffset At(string iso) => DateTimeOffset.Parse(iso, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal);
            return new AttemptSpan(At(r.GetString(0)), r.IsDBNull(1) ? null : At(r.GetString(1)), r.GetInt64(2) > 0);
        }
    }
}
