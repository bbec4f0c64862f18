using System.Data.Common;
using System.Globalization;
using Herd.Agent;
using Herd.Agent.Models;
using Herd.Fleet.Engines;
using Herd.Fleet.Jobs;
using Microsoft.Data.Sqlite;

namespace Herd.Fleet.Store;

/// <summary>The run row: what was asked, once per run directory.</summary>
/// <param name="ArgvJson">The command line the run was created with, for display only: nothing binds a run from it.</param>
/// <param name="DefinitionJson">The run's <c>RunDefinition</c> (issue #18); null for a run created by a Herd before it.</param>
public sealed record RunInfo(string RunId, DateTimeOffset Created, string ArgvJson, string Cwd, string Engine, string EngineVersion, string? DefinitionJson = null);

/// <summary>A task as stored, with its progress so far.</summary>
/// <param name="SpentUsd">What all of the task's attempts so far have cost (its --task-budget-usd holds across retries).</param>
/// <param name="ResumeSessionId">The session of the task's last attempt when that attempt was cut off (interrupted or cancelled): an engine that can resume continues it (issue #13).</param>
public sealed record StoredTask(FleetTask Task, TaskState State, OutcomeClass? FinalClass, int Retries, int Attempts, IReadOnlyDictionary<OutcomeClass, int> ClassCounts, double SpentUsd = 0, string? ResumeSessionId = null);

/// <summary>One attempt as stored (spec §8 <c>attempts[]</c>).</summary>
public sealed record AttemptRow(int N, DateTimeOffset Start, DateTimeOffset? End, OutcomeClass? Class, int? Exitval, double CostUsd, string SessionId, Usage Usage, int? Slot = null);

/// <summary>
/// The embedded run store (spec §7.1): <c>run.db</c>, SQLite in WAL mode with tables run, tasks, attempts, events and
/// lock. Every state transition is one committed transaction, so a crash or <c>kill -9</c> leaves either the state
/// before or after it. <c>synchronous=NORMAL</c>: in WAL mode a power loss may drop the last transitions but never
/// corrupts, and a process crash loses nothing — the right trade for 300+ transitions a second. One connection, used
/// under a lock (the scheduler's loop plus the heartbeat timer).
/// </summary>
public sealed partial class SqliteRunStore : IRunStore, IWatchReads, IPatchStore, ITransitionBatches
{
    private const int SchemaVersion = 1;
    private readonly SqliteConnection _db;
    private readonly TimeProvider _time;
    private readonly Lock _gate = new();
    private readonly List<SqliteCommand> _prepared = [];
    private SqliteCommand? _insertAttempt, _markRunning, _addAttemptCost, _endAttempt, _markDone, _markPending, _selectAttempts, _insertEvent;
    private long _finalOrder;
    private double _spentUsd;
    private RunDbLayout _layout = RunDbLayout.ByTask;

    private SqliteRunStore(SqliteConnection db, string directory, TimeProvider time)
    {
        _db = db;
        Directory = directory;
        _time = time;
    }

    public string Directory { get; }

    public string Location => Directory;

    public string DatabasePath => Path.Combine(Directory, "run.db");

    /// <summary>Whether <paramref name="directory"/> holds a run: a run.db with its run row (a creation that failed leaves none).</summary>
    public static bool Exists(string directory)
    {
        var path = Path.Combine(directory, "run.db");
        if (!File.Exists(path))
            return false;
        try
        {
            using var store = OpenReadOnly(directory);
            return store.ReadRun() is not null;
        }
        catch (HerdException)
        {
            return true; // there is something there, just not readable: say so when it is opened, never overwrite it
        }
    }

    /// <summary>Opens (creating if needed) the run database in <paramref name="directory"/> for a run that writes.</summary>
    /// <exception cref="HerdFatalException">The directory cannot be made, or run.db is damaged, read-only or on a full disk.</exception>
    public static SqliteRunStore Open(string directory, TimeProvider? time = null)
    {
        var path = Path.Combine(directory, "run.db");
        if (File.Exists(directory))
            throw new HerdFatalException($"Error: run directory '{directory}' is a file, not a directory. Pass a directory path with --run-dir.");
        if (System.IO.Directory.Exists(path))
            throw new HerdFatalException($"Error: '{path}' is a directory, not a run database. Remove it or pass another --run-dir.");
        try
        {
            System.IO.Directory.CreateDirectory(directory);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new HerdFatalException($"Error: cannot create run directory '{directory}' ({ex.Message}). Pass a writable --run-dir.");
        }
        SqliteConnection? db = null;
        try
        {
            db = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = path, Pooling = false, DefaultTimeout = 30 }.ToString());
            db.Open();
            var store = new SqliteRunStore(db, directory, time ?? TimeProvider.System);
            // 1 KiB pages (a new database only; an existing one keeps its own): WAL writes every page a transaction
            // dirtied whole, and a transition dirties a few rows on a few pages, so smaller pages write a third of the
            // bytes per task that SQLite's default 4 KiB pages did (issue #23; SqliteWriteAmplificationTests).
            // A WAL of 8 MiB before each checkpoint: a page rewritten by many commits (the plan's rows, the index on
            // random keys) reaches run.db once per checkpoint, not once per megabyte of log (issue #23). The page cache
            // holds 8 MiB, so a commit's random index pages are mostly found, not re-read and spilled.
            store.Exec("PRAGMA page_size=1024; PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=5000; PRAGMA foreign_keys=ON; PRAGMA wal_autocheckpoint=8192; PRAGMA cache_size=-" + CacheKiB + ";");
            store.Exec(Schema);
            store.Loaded();
            return store;
        }
        catch (SqliteException ex)
        {
            db?.Dispose();
            throw Explain(ex, path);
        }
    }

    /// <summary>Opens an existing run for reading only: no schema statements, no lock, nothing written (<c>herd runs</c>, reports).</summary>
    /// <exception cref="HerdFatalException">No run.db, or it is damaged.</exception>
    public static SqliteRunStore OpenReadOnly(string directory)
    {
        var path = Path.Combine(directory, "run.db");
        if (!File.Exists(path))
            throw new HerdFatalException($"Error: '{directory}' holds no run (no run.db). `herd runs list` shows the runs.");
        SqliteConnection? db = null;
        try
        {
            db = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = path, Pooling = false, Mode = SqliteOpenMode.ReadOnly, DefaultTimeout = 30 }.ToString());
            db.Open();
            var store = new SqliteRunStore(db, directory, TimeProvider.System);
            store.Exec("PRAGMA busy_timeout=5000;");
            if (store.Scalar<long>("SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name IN ('run', 'tasks', 'attempts')") < 3)
                throw new HerdFatalException($"Error: '{path}' is not a Herd run database (its tables are missing). Move it aside; it was not written by herd run.");
            store.Loaded();
            return store;
        }
        catch (SqliteException ex)
        {
            db?.Dispose();
            throw Explain(ex, path);
        }
    }

    private void Loaded()
    {
        _layout = RunDbLayout.Of(_db);
        _finalOrder = Scalar<long>("SELECT COALESCE(MAX(final_order), 0) FROM tasks");
        _spentUsd = TotalSpentUsdUnlocked();
    }

    /// <summary>One line for a SQLite failure on <paramref name="path"/>: what happened and what to do.</summary>
    public static HerdFatalException Explain(SqliteException ex, string path) => ex.SqliteErrorCode switch
    {
        11 or 26 => new HerdFatalException($"Error: '{path}' is damaged or not a SQLite database ({ex.Message.TrimEnd('.')}). Move the run directory aside; `herd runs list` still lists the other runs.", ex),
        13 => new HerdFatalException($"Error: the disk holding '{path}' is full. Free space, then continue with --resume; nothing half-written was kept.", ex),
        8 => new HerdFatalException($"Error: '{path}' is read-only. Make it writable, or pass another --run-dir.", ex),
        14 => new HerdFatalException($"Error: cannot open '{path}' ({ex.Message.TrimEnd('.')}). Check that its directory exists and is writable.", ex),
        5 or 6 => new HerdFatalException($"Error: '{path}' is locked by another process. Wait for it to finish.", ex),
        _ => new HerdFatalException($"Error: run database '{path}': {ex.Message.TrimEnd('.')}.", ex),
    };

    public HerdFatalException Explain(Exception ex) => ex is SqliteException s ? Explain(s, DatabasePath) : new HerdFatalException($"Error: run database '{DatabasePath}': {ex.Message}", ex);

    /// <summary>A file on a local disk has no passing failures: a locked database already waits out its busy timeout.</summary>
    public bool IsTransient(Exception ex) => false;

    /// <summary>
    /// A new run.db's tables (<see cref="RunDbLayout.ByTask"/>); on a run.db written before, every statement finds its table
    /// and changes nothing. The key index <c>tasks_key</c> is not here: it is built after the plan is stored.
    /// </summary>
    private const string Schema = """
        CREATE TABLE IF NOT EXISTS run(
          id INTEGER PRIMARY KEY CHECK (id = 1), schema INTEGER NOT NULL, run_id TEXT NOT NULL, created TEXT NOT NULL,
          argv TEXT NOT NULL, cwd TEXT NOT NULL, engine TEXT NOT NULL, engine_version TEXT NOT NULL,
          status TEXT NOT NULL DEFAULT 'running', exit_code INTEGER, updated TEXT);
        CREATE TABLE IF NOT EXISTS tasks(
          id INTEGER PRIMARY KEY, key TEXT NOT NULL, seq INTEGER NOT NULL, name TEXT NOT NULL, prompt TEXT NOT NULL, v TEXT NOT NULL,
          inputs TEXT NOT NULL, caps TEXT NOT NULL, state TEXT NOT NULL DEFAULT 'pending', class TEXT,
          retries INTEGER NOT NULL DEFAULT 0, attempts INTEGER NOT NULL DEFAULT 0, cost_usd REAL NOT NULL DEFAULT 0,
          record TEXT, final_order INTEGER, runtime_s REAL);
        CREATE TABLE IF NOT EXISTS attempts(
          task INTEGER NOT NULL REFERENCES tasks(id), n INTEGER NOT NULL, slot INTEGER, start TEXT NOT NULL, end TEXT,
          class TEXT, exitval INTEGER, cost_usd REAL NOT NULL DEFAULT 0, session_id TEXT NOT NULL, error TEXT,
          t_in INTEGER NOT NULL DEFAULT 0, t_out INTEGER NOT NULL DEFAULT 0, t_cr INTEGER NOT NULL DEFAULT 0,
          t_cw5 INTEGER NOT NULL DEFAULT 0, t_cw1 INTEGER NOT NULL DEFAULT 0,
          PRIMARY KEY (task, n)) WITHOUT ROWID;
        CREATE TABLE IF NOT EXISTS events(
          id INTEGER PRIMARY KEY AUTOINCREMENT, at TEXT NOT NULL, key TEXT, kind TEXT NOT NULL, detail TEXT);
        CREATE TABLE IF NOT EXISTS lock(
          id INTEGER PRIMARY KEY CHECK (id = 1), pid INTEGER NOT NULL, host TEXT NOT NULL, heartbeat TEXT NOT NULL);
        CREATE INDEX IF NOT EXISTS tasks_final ON tasks(final_order) WHERE final_order IS NOT NULL;
        CREATE TABLE IF NOT EXISTS definition(id INTEGER PRIMARY KEY CHECK (id = 1), json TEXT NOT NULL);
        """;

    public void Dispose()
    {
        lock (_gate)
        {
            foreach (var cmd in _prepared)
                cmd.Dispose();
            _prepared.Clear();
            _db.Dispose();
        }
    }

    // ---- run row -------------------------------------------------------------------------------------------------

    public RunInfo? ReadRun()
    {
        lock (_gate)
        {
            using var cmd = Command("SELECT run_id, created, argv, cwd, engine, engine_version FROM run WHERE id = 1");
            using var r = cmd.ExecuteReader();
            if (!r.Read())
                return null;
            return new RunInfo(r.GetString(0), DateTimeOffset.Parse(r.GetString(1), CultureInfo.InvariantCulture), r.GetString(2), r.GetString(3), r.GetString(4), r.GetString(5),
                ReadDefinitionUnlocked());
        }
    }

    /// <summary>The stored definition; a run.db written before definitions has no table for it (read-only opens add none).</summary>
    private string? ReadDefinitionUnlocked()
    {
        if (Scalar<long>("SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'definition'") == 0)
            return null;
        using var cmd = Command("SELECT json FROM definition WHERE id = 1");
        return cmd.ExecuteScalar() as string;
    }

    public void WriteDefinition(string json)
    {
        lock (_gate)
        {
            using var cmd = Command("INSERT INTO definition(id, json) VALUES (1, $j) ON CONFLICT(id) DO UPDATE SET json = excluded.json");
            cmd.Parameters.AddWithValue("$j", json);
            cmd.ExecuteNonQuery();
        }
    }

    public void CreateRun(RunInfo info, IReadOnlyList<FleetTask> plan) => CreateRunFrom(info, plan);

    public void CreateRunFrom(RunInfo info, IEnumerable<FleetTask> plan)
    {
        lock (_gate)
        {
            using var tx = _db.BeginTransaction();
            using (var cmd = Command("INSERT INTO run(id, schema, run_id, created, argv, cwd, engine, engine_version) VALUES (1, $s, $id, $c, $a, $cwd, $e, $ev)", tx))
            {
                cmd.Parameters.AddWithValue("$s", SchemaVersion);
                cmd.Parameters.AddWithValue("$id", info.RunId);
                cmd.Parameters.AddWithValue("$c", Iso(info.Created));
                cmd.Parameters.AddWithValue("$a", info.ArgvJson);
                cmd.Parameters.AddWithValue("$cwd", info.Cwd);
                cmd.Parameters.AddWithValue("$e", info.Engine);
                cmd.Parameters.AddWithValue("$ev", info.EngineVersion);
                cmd.ExecuteNonQuery();
            }
            if (info.DefinitionJson is { } definition)
            {
                using var cmd = Command("INSERT INTO definition(id, json) VALUES (1, $j)", tx);
                cmd.Parameters.AddWithValue("$j", definition);
                cmd.ExecuteNonQuery();
            }
            Event(tx, null, "run_created", info.RunId);
            // The plan lands in the same transaction as the run row: a full disk or a crash while the plan is written
            // leaves no run at all, never one that "resumes" as 0/0 done.
            InsertTasks(plan, tx);
            IndexKeys(tx);
            tx.Commit();
        }
    }

    public void SetStatus(RunStatus status, int? exitCode)
    {
        lock (_gate)
        {
            using var tx = _db.BeginTransaction();
            using (var cmd = Command("UPDATE run SET status = $s, exit_code = $x, updated = $u WHERE id = 1", tx))
            {
                cmd.Parameters.AddWithValue("$s", status.Name());
                cmd.Parameters.AddWithValue("$x", (object?)exitCode ?? DBNull.Value);
                cmd.Parameters.AddWithValue("$u", Iso(_time.GetUtcNow()));
                cmd.ExecuteNonQuery();
            }
            Event(tx, null, "run_" + status.Name(), exitCode?.ToString(CultureInfo.InvariantCulture));
            tx.Commit();
        }
    }

    public (RunStatus Status, int? ExitCode) ReadStatus()
    {
        lock (_gate)
        {
            using var cmd = Command("SELECT status, exit_code FROM run WHERE id = 1");
            using var r = cmd.ExecuteReader();
            if (!r.Read())
                throw new HerdFatalException($"Error: '{DatabasePath}' has no run row; it was not written by herd run.");
            return (Parse(r.GetString(0), StoreNames.ParseRunStatus), r.IsDBNull(1) ? null : r.GetInt32(1));
        }
    }

    // ---- lock row (spec §7.1) ------------------------------------------------------------------------------------

    /// <summary>Takes the run, unless a live orchestrator holds it.</summary>
    /// <param name="isAlive">Whether a pid on this host is running (injected for tests).</param>
    public void AcquireLock(int pid, string host, DateTimeOffset now, TimeSpan staleAfter, Func<int, bool> isAlive)
    {
        lock (_gate)
        {
            using var tx = _db.BeginTransaction(deferred: false);
            using (var read = Command("SELECT pid, host, heartbeat FROM lock WHERE id = 1", tx))
            using (var r = read.ExecuteReader())
            {
                if (r.Read())
                {
                    var holderPid = r.GetInt32(0);
                    var holderHost = r.GetString(1);
                    var beat = DateTimeOffset.Parse(r.GetString(2), CultureInfo.InvariantCulture);
                    var fresh = now - beat < staleAfter;
                    var alive = holderHost != host || (holderPid != pid && isAlive(holderPid));
                    if (fresh && alive && !(holderHost == host && holderPid == pid))
                        throw new HerdFatalException($"Error: run directory '{Directory}' is in use by pid {holderPid} on {holderHost} (heartbeat {Math.Round((now - beat).TotalSeconds)} s ago). Wait for it to finish, or stop it; the lock goes stale {staleAfter.TotalSeconds:0} s after its last heartbeat.");
                }
            }
            using (var write = Command("INSERT OR REPLACE INTO lock(id, pid, host, heartbeat) VALUES (1, $p, $h, $b)", tx))
            {
                write.Parameters.AddWithValue("$p", pid);
                write.Parameters.AddWithValue("$h", host);
                write.Parameters.AddWithValue("$b", Iso(now));
                write.ExecuteNonQuery();
            }
            Event(tx, null, "lock", $"{pid}@{host}");
            tx.Commit();
        }
    }

    public void Heartbeat(DateTimeOffset now)
    {
        lock (_gate)
        {
            using var cmd = Command("UPDATE lock SET heartbeat = $b WHERE id = 1");
            cmd.Parameters.AddWithValue("$b", Iso(now));
            cmd.ExecuteNonQuery();
        }
    }

    public void ReleaseLock()
    {
        lock (_gate)
            Exec("DELETE FROM lock WHERE id = 1");
    }

    // ---- tasks ---------------------------------------------------------------------------------------------------

    /// <summary>Adds tasks not yet stored (by key); returns how many were new. One transaction: the plan lands whole or not at all.</summary>
    public int AddTasks(IReadOnlyList<FleetTask> tasks) => AddTasksFrom(tasks);

    public int AddTasksFrom(IEnumerable<FleetTask> tasks)
    {
        lock (_gate)
        {
            using var tx = _db.BeginTransaction();
            IndexKeys(tx);
            var added = InsertTasks(tasks, tx);
            tx.Commit();
            return added;
        }
    }

    private int InsertTasks(IEnumerable<FleetTask> tasks, SqliteTransaction tx)
    {
        {
            using var cmd = Command("INSERT OR IGNORE INTO tasks(key, seq, name, prompt, v, inputs, caps) VALUES ($k, $s, $n, $p, $v, $i, $c)", tx);
            var k = cmd.Parameters.Add("$k", SqliteType.Text);
            var s = cmd.Parameters.Add("$s", SqliteType.Integer);
            var n = cmd.Parameters.Add("$n", SqliteType.Text);
            var p = cmd.Parameters.Add("$p", SqliteType.Text);
            var v = cmd.Parameters.Add("$v", SqliteType.Text);
            var i = cmd.Parameters.Add("$i", SqliteType.Text);
            var c = cmd.Parameters.Add("$c", SqliteType.Text);
            var added = 0;
            foreach (var t in tasks)
            {
                k.Value = t.Key;
                s.Value = t.Seq;
                n.Value = t.Name;
                p.Value = t.Prompt;
                v.Value = StoreJson.Strings(t.Values);
                i.Value = StoreJson.Map(t.Named);
                c.Value = StoreJson.Caps(t.Caps);
                added += cmd.ExecuteNonQuery();
            }
            Event(tx, null, "plan", added.ToString(CultureInfo.InvariantCulture));
            return added;
        }
    }

    /// <summary>
    /// Builds the key index once the plan is stored: one sorted pass writes each of its pages once, where inserting a
    /// random key per task rewrote pages all over a tree larger than the page cache (issue #23). Without the index the
    /// plan's INSERT OR IGNORE cannot drop a repeated key, so a plan that repeats one keeps its first task only, as the
    /// index would have. A run.db of the earlier layout has its key index in the table's primary key.
    /// </summary>
    private void IndexKeys(SqliteTransaction tx)
    {
        if (!_layout.AttemptsByTask)
            return;
        using var create = Command("CREATE UNIQUE INDEX IF NOT EXISTS tasks_key ON tasks(key)", tx);
        // The sort holds as much as the page cache in memory before it spills a sorted run to a temporary file: 2 MiB
        // keeps the peak of a long plan's creation at the running size, for a few more runs to merge.
        using (var small = Command($"PRAGMA cache_size=-{SortKiB}", tx))
            small.ExecuteNonQuery();
        try
        {
            create.ExecuteNonQuery();
        }
        catch (SqliteException ex) when (ex.SqliteErrorCode == 19)
        {
            using (var dedupe = Command("DELETE FROM tasks WHERE rowid NOT IN (SELECT MIN(rowid) FROM tasks GROUP BY key)", tx))
                dedupe.ExecuteNonQuery();
            create.ExecuteNonQuery();
        }
        finally
        {
            using var cache = Command($"PRAGMA cache_size=-{CacheKiB}", tx);
            cache.ExecuteNonQuery();
        }
    }

    /// <summary>The page cache while tasks run (KiB): a commit's pages are mostly found, not re-read and spilled.</summary>
    private const int CacheKiB = 8192;

    /// <summary>The page cache, and so the in-memory sort, while the key index is built (KiB).</summary>
    private const int SortKiB = 2048;

    public IReadOnlyList<StoredTask> LoadTasks()
    {
        lock (_gate)
        {
            var counts = new Dictionary<string, Dictionary<OutcomeClass, int>>(StringComparer.Ordinal);
            using (var cmd = Command($"SELECT t.key, a.class, COUNT(*) FROM attempts a JOIN tasks t ON {_layout.Join("a", "t")} WHERE a.class IS NOT NULL GROUP BY t.key, a.class"))
            using (var r = cmd.ExecuteReader())
            {
                while (r.Read())
                {
                    if (!counts.TryGetValue(r.GetString(0), out var map))
                        counts[r.GetString(0)] = map = [];
                    map[ParseClass(r.GetString(1))] = r.GetInt32(2);
                }
            }
            var spent = new Dictionary<string, double>(StringComparer.Ordinal);
            using (var cmd = Command($"SELECT t.key, COALESCE(SUM(a.cost_usd), 0) FROM attempts a JOIN tasks t ON {_layout.Join("a", "t")} GROUP BY t.key"))
            using (var r = cmd.ExecuteReader())
            {
                while (r.Read())
                    spent[r.GetString(0)] = r.GetDouble(1);
            }
            var cutOff = new Dictionary<string, string>(StringComparer.Ordinal);
            using (var cmd = Command($"SELECT t.key, a.session_id FROM attempts a JOIN tasks t ON {_layout.Join("a", "t")} WHERE a.class IN ('interrupted', 'cancelled') AND a.n = (SELECT MAX(b.n) FROM attempts b WHERE b.{_layout.TaskColumn} = a.{_layout.TaskColumn})"))
            using (var r = cmd.ExecuteReader())
            {
                while (r.Read())
                    cutOff[r.GetString(0)] = r.GetString(1);
            }
            var list = new List<StoredTask>();
            using (var cmd = Command("SELECT key, seq, name, prompt, v, inputs, caps, state, class, retries, attempts FROM tasks ORDER BY seq"))
            using (var r = cmd.ExecuteReader())
            {
                while (r.Read())
                {
                    var task = StoreRows.Task(r, 0);
                    var state = Parse(r.GetString(7), StoreNames.ParseTaskState);
                    list.Add(new StoredTask(task, state, r.IsDBNull(8) ? null : ParseClass(r.GetString(8)), r.GetInt32(9), r.GetInt32(10),
                        counts.TryGetValue(task.Key, out var c) ? c : new Dictionary<OutcomeClass, int>(), spent.GetValueOrDefault(task.Key),
                        state == TaskState.Done ? null : cutOff.GetValueOrDefault(task.Key)));
                }
            }
            return list;
        }
    }

    /// <summary>
    /// Spec §7.1: an attempt without a terminal event at restart is <c>interrupted</c>; its task goes back to pending
    /// without using a retry. Returns how many attempts were recovered.
    /// </summary>
    public int RecoverInterrupted(DateTimeOffset now)
    {
        lock (_gate)
        {
            using var tx = _db.BeginTransaction();
            int n;
            using (var cmd = Command("UPDATE attempts SET end = $e, class = 'interrupted', exitval = -1 WHERE end IS NULL", tx))
            {
                cmd.Parameters.AddWithValue("$e", Iso(now));
                n = cmd.ExecuteNonQuery();
            }
            using (var cmd = Command("UPDATE tasks SET state = 'pending' WHERE state = 'running'", tx))
                cmd.ExecuteNonQuery();
            Event(tx, null, "recover", n.ToString(CultureInfo.InvariantCulture));
            tx.Commit();
            return n;
        }
    }

    /// <summary>
    /// <c>--resume-failed</c> / <c>--retry-failed</c> / <c>--rerun-class</c>: finished tasks whose class matches go back to
    /// pending with a fresh retry allowance; their old record is withdrawn (results.ndjson is rebuilt from the database).
    /// </summary>
    public int Requeue(Func<OutcomeClass, bool> classMatches)
    {
        lock (_gate)
        {
            var keys = new List<string>();
            using (var cmd = Command("SELECT key, class FROM tasks WHERE state = 'done'"))
            using (var r = cmd.ExecuteReader())
            {
                while (r.Read())
                {
                    if (classMatches(ParseClass(r.GetString(1))))
                        keys.Add(r.GetString(0));
                }
            }
            using var tx = _db.BeginTransaction();
            using var up = Command("UPDATE tasks SET state = 'pending', class = NULL, record = NULL, final_order = NULL, retries = 0 WHERE key = $k", tx);
            var k = up.Parameters.Add("$k", SqliteType.Text);
            foreach (var key in keys)
            {
                k.Value = key;
                up.ExecuteNonQuery();
            }
            Event(tx, null, "requeue", keys.Count.ToString(CultureInfo.InvariantCulture));
            tx.Commit();
            return keys.Count;
        }
    }

    // ---- attempts: one transaction per transition ----------------------------------------------------------------

    public void StartAttempt(string key, int n, int slot, DateTimeOffset start, string sessionId)
    {
        lock (_gate)
        {
            using var scope = Transition();
            var tx = scope.Transaction;
            var insert = Prepared(ref _insertAttempt, $"INSERT OR REPLACE INTO attempts({_layout.TaskColumn}, n, slot, start, session_id) VALUES ({_layout.TaskOfKey}, $n, $sl, $s, $sid)", tx);
            insert.Parameters["$k"].Value = key;
            insert.Parameters["$n"].Value = n;
            insert.Parameters["$sl"].Value = slot;
            insert.Parameters["$s"].Value = Iso(start);
            insert.Parameters["$sid"].Value = sessionId;
            insert.ExecuteNonQuery();
            var running = Prepared(ref _markRunning, "UPDATE tasks SET state = 'running', attempts = $n WHERE key = $k", tx);
            running.Parameters["$k"].Value = key;
            running.Parameters["$n"].Value = n;
            running.ExecuteNonQuery();
            Event(tx, key, "start", n.ToString(CultureInfo.InvariantCulture));
            scope.Commit();
        }
    }

    /// <summary>
    /// Adds a finished API call's cost to a running attempt. An attempt that is later killed keeps what it spent
    /// (recovery closes it as interrupted without touching cost_usd), so a resumed run's ledger starts from the true
    /// spend. The attempt's end overwrites the column with the same total.
    /// </summary>
    public void AddAttemptCost(string key, int n, double costUsd)
    {
        lock (_gate)
        {
            using var scope = Transition();
            var tx = scope.Transaction;
            var add = Prepared(ref _addAttemptCost, $"UPDATE attempts SET cost_usd = COALESCE(cost_usd, 0) + $c WHERE {_layout.TaskColumn} = {_layout.TaskOfKey} AND n = $n AND end IS NULL", tx);
            add.Parameters["$k"].Value = key;
            add.Parameters["$n"].Value = n;
            add.Parameters["$c"].Value = costUsd;
            add.ExecuteNonQuery();
            scope.Commit();
        }
    }

    /// <summary>
    /// Ends an attempt. When <paramref name="buildRecord"/> is given the task becomes final: its spec §8 record is built
    /// from all its stored attempts and saved in the same transaction, so the database alone says which tasks are done
    /// and what their one record is. Returns that record, or null when the task was requeued.
    /// </summary>
    /// <param name="usedRetry">The task goes back to the queue and this counts as one of its retries.</param>
    public string? FinishAttempt(string key, int n, TaskOutcome outcome, bool usedRetry, Func<IReadOnlyList<AttemptRow>, string>? buildRecord)
    {
        lock (_gate)
        {
            using var scope = Transition();
            var tx = scope.Transaction;
            var end = Prepared(ref _endAttempt, $"""
                UPDATE attempts SET end = $e, class = $c, exitval = $x, cost_usd = $cost, session_id = $sid, error = $err,
                  t_in = $ti, t_out = $to, t_cr = $tcr, t_cw5 = $tc5, t_cw1 = $tc1 WHERE {_layout.TaskColumn} = {_layout.TaskOfKey} AND n = $n
                """, tx);
            var u = outcome.Usage;
            var cw5 = StoreRows.CacheWrite5m(u);
            var p = end.Parameters;
            p["$e"].Value = Iso(outcome.End);
            p["$c"].Value = outcome.Class.Name();
            p["$x"].Value = outcome.Exitval;
            p["$cost"].Value = outcome.CostUsd;
            p["$sid"].Value = outcome.SessionId;
            p["$err"].Value = (object?)outcome.Error ?? DBNull.Value;
            p["$ti"].Value = u.InputTokens;
            p["$to"].Value = u.OutputTokens;
            p["$tcr"].Value = u.CacheReadInputTokens;
            p["$tc5"].Value = cw5;
            p["$tc1"].Value = u.CacheCreation1hTokens;
            p["$k"].Value = key;
            p["$n"].Value = n;
            end.ExecuteNonQuery();
            string? record = null;
            if (buildRecord is not null)
            {
                record = buildRecord(Attempts(key, tx));
                var done = Prepared(ref _markDone, $"""
                    UPDATE tasks SET state = 'done', class = $c, record = $r, final_order = $o, runtime_s = $rt,
                      cost_usd = (SELECT COALESCE(SUM(cost_usd), 0) FROM attempts WHERE {_layout.TaskColumn} = {_layout.TaskOfKey}) WHERE key = $k
                    """, tx);
                done.Parameters["$c"].Value = outcome.Class.Name();
                done.Parameters["$r"].Value = record;
                done.Parameters["$o"].Value = _finalOrder + 1;
                done.Parameters["$rt"].Value = (outcome.End - outcome.Start).TotalSeconds;
                done.Parameters["$k"].Value = key;
                done.ExecuteNonQuery();
            }
            else
            {
                var pending = Prepared(ref _markPending, "UPDATE tasks SET state = 'pending', retries = retries + $r WHERE key = $k", tx);
                pending.Parameters["$r"].Value = usedRetry ? 1 : 0;
                pending.Parameters["$k"].Value = key;
                pending.ExecuteNonQuery();
            }
            Event(tx, key, record is null ? "requeue" : "final", outcome.Class.Name());
            scope.Commit();
            // In-memory mirrors move only once the transaction is durable in the WAL.
            if (record is not null)
                _finalOrder++;
            Volatile.Write(ref _spentUsd, _spentUsd + outcome.CostUsd);
            return record;
        }
    }

    public IReadOnlyList<AttemptRow> Attempts(string key)
    {
        lock (_gate)
            return Attempts(key, null);
    }

    private List<AttemptRow> Attempts(string key, SqliteTransaction? tx)
    {
        var cmd = Prepared(ref _selectAttempts, $"SELECT {StoreRows.AttemptColumns("", "end")} FROM attempts WHERE {_layout.TaskColumn} = {_layout.TaskOfKey} ORDER BY n", tx);
        cmd.Parameters["$k"].Value = key;
        using var r = cmd.ExecuteReader();
        var list = new List<AttemptRow>();
        while (r.Read())
        {
            list.Add(StoreRows.Attempt(r, 0, static (reader, i) => DateTimeOffset.Parse(reader.GetString(i), CultureInfo.InvariantCulture), ParseClass));
        }
        return list;
    }

    /// <summary>Every final record in the order tasks finished: the source results.ndjson is rebuilt from.</summary>
    public IReadOnlyList<string> FinalRecords()
    {
        lock (_gate)
        {
            using var cmd = Command("SELECT record FROM tasks WHERE record IS NOT NULL ORDER BY final_order");
            using var r = cmd.ExecuteReader();
            var list = new List<string>();
            while (r.Read())
                list.Add(r.GetString(0));
            return list;
        }
    }

    /// <summary>Everything spent by every attempt of this run, earlier sessions included (the ledger starts from it on resume).</summary>
    /// <value>
    /// The same total kept in memory: it starts from the database at open and grows with each committed FinishAttempt
    /// (this process is the only writer while it holds the lock). The scheduler's status reads it on every loop turn;
    /// a SUM over the attempts table there made a large run quadratic.
    /// </value>
    /// <remarks>Read without the lock, so the scheduler never waits behind a transaction on the writer thread.</remarks>
    public double SpentUsd => Volatile.Read(ref _spentUsd);

    public double TotalSpentUsd()
    {
        lock (_gate)
            return Scalar<double>("SELECT COALESCE(SUM(cost_usd), 0.0) FROM attempts");
    }

    public RunTotals Totals()
    {
        lock (_gate)
        {
            // One scan of tasks (its rows hold the records, so each scan reads the whole table): counts, classes and
            // the finished tasks' runtimes and costs, binned so a run of any size is summed up in bounded memory.
            var byClass = new SortedDictionary<OutcomeClass, int>();
            var runtimes = new Reports.Distribution();
            var costs = new Reports.Distribution();
            long total = 0, pending = 0;
            using (var cmd = Command("SELECT state = 'done', class, runtime_s, cost_usd FROM tasks"))
            using (var r = cmd.ExecuteReader())
            {
                while (r.Read())
                {
                    total++;
                    if (r.GetInt64(0) == 0)
                    {
                        pending++;
                        continue;
                    }
                    var cls = ParseClass(r.GetString(1));
                    byClass[cls] = byClass.GetValueOrDefault(cls) + 1;
                    runtimes.Add(r.IsDBNull(2) ? 0 : r.GetDouble(2));
                    costs.Add(r.GetDouble(3));
                }
            }
            var attempts = Scalar<long>("SELECT COUNT(*) FROM attempts");
            Usage tokens;
            using (var cmd = Command("SELECT COALESCE(SUM(t_in),0), COALESCE(SUM(t_out),0), COALESCE(SUM(t_cr),0), COALESCE(SUM(t_cw5),0), COALESCE(SUM(t_cw1),0) FROM attempts"))
            using (var r = cmd.ExecuteReader())
            {
                r.Read();
                tokens = StoreRows.Usage(r, 0);
            }
            return new RunTotals((int)total, (int)pending, (int)attempts, byClass, TotalSpentUsdUnlocked(), tokens, runtimes, costs);
        }
    }

    private double TotalSpentUsdUnlocked() => Scalar<double>("SELECT COALESCE(SUM(cost_usd), 0.0) FROM attempts");

    // ---- helpers -------------------------------------------------------------------------------------------------

    public void RecordPause(DateTimeOffset at, DateTimeOffset until, string reason)
    {
        lock (_gate)
        {
            using var scope = Transition();
            var tx = scope.Transaction;
            using (var cmd = Command("INSERT INTO events(at, key, kind, detail) VALUES ($a, NULL, 'pause', $d)", tx))
            {
                cmd.Parameters.AddWithValue("$a", Iso(at));
                cmd.Parameters.AddWithValue("$d", Iso(until) + " " + reason);
                cmd.ExecuteNonQuery();
            }
            scope.Commit();
        }
    }

    private void Event(SqliteTransaction tx, string? key, string kind, string? detail)
    {
        var cmd = Prepared(ref _insertEvent, "INSERT INTO events(at, key, kind, detail) VALUES ($a, $k, $kind, $d)", tx);
        cmd.Parameters["$a"].Value = Iso(_time.GetUtcNow());
        cmd.Parameters["$k"].Value = (object?)key ?? DBNull.Value;
        cmd.Parameters["$kind"].Value = kind;
        cmd.Parameters["$d"].Value = (object?)detail ?? DBNull.Value;
        cmd.ExecuteNonQuery();
    }

    /// <summary>
    /// A command kept for the life of the connection: SqliteCommand keeps its compiled statement between executions, so
    /// the per-transition statements are parsed once instead of 10 000 times. Its parameters are created from the
    /// <c>$names</c> in the SQL and only their values change. Caller holds <see cref="_gate"/>.
    /// </summary>
    private SqliteCommand Prepared(ref SqliteCommand? slot, string sql, SqliteTransaction? tx)
    {
        if (slot is null)
        {
            slot = _db.CreateCommand();
            slot.CommandText = sql;
            foreach (System.Text.RegularExpressions.Match m in ParameterName().Matches(sql))
            {
                if (!slot.Parameters.Contains(m.Value))
                    slot.Parameters.Add(new SqliteParameter(m.Value, DBNull.Value));
            }
            _prepared.Add(slot);
        }
        slot.Transaction = tx;
        return slot;
    }

    [System.Text.RegularExpressions.GeneratedRegex(@"\$[a-z0-9]+")]
    private static partial System.Text.RegularExpressions.Regex ParameterName();

    private SqliteCommand Command(string sql, SqliteTransaction? tx = null)
    {
        var cmd = _db.CreateCommand();
        cmd.CommandText = sql;
        cmd.Transaction = tx;
        return cmd;
    }

    private void Exec(string sql)
    {
        using var cmd = Command(sql);
        cmd.ExecuteNonQuery();
    }

    private T Scalar<T>(string sql)
    {
        using var cmd = Command(sql);
        var value = cmd.ExecuteScalar();
        return (T)Convert.ChangeType(value!, typeof(T), CultureInfo.InvariantCulture);
    }

    private T Parse<T>(string text, Func<string, T> parse)
    {
        try
        {
            return parse(text);
        }
        catch (FormatException ex)
        {
            throw new HerdFatalException($"Error: '{DatabasePath}' holds {ex.Message}; it was written by another version of herd or is damaged.");
        }
    }

    private OutcomeClass ParseClass(string text) =>
        OutcomeClasses.Parse(text) ?? throw new HerdFatalException($"Error: '{DatabasePath}' holds an unknown outcome class '{text}'; it was written by another version of herd or is damaged.");

    private static string Iso(DateTimeOffset t) => StoreNames.Iso(t);
}

/// <summary>Aggregates for summary.json and <c>herd runs show</c>.</summary>
/// <param name="RuntimesS">The finished tasks' runtimes, binned past <see cref="Reports.Distribution.ExactLimit"/> so a run of any size holds them in bounded memory.</param>
/// <param name="CostsUsd">The finished tasks' costs, likewise.</param>
public sealed record RunTotals(int Tasks, int Unfinished, int Attempts, IReadOnlyDictionary<OutcomeClass, int> ByClass, double SpentUsd, Usage Tokens, Reports.Distribution RuntimesS, Reports.Distribution CostsUsd);
