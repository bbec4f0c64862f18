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
public sealed partial class PostgresRunStore : ISharedRunStore
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

    /// <summary>A dropped connection or a server restarting (admin shutdown, crash recovery, not yet accepting): worth retrying.</summary>
    public bool IsTransient(Exception ex) => ex is NpgsqlException { IsTransient: true } or TimeoutException or IOException
        || (ex is NpgsqlException && ex.InnerException is IOException or System.Net.Sockets.SocketException)
        || ex is PostgresException { SqlState: "57P01" or "57P02" or "57P03" } or InvalidOperationException { Source: "Npgsql" };

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

    /// <summary>Every run in the database, newest first (<c>herd runs list --store</c>, <c>herd worker --all</c>).</summary>
    public static IReadOnlyList<(string RunId, DateTimeOffset Created, RunStatus Status, int Total, int Done, int Failed)> ListRuns(PgLocation location)
    {
        using var store = Open(location, "");
        using var db = store._source.OpenConnection();
        using var cmd = Cmd(db, null, $"SELECT r.run_id, r.created, r.status, r.total, {DoneSql}, {FailedSql} FROM herd_runs r ORDER BY r.created DESC, r.run_id");
        using var r = cmd.ExecuteReader();
        var list = new List<(string, DateTimeOffset, RunStatus, int, int, int)>();
        while (r.Read())
            list.Add((r.GetString(0), Time(r, 1), store.ParseStatus(r.GetString(2)), r.GetInt32(3), r.GetInt32(4), r.GetInt32(5)));
        return list;
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

    private static FleetTask ReadTask(NpgsqlDataReader r, int at) => StoreRows.Task(r, at);

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
