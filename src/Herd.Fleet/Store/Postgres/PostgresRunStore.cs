using System.Collections.Concurrent;
using System.Globalization;
using Herd.Agent;
using Herd.Agent.Models;
using Herd.Fleet.Engines;
using Herd.Fleet.Jobs;
using Npgsql;
using NpgsqlTypes;

namespace Herd.Fleet.Store.Postgres;

/// <summary>
/// The shared run store (issue #14): one PostgreSQL database holds many runs, each task a row that any number of
/// <c>herd worker</c> processes claim with leases (<see cref="Claim"/>). It implements the same <see cref="IRunStore"/>
/// contract as <see cref="SqliteRunStore"/> (one store instance is bound to one run id), so <c>herd run --store</c>
/// runs the ordinary lifecycle against it; every transition is one committed transaction, as in SQLite.
/// </summary>
/// <remarks>
/// <para>
/// Time: lease deadlines are computed from the injected <see cref="TimeProvider"/> of the process that writes them, so
/// tests drive lease expiry with a fake clock; across machines this assumes clocks agree to well under a lease (NTP).
/// </para>
/// <para>
/// Fencing: every claim (and every <see cref="StartAttempt"/>) increments the task's <c>lease_epoch</c>; an attempt's
/// end is written only while the task still carries the epoch it was started with. A worker presumed dead whose lease
/// was taken over therefore cannot write a late result: its commit matches no row and is rolled back.
/// </para>
/// </remarks>
public sealed partial class PostgresRunStore : IRunStore, IPlanWriter
{
    private readonly NpgsqlDataSource _source;
    private readonly TimeProvider _time;
    /// <summary>The tasks this instance holds a lease on (claimed or started here, not yet ended), with the epoch their end must present.</summary>
    private readonly ConcurrentDictionary<string, long> _epochs = new(StringComparer.Ordinal);
    private readonly Lock _spentGate = new();
    private double _spentUsd;

    private PostgresRunStore(NpgsqlDataSource source, PgLocation location, string runId, TimeProvider time, string owner)
    {
        _source = source;
        Database = location;
        RunId = runId;
        _time = time;
        Owner = owner;
    }

    public PgLocation Database { get; }

    public string RunId { get; }

    /// <summary>Who holds the leases this instance takes: unique per process and instance (host:pid:random).</summary>
    public string Owner { get; }

    public string Location => $"{Database.Redacted} (run {RunId})";

    /// <value>How long a lease taken by <see cref="StartAttempt"/> or <see cref="Claim"/> lasts unless renewed.</value>
    public TimeSpan LeaseDuration { get; private init; } = TimeSpan.FromSeconds(30);

    /// <summary>Connects, migrates the schema to the latest version and binds to <paramref name="runId"/> (which may not exist yet).</summary>
    /// <exception cref="HerdFatalException">The server cannot be reached or refuses the login, or the schema is newer than this herd.</exception>
    /// <param name="lease">How long a lease lasts unless renewed; default 30 s.</param>
    public static PostgresRunStore Open(PgLocation location, string runId, TimeProvider? time = null, TimeSpan? lease = null)
    {
        var source = NpgsqlDataSource.Create(location.ConnectionString);
        try
        {
            using (var db = source.OpenConnection())
                PgSchema.Migrate(db, location.Redacted);
            var owner = $"{Environment.MachineName}:{Environment.ProcessId}:{Convert.ToHexStringLower(Guid.NewGuid().ToByteArray().AsSpan(0, 4))}";
            var store = new PostgresRunStore(source, location, runId, time ?? TimeProvider.System, owner) { LeaseDuration = lease ?? TimeSpan.FromSeconds(30) };
            store._spentUsd = store.TotalSpentUsd();
            return store;
        }
        catch (Exception ex) when (ex is NpgsqlException or TimeoutException)
        {
            source.Dispose();
            throw Explain(ex, location);
        }
        catch
        {
            source.Dispose();
            throw;
        }
    }

    /// <summary>One line for a PostgreSQL failure: what happened and what to do; never the password.</summary>
    public static HerdFatalException Explain(Exception ex, PgLocation location) => ex switch
    {
        PostgresException { SqlState: PostgresErrorCodes.InvalidPassword or PostgresErrorCodes.InvalidAuthorizationSpecification } =>
            new HerdFatalException($"Error: run store {location.Redacted} refused the login. Check the user and password in --store / HERD_STORE.", ex),
        PostgresException { SqlState: PostgresErrorCodes.InvalidCatalogName } =>
            new HerdFatalException($"Error: run store {location.Redacted}: the database does not exist. Create it (createdb) or fix --store.", ex),
        PostgresException pg => new HerdFatalException($"Error: run store {location.Redacted}: {pg.MessageText.TrimEnd('.')} ({pg.SqlState}).", ex),
        _ => new HerdFatalException($"Error: cannot reach run store {location.Redacted} ({ex.Message.TrimEnd('.')}). Check that PostgreSQL is running and --store is right.", ex),
    };

    public HerdFatalException Explain(Exception ex) => Explain(ex, Database);

    public void Dispose() => _source.Dispose();

    // ---- run row -------------------------------------------------------------------------------------------------

    public RunInfo? ReadRun()
    {
        using var db = _source.OpenConnection();
        using var cmd = Cmd(db, null, "SELECT run_id, created, argv, cwd, engine, engine_version, definition FROM herd_runs WHERE run_id = $1", RunId);
        using var r = cmd.ExecuteReader();
        if (!r.Read())
            return null;
        return new RunInfo(r.GetString(0), Time(r, 1), r.GetString(2), r.GetString(3), r.GetString(4), r.GetString(5), r.IsDBNull(6) ? null : r.GetString(6));
    }

    public void WriteDefinition(string json)
    {
        using var db = _source.OpenConnection();
        using var cmd = Cmd(db, null, "UPDATE herd_runs SET definition = $2 WHERE run_id = $1", RunId, json);
        cmd.ExecuteNonQuery();
    }

    public void CreateRun(RunInfo info, IReadOnlyList<FleetTask> plan) => CreateRunFrom(info, plan);

    public void CreateRunFrom(RunInfo info, IEnumerable<FleetTask> plan)
    {
        if (info.RunId != RunId)
            throw new ArgumentException($"run id '{info.RunId}' is not the store's '{RunId}'", nameof(info));
        using var db = _source.OpenConnection();
        using var tx = db.BeginTransaction();
        using (var cmd = Cmd(db, tx, "INSERT INTO herd_runs(run_id, created, argv, cwd, engine, engine_version, definition) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            info.RunId, Utc(info.Created), info.ArgvJson, info.Cwd, info.Engine, info.EngineVersion, (object?)info.DefinitionJson ?? DBNull.Value))
        {
            try
            {
                cmd.ExecuteNonQuery();
            }
            catch (PostgresException ex) when (ex.SqlState == PostgresErrorCodes.UniqueViolation)
            {
                throw new HerdUsageException($"Error: run '{RunId}' already exists in {Database.Redacted}. Continue it with --resume, or pick another run id (--run-dir).");
            }
        }
        // The plan lands in the same transaction as the run row: a run exists with every task, or not at all.
        InsertTasks(db, tx, plan);
        tx.Commit();
    }

    public int AddTasks(IReadOnlyList<FleetTask> tasks) => AddTasksFrom(tasks);

    public int AddTasksFrom(IEnumerable<FleetTask> tasks)
    {
        using var db = _source.OpenConnection();
        using var tx = db.BeginTransaction();
        var added = InsertTasks(db, tx, tasks);
        tx.Commit();
        return added;
    }

    /// <summary>
    /// The plan in bulk: COPY (binary) into a temporary staging table, then one INSERT … ON CONFLICT DO NOTHING, so a
    /// million-task plan is one stream rather than a million statements, and tasks already stored (by key) are kept.
    /// </summary>
    private int InsertTasks(NpgsqlConnection db, NpgsqlTransaction tx, IEnumerable<FleetTask> tasks)
    {
        using (var stage = Cmd(db, tx, "CREATE TEMP TABLE herd_stage(key text, seq integer, name text, prompt text, v text, inputs text, caps text) ON COMMIT DROP"))
            stage.ExecuteNonQuery();
        using (var copy = db.BeginBinaryImport("COPY herd_stage(key, seq, name, prompt, v, inputs, caps) FROM STDIN (FORMAT BINARY)"))
        {
            foreach (var t in tasks)
            {
                copy.StartRow();
                copy.Write(t.Key, NpgsqlDbType.Text);
                copy.Write(t.Seq, NpgsqlDbType.Integer);
                copy.Write(t.Name, NpgsqlDbType.Text);
                copy.Write(t.Prompt, NpgsqlDbType.Text);
                copy.Write(StoreJson.Strings(t.Values), NpgsqlDbType.Text);
                copy.Write(StoreJson.Map(t.Named), NpgsqlDbType.Text);
                copy.Write(StoreJson.Caps(t.Caps), NpgsqlDbType.Text);
            }
            copy.Complete();
        }
        var runId = RunId;
        int added;
        using (var insert = Cmd(db, tx, "INSERT INTO herd_tasks(run_id, key, seq, name, prompt, v, inputs, caps) SELECT $1, key, seq, name, prompt, v, inputs, caps FROM herd_stage ON CONFLICT DO NOTHING", runId))
            added = insert.ExecuteNonQuery();
        using (var total = Cmd(db, tx, "UPDATE herd_runs SET total = total + $2 WHERE run_id = $1", runId, added))
            total.ExecuteNonQuery();
        return added;
    }

    public void SetStatus(RunStatus status, int? exitCode)
    {
        using var db = _source.OpenConnection();
        using var cmd = Cmd(db, null, "UPDATE herd_runs SET status = $2, exit_code = $3, updated = $4 WHERE run_id = $1", RunId, status.Name(), exitCode, Utc(_time.GetUtcNow()));
        cmd.ExecuteNonQuery();
    }

    public (RunStatus Status, int? ExitCode) ReadStatus()
    {
        using var db = _source.OpenConnection();
        using var cmd = Cmd(db, null, "SELECT status, exit_code FROM herd_runs WHERE run_id = $1", RunId);
        using var r = cmd.ExecuteReader();
        if (!r.Read())
            throw new HerdFatalException($"Error: run store {Location} has no such run. `herd runs list --store URL` shows the runs.");
        return (ParseStatus(r.GetString(0)), r.IsDBNull(1) ? null : r.GetInt32(1));
    }

    // ---- run lock: one orchestrator (herd run) per run; workers use task leases instead -------------------------

    public void AcquireLock(int pid, string host, DateTimeOffset now, TimeSpan staleAfter, Func<int, bool> isAlive)
    {
        using var db = _source.OpenConnection();
        using var tx = db.BeginTransaction();
        string? previous = null;
        using (var read = Cmd(db, tx, "SELECT pid, host, heartbeat, owner FROM herd_locks WHERE run_id = $1 FOR UPDATE", RunId))
        using (var r = read.ExecuteReader())
        {
            if (r.Read())
            {
                var (holderPid, holderHost, beat, owner) = (r.GetInt32(0), r.GetString(1), Time(r, 2), r.GetString(3));
                previous = owner;
                var fresh = now - beat < staleAfter;
                var alive = holderHost != host || (holderPid != pid && isAlive(holderPid));
                if (fresh && alive && owner != Owner)
                    throw new HerdFatalException($"Error: run '{RunId}' in {Database.Redacted} is in use by pid {holderPid} on {holderHost} (heartbeat {Math.Round((now - beat).TotalSeconds)} s ago). Wait for it to finish, or stop it; the lock goes stale {staleAfter.TotalSeconds:0} s after its last heartbeat.");
            }
        }
        // The previous orchestrator is gone (its lock was stale or its process dead): its leases are ours to recover,
        // so RecoverInterrupted requeues its open attempts at once instead of after their leases run out.
        if (previous is not null && previous != Owner)
        {
            using var inherit = Cmd(db, tx, "UPDATE herd_tasks SET lease_owner = $3 WHERE run_id = $1 AND lease_owner = $2", RunId, previous, Owner);
            inherit.ExecuteNonQuery();
        }
        using (var leased = Cmd(db, tx, "SELECT COUNT(*) FROM herd_tasks WHERE run_id = $1 AND state = 'running' AND lease_until >= $2 AND lease_owner <> $3", RunId, Utc(now), Owner))
        {
            if (Convert.ToInt64(leased.ExecuteScalar(), CultureInfo.InvariantCulture) > 0)
                throw new HerdFatalException($"Error: run '{RunId}' is being worked by `herd worker` processes (tasks under live leases). Let them finish it, or stop them before herd run takes it over.");
        }
        using (var write = Cmd(db, tx, """
            INSERT INTO herd_locks(run_id, pid, host, owner, heartbeat) VALUES ($1, $2, $3, $4, $5)
            ON CONFLICT (run_id) DO UPDATE SET pid = EXCLUDED.pid, host = EXCLUDED.host, owner = EXCLUDED.owner, heartbeat = EXCLUDED.heartbeat
            """, RunId, pid, host, Owner, Utc(now)))
            write.ExecuteNonQuery();
        tx.Commit();
    }

    /// <summary>Renews the run lock and every lease this instance holds (the orchestrator's running attempts).</summary>
    public void Heartbeat(DateTimeOffset now)
    {
        using var db = _source.OpenConnection();
        using (var beat = Cmd(db, null, "UPDATE herd_locks SET heartbeat = $2 WHERE run_id = $1 AND owner = $3", RunId, Utc(now), Owner))
            beat.ExecuteNonQuery();
        RenewLeases(db, now);
    }

    public void ReleaseLock()
    {
        using var db = _source.OpenConnection();
        using var cmd = Cmd(db, null, "DELETE FROM herd_locks WHERE run_id = $1 AND owner = $2", RunId, Owner);
        cmd.ExecuteNonQuery();
    }

    // ---- tasks ---------------------------------------------------------------------------------------------------

    public IReadOnlyList<StoredTask> LoadTasks()
    {
        using var db = _source.OpenConnection();
        var counts = new Dictionary<string, Dictionary<OutcomeClass, int>>(StringComparer.Ordinal);
        using (var cmd = Cmd(db, null, "SELECT key, class, COUNT(*) FROM herd_attempts WHERE run_id = $1 AND class IS NOT NULL GROUP BY key, class", RunId))
        using (var r = cmd.ExecuteReader())
        {
            while (r.Read())
            {
                if (!counts.TryGetValue(r.GetString(0), out var map))
                    counts[r.GetString(0)] = map = [];
                map[ParseClass(r.GetString(1))] = (int)r.GetInt64(2);
            }
        }
        var spent = new Dictionary<string, double>(StringComparer.Ordinal);
        using (var cmd = Cmd(db, null, "SELECT key, SUM(cost_usd) FROM herd_attempts WHERE run_id = $1 GROUP BY key", RunId))
        using (var r = cmd.ExecuteReader())
        {
            while (r.Read())
                spent[r.GetString(0)] = r.GetDouble(1);
        }
        var list = new List<StoredTask>();
        using (var cmd = Cmd(db, null, "SELECT key, seq, name, prompt, v, inputs, caps, state, class, retries, attempts FROM herd_tasks WHERE run_id = $1 ORDER BY seq", RunId))
        using (var r = cmd.ExecuteReader())
        {
            while (r.Read())
            {
                var task = ReadTask(r, 0);
                list.Add(new StoredTask(task, ParseState(r.GetString(7)), r.IsDBNull(8) ? null : ParseClass(r.GetString(8)), r.GetInt32(9), r.GetInt32(10),
                    counts.TryGetValue(task.Key, out var c) ? c : new Dictionary<OutcomeClass, int>(), spent.GetValueOrDefault(task.Key)));
            }
        }
        return list;
    }

    /// <summary>
    /// Spec §7.1 for the orchestrator: open attempts become <c>interrupted</c> and their tasks pending, without a retry
    /// used. Tasks under a live lease of another process (a worker) are left alone; their lease decides.
    /// </summary>
    public int RecoverInterrupted(DateTimeOffset now)
    {
        using var db = _source.OpenConnection();
        using var tx = db.BeginTransaction();
        int n;
        using (var cmd = Cmd(db, tx, """
            UPDATE herd_attempts a SET end_at = $2, class = 'interrupted', exitval = -1
            FROM herd_tasks t WHERE a.run_id = $1 AND a.end_at IS NULL AND t.run_id = a.run_id AND t.key = a.key
              AND (t.lease_until IS NULL OR t.lease_until < $2 OR t.lease_owner = $3)
            """, RunId, Utc(now), Owner))
            n = cmd.ExecuteNonQuery();
        using (var cmd = Cmd(db, tx, """
            UPDATE herd_tasks SET state = 'pending', lease_owner = NULL, lease_until = NULL
            WHERE run_id = $1 AND state = 'running' AND (lease_until IS NULL OR lease_until < $2 OR lease_owner = $3)
            """, RunId, Utc(now), Owner))
            cmd.ExecuteNonQuery();
        tx.Commit();
        return n;
    }

    public int Requeue(Func<OutcomeClass, bool> classMatches)
    {
        using var db = _source.OpenConnection();
        var keys = new List<(string Key, bool Failed)>();
        using (var cmd = Cmd(db, null, "SELECT key, class FROM herd_tasks WHERE run_id = $1 AND state = 'done'", RunId))
        using (var r = cmd.ExecuteReader())
        {
            while (r.Read())
            {
                var cls = ParseClass(r.GetString(1));
                if (classMatches(cls))
                    keys.Add((r.GetString(0), !cls.IsSuccess()));
            }
        }
        using var tx = db.BeginTransaction();
        using (var up = Cmd(db, tx, "UPDATE herd_tasks SET state = 'pending', class = NULL, record = NULL, final_order = NULL, retries = 0 WHERE run_id = $1 AND key = ANY($2) AND state = 'done'", RunId, keys.Select(k => k.Key).ToArray()))
            up.ExecuteNonQuery();
        using (var counters = Cmd(db, tx, "UPDATE herd_runs SET done = done - $2, failed = failed - $3, status = 'running' WHERE run_id = $1", RunId, keys.Count, keys.Count(k => k.Failed)))
            counters.ExecuteNonQuery();
        tx.Commit();
        return keys.Count;
    }

    // ---- attempts (the orchestrator's path; workers use Claim / Release / Complete) --------------------------------

    /// <summary>The orchestrator's start: the task is leased to this instance (renewed by <see cref="Heartbeat"/>), so workers leave it alone.</summary>
    public void StartAttempt(string key, int n, int slot, DateTimeOffset start, string sessionId)
    {
        using var db = _source.OpenConnection();
        using var tx = db.BeginTransaction();
        long epoch;
        using (var mark = Cmd(db, tx, """
            UPDATE herd_tasks SET state = 'running', attempts = $3, lease_epoch = lease_epoch + 1, lease_owner = $4, lease_until = $5
            WHERE run_id = $1 AND key = $2 RETURNING lease_epoch
            """, RunId, key, n, Owner, Utc(start + LeaseDuration)))
            epoch = Convert.ToInt64(mark.ExecuteScalar(), CultureInfo.InvariantCulture);
        using (var insert = Cmd(db, tx, """
            INSERT INTO herd_attempts(run_id, key, n, slot, start, session_id, epoch, worker) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
            ON CONFLICT (run_id, key, n) DO UPDATE SET slot = EXCLUDED.slot, start = EXCLUDED.start, session_id = EXCLUDED.session_id, epoch = EXCLUDED.epoch, worker = EXCLUDED.worker, end_at = NULL
            """, RunId, key, n, slot, Utc(start), sessionId, epoch, Owner))
            insert.ExecuteNonQuery();
        tx.Commit();
        _epochs[key] = epoch;
    }

    public void AddAttemptCost(string key, int n, double costUsd)
    {
        using var db = _source.OpenConnection();
        using var cmd = Cmd(db, null, "UPDATE herd_attempts SET cost_usd = cost_usd + $4 WHERE run_id = $1 AND key = $2 AND n = $3 AND end_at IS NULL", RunId, key, n, costUsd);
        cmd.ExecuteNonQuery();
    }

    /// <exception cref="HerdFatalException">This instance lost the task's lease (its heartbeats stopped long enough for a worker to take it over).</exception>
    public string? FinishAttempt(string key, int n, TaskOutcome outcome, bool usedRetry, Func<IReadOnlyList<AttemptRow>, string>? buildRecord)
    {
        var epoch = _epochs.TryGetValue(key, out var e) ? e : throw new InvalidOperationException($"no attempt of {key} was started here");
        var lease = new TaskLease(key, n, epoch);
        string? record = null;
        var accepted = buildRecord is null ? Release(lease, outcome, usedRetry, notBefore: null) : (record = Complete(lease, outcome, buildRecord).Record) is not null;
        if (!accepted)
            throw new HerdFatalException($"Error: run '{RunId}': the lease on task {key[..12]} was lost (no heartbeat for {LeaseDuration.TotalSeconds:0} s) and another process took it over; this result was discarded. Continue with --resume.");
        _epochs.TryRemove(key, out _);
        return record;
    }

    public IReadOnlyList<AttemptRow> Attempts(string key)
    {
        using var db = _source.OpenConnection();
        return Attempts(db, null, key);
    }

    private const string AttemptColumns = "a.n, a.start, a.end_at, a.class, a.exitval, a.cost_usd, a.session_id, a.t_in, a.t_out, a.t_cr, a.t_cw5, a.t_cw1, a.slot";

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
    private AttemptRow ReadAttempt(NpgsqlDataReader r, int at) => new(
        r.GetInt32(at), Time(r, at + 1), r.IsDBNull(at + 2) ? null : Time(r, at + 2), r.IsDBNull(at + 3) ? null : ParseClass(r.GetString(at + 3)),
        r.IsDBNull(at + 4) ? null : r.GetInt32(at + 4), r.GetDouble(at + 5), r.GetString(at + 6),
        new Usage(InputTokens: r.GetInt64(at + 7), OutputTokens: r.GetInt64(at + 8), CacheReadInputTokens: r.GetInt64(at + 9),
            CacheCreation5mTokens: r.GetInt64(at + 10), CacheCreation1hTokens: r.GetInt64(at + 11), CacheCreationInputTokens: r.GetInt64(at + 10) + r.GetInt64(at + 11)),
        r.IsDBNull(at + 12) ? null : r.GetInt32(at + 12));

    public IReadOnlyList<string> FinalRecords()
    {
        using var db = _source.OpenConnection();
        using var cmd = Cmd(db, null, "SELECT record FROM herd_tasks WHERE run_id = $1 AND final_order IS NOT NULL ORDER BY final_order", RunId);
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
            tokens = new Usage(InputTokens: r.GetInt64(2), OutputTokens: r.GetInt64(3), CacheReadInputTokens: r.GetInt64(4),
                CacheCreation5mTokens: r.GetInt64(5), CacheCreation1hTokens: r.GetInt64(6), CacheCreationInputTokens: r.GetInt64(5) + r.GetInt64(6));
        }
        var runtimes = new List<double>();
        var costs = new List<double>();
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

    // ---- helpers -------------------------------------------------------------------------------------------------

    /// <summary>A command with positional parameters <c>$1…</c>; null becomes SQL NULL.</summary>
    private static NpgsqlCommand Cmd(NpgsqlConnection db, NpgsqlTransaction? tx, string sql, params object?[] args)
    {
        var cmd = new NpgsqlCommand(sql, db, tx);
        foreach (var a in args)
            cmd.Parameters.Add(new NpgsqlParameter { Value = a ?? DBNull.Value }); // a typeless NULL: the server infers its type
        return cmd;
    }

    private static DateTime Utc(DateTimeOffset t) => t.UtcDateTime;

    private static DateTimeOffset Time(NpgsqlDataReader r, int i) => new(DateTime.SpecifyKind(r.GetDateTime(i), DateTimeKind.Utc));

    private static FleetTask ReadTask(NpgsqlDataReader r, int at) =>
        new(r.GetInt32(at + 1), r.GetString(at), r.GetString(at + 2), r.GetString(at + 3),
            StoreJson.ReadStrings(r.GetString(at + 4)), StoreJson.ReadMap(r.GetString(at + 5)), StoreJson.ReadCaps(r.GetString(at + 6)));

    private OutcomeClass ParseClass(string text) =>
        OutcomeClasses.Parse(text) ?? throw new HerdFatalException($"Error: run store {Location} holds an unknown outcome class '{text}'; it was written by another version of herd or is damaged.");

    private TaskState ParseState(string text)
    {
        try
        {
            return StoreNames.ParseTaskState(text);
        }
        catch (FormatException ex)
        {
            throw new HerdFatalException($"Error: run store {Location} holds {ex.Message}; it was written by another version of herd or is damaged.");
        }
    }

    private RunStatus ParseStatus(string text)
    {
        try
        {
            return StoreNames.ParseRunStatus(text);
        }
        catch (FormatException ex)
        {
            throw new HerdFatalException($"Error: run store {Location} holds {ex.Message}; it was written by another version of herd or is damaged.");
        }
    }
}
