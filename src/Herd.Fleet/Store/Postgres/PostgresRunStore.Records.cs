using System.Globalization;
using Herd.Agent;
using Herd.Agent.Models;
using Herd.Fleet.Engines;
using Herd.Fleet.Jobs;
using Npgsql;
using NpgsqlTypes;

namespace Herd.Fleet.Store.Postgres;

/// <summary>Records, attempts, spend and totals (<see cref="IRunReads"/>, <see cref="IRunState"/>): what the reports and the end of a run read.</summary>
public sealed partial class PostgresRunStore
{
    public IReadOnlyList<AttemptRow> Attempts(string key)
    {
        using var db = _source.OpenConnection();
        return Attempts(db, null, key);
    }

    private static readonly string AttemptColumns = StoreRows.AttemptColumns("a.", "end_at");

    private List<AttemptRow> Attempts(NpgsqlConnection db, NpgsqlTransaction? tx, string key)
    {
        using var cmd = Cmd(db, tx, $"SELECT {AttemptColumns} FROM herd_attempts a WHERE a.run_id = $1 AND a.key = $2 ORDER BY a.n", RunId, key);
        using var r = cmd.ExecuteReader();
        var list = new List<AttemptRow>();
        while (r.Read())
            list.Add(ReadAttempt(r, 0));
        return list;
    }

    /// <summary>One attempt row from the columns of <see cref="AttemptColumns"/>, starting at <paramref name="at"/>.</summary>
    private AttemptRow ReadAttempt(NpgsqlDataReader r, int at) => StoreRows.Attempt(r, at, (reader, i) => Time((NpgsqlDataReader)reader, i), ParseClass);

    public IReadOnlyList<string> FinalRecords()
    {
        using var db = _source.OpenConnection();
        using var cmd = Cmd(db, null, "SELECT record FROM herd_records WHERE run_id = $1 ORDER BY final_order", RunId);
        using var r = cmd.ExecuteReader();
        var list = new List<string>();
        while (r.Read())
            list.Add(r.GetString(0));
        return list;
    }

    /// <value>This process's view: what was spent when it opened plus what it committed since (workers elsewhere add to the database only).</value>
    public double SpentUsd
    {
        get
        {
            lock (_spentGate)
                return _spentUsd;
        }
    }

    public double TotalSpentUsd()
    {
        using var db = _source.OpenConnection();
        using var cmd = Cmd(db, null, "SELECT COALESCE(SUM(cost_usd), 0) FROM herd_attempts WHERE run_id = $1", RunId);
        return Convert.ToDouble(cmd.ExecuteScalar(), CultureInfo.InvariantCulture);
    }

    public RunTotals Totals()
    {
        using var db = _source.OpenConnection();
        var byClass = new SortedDictionary<OutcomeClass, int>();
        using (var cmd = Cmd(db, null, "SELECT class, COUNT(*) FROM herd_tasks WHERE run_id = $1 AND state = 'done' GROUP BY class", RunId))
        using (var r = cmd.ExecuteReader())
        {
            while (r.Read())
                byClass[ParseClass(r.GetString(0))] = (int)r.GetInt64(1);
        }
        long total, unfinished;
        using (var cmd = Cmd(db, null, "SELECT COUNT(*), COUNT(*) FILTER (WHERE state <> 'done') FROM herd_tasks WHERE run_id = $1", RunId))
        using (var r = cmd.ExecuteReader())
        {
            r.Read();
            (total, unfinished) = (r.GetInt64(0), r.GetInt64(1));
        }
        long attempts;
        double spent;
        Usage tokens;
        using (var cmd = Cmd(db, null, "SELECT COUNT(*), COALESCE(SUM(cost_usd), 0), COALESCE(SUM(t_in),0)::bigint, COALESCE(SUM(t_out),0)::bigint, COALESCE(SUM(t_cr),0)::bigint, COALESCE(SUM(t_cw5),0)::bigint, COALESCE(SUM(t_cw1),0)::bigint FROM herd_attempts WHERE run_id = $1", RunId))
        using (var r = cmd.ExecuteReader())
        {
            r.Read();
            attempts = r.GetInt64(0);
            spent = r.GetDouble(1);
            tokens = StoreRows.Usage(r, 2);
        }
        var runtimes = new Reports.Distribution();
        var costs = new Reports.Distribution();
        using (var cmd = Cmd(db, null, "SELECT runtime_s, cost_usd FROM herd_tasks WHERE run_id = $1 AND state = 'done'", RunId))
        using (var r = cmd.ExecuteReader())
        {
            while (r.Read())
            {
                runtimes.Add(r.IsDBNull(0) ? 0 : r.GetDouble(0));
                costs.Add(r.GetDouble(1));
            }
        }
        return new RunTotals((int)total, (int)unfinished, (int)attempts, byClass, spent, tokens, runtimes, costs);
    }
}
