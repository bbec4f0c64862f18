namespace Herd.Fleet.Store.Postgres;

public sealed partial class PostgresRunStore : IAttemptSpans
{
    /// <summary>One aggregate over the run's attempts, computed by the server.</summary>
    public AttemptSpan? AttemptSpan()
    {
        using var db = _source.OpenConnection();
        using var cmd = Cmd(db, null, "SELECT MIN(start), MAX(end_at), COUNT(*) - COUNT(end_at) FROM herd_attempts WHERE run_id = $1", RunId);
        using var r = cmd.ExecuteReader();
        if (!r.Read() || r.IsDBNull(0))
            return null;
        return new AttemptSpan(Time(r, 0), r.IsDBNull(1) ? null : Time(r, 1), r.GetInt64(2) > 0);
    }
}
