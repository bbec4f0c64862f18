namespace Herd.Fleet.Store.Postgres;

/// <summary>The reports' streaming read (issue #23): one query, one task in memory at a time.</summary>
public sealed partial class PostgresRunStore
{
    /// <summary>Every final record in finishing order with its attempts, read as the rows arrive.</summary>
    public IEnumerable<(string Record, IReadOnlyList<AttemptRow> Attempts)> StreamFinal()
    {
        using var db = _source.OpenConnection();
        using var cmd = Cmd(db, null, """
            SELECT t.final_order, t.record, a.n, a.start, a.end_at, a.class, a.exitval, a.cost_usd, a.session_id, a.t_in, a.t_out, a.t_cr, a.t_cw5, a.t_cw1, a.slot
            FROM herd_records t LEFT JOIN herd_attempts a ON a.run_id = t.run_id AND a.key = t.key
            WHERE t.run_id = $1
            ORDER BY t.final_order, a.n
            """, RunId);
        using var r = cmd.ExecuteReader();
        string? record = null;
        long order = 0;
        var attempts = new List<AttemptRow>();
        while (r.Read())
        {
            var next = Convert.ToInt64(r.GetValue(0), System.Globalization.CultureInfo.InvariantCulture);
            if (record is null || next != order)
            {
                if (record is not null)
                    yield return (record, attempts);
                record = r.GetString(1);
                order = next;
                attempts = [];
            }
            if (!r.IsDBNull(2))
                attempts.Add(ReadAttempt(r, 2));
        }
        if (record is not null)
            yield return (record, attempts);
    }

    /// <summary>Every final record in finishing order, read as the rows arrive.</summary>
    public IEnumerable<string> StreamFinalRecords()
    {
        using var db = _source.OpenConnection();
        using var cmd = Cmd(db, null, "SELECT record FROM herd_records WHERE run_id = $1 ORDER BY final_order", RunId);
        using var r = cmd.ExecuteReader();
        while (r.Read())
            yield return r.GetString(0);
    }
}
