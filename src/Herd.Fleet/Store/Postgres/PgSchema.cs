using Npgsql;

namespace Herd.Fleet.Store.Postgres;

/// <summary>
/// Versioned schema migrations of the shared store (issue #14). Each migration is applied once, in order, in its own
/// transaction under a transaction-scoped advisory lock, so many workers starting at once apply it exactly once and
/// none sees half a schema. <c>herd_schema</c> records what was applied; a database newer than this herd is refused
/// rather than written with assumptions that no longer hold.
/// </summary>
internal static class PgSchema
{
    /// <summary>An arbitrary constant: the advisory lock that serialises migrations across processes.</summary>
    private const long MigrationLock = 0x48657264_00000001;

    /// <summary>Migration N is <c>Migrations[N - 1]</c>. Append only: never edit one that shipped.</summary>
    private static readonly string[] Migrations =
    [
        // 1: runs, tasks, attempts, the run lock, workers and their budget reservations.
        """
        CREATE TABLE herd_runs(
          run_id text PRIMARY KEY, created timestamptz NOT NULL, argv text NOT NULL, cwd text NOT NULL,
          engine text NOT NULL, engine_version text NOT NULL, status text NOT NULL DEFAULT 'running', exit_code integer,
          updated timestamptz,
          total integer NOT NULL DEFAULT 0, done integer NOT NULL DEFAULT 0, failed integer NOT NULL DEFAULT 0,
          budget_usd double precision, spent_usd double precision NOT NULL DEFAULT 0,
          reserved_usd double precision NOT NULL DEFAULT 0,
          rate_limit integer, pause_until timestamptz, rate_changed timestamptz, halt_detail text);
        CREATE TABLE herd_tasks(
          run_id text NOT NULL REFERENCES herd_runs(run_id) ON DELETE CASCADE, key text NOT NULL, seq integer NOT NULL,
          name text NOT NULL, prompt text NOT NULL, v text NOT NULL, inputs text NOT NULL, caps text NOT NULL,
          state text NOT NULL DEFAULT 'pending', class text, retries integer NOT NULL DEFAULT 0,
          attempts integer NOT NULL DEFAULT 0, cost_usd double precision NOT NULL DEFAULT 0, record text,
          final_order bigint, runtime_s double precision,
          lease_owner text, lease_epoch bigint NOT NULL DEFAULT 0, lease_until timestamptz, not_before timestamptz,
          PRIMARY KEY (run_id, key));
        CREATE INDEX herd_tasks_pending ON herd_tasks(run_id, seq) WHERE state = 'pending';
        CREATE INDEX herd_tasks_running ON herd_tasks(run_id, lease_until) WHERE state = 'running';
        CREATE INDEX herd_tasks_final ON herd_tasks(run_id, final_order) WHERE final_order IS NOT NULL;
        CREATE TABLE herd_attempts(
          run_id text NOT NULL, key text NOT NULL, n integer NOT NULL, slot integer, start timestamptz NOT NULL,
          end_at timestamptz, class text, exitval integer, cost_usd double precision NOT NULL DEFAULT 0,
          session_id text NOT NULL, error text, epoch bigint NOT NULL DEFAULT 0, worker text,
          t_in bigint NOT NULL DEFAULT 0, t_out bigint NOT NULL DEFAULT 0, t_cr bigint NOT NULL DEFAULT 0,
          t_cw5 bigint NOT NULL DEFAULT 0, t_cw1 bigint NOT NULL DEFAULT 0,
          PRIMARY KEY (run_id, key, n), FOREIGN KEY (run_id, key) REFERENCES herd_tasks(run_id, key) ON DELETE CASCADE);
        CREATE TABLE herd_locks(
          run_id text PRIMARY KEY, pid integer NOT NULL, host text NOT NULL, owner text NOT NULL, heartbeat timestamptz NOT NULL);
        CREATE TABLE herd_workers(
          worker text PRIMARY KEY, host text NOT NULL, pid integer NOT NULL, heartbeat timestamptz NOT NULL);
        CREATE TABLE herd_reservations(
          run_id text NOT NULL REFERENCES herd_runs(run_id) ON DELETE CASCADE, worker text NOT NULL,
          reserved_usd double precision NOT NULL DEFAULT 0, PRIMARY KEY (run_id, worker));
        CREATE SEQUENCE herd_final_order;
        """,
        // 2: the queue split in two. Tasks never attempted are claimed in plan order from an index that claims only ever
        // leave (a claim sets attempts, so a task is "fresh" once), which lets a worker start its scan after the last
        // task it claimed instead of walking the entries of every task already claimed — at a million tasks those
        // entries, dead until VACUUM, made each claim slower than the one before. Tasks back in the queue (retries,
        // requeues, interrupted attempts) are few and keep their own index.
        """
        DROP INDEX herd_tasks_pending;
        CREATE INDEX herd_tasks_fresh ON herd_tasks(run_id, seq) WHERE state = 'pending' AND attempts = 0;
        CREATE INDEX herd_tasks_again ON herd_tasks(run_id, seq) WHERE state = 'pending' AND attempts > 0;
        -- Attempt rows are written only by a claim of their task (which holds the task's row lock) and tasks are never
        -- deleted, so the foreign key checked nothing the claim does not already guarantee — at the price of a trigger
        -- and a row lock per attempt. Room on each page lets an attempt's end be a HOT update (no index write).
        ALTER TABLE herd_attempts DROP CONSTRAINT IF EXISTS herd_attempts_run_id_key_fkey;
        ALTER TABLE herd_attempts SET (fillfactor = 80);
        -- The run's done/failed counters, one row per writer: when every final batch of every worker updated the run row,
        -- the workers queued on that one row lock (held through each commit's WAL flush). herd_runs.done/failed stay the
        -- base that --retry-failed adjusts; the run's counts are the base plus these rows (PostgresRunStore.RunCounts).
        CREATE TABLE herd_run_counts(
          run_id text NOT NULL REFERENCES herd_runs(run_id) ON DELETE CASCADE, worker text NOT NULL,
          done integer NOT NULL DEFAULT 0, failed integer NOT NULL DEFAULT 0, PRIMARY KEY (run_id, worker));
        """,
        // 3: the run's typed definition (issue #18), written once with the run and read by every worker; argv stays for
        // display. Null for runs created before it: the first Herd to work one binds its argv once and stores it.
        """
        ALTER TABLE herd_runs ADD COLUMN definition text;
        """,
        // 4: the tasks' patches (herd run --isolate, issue #20), written by whichever host ran the task, so herd apply
        // --store reads them from any machine. One row per task: the patch of its latest attempt.
        """
        CREATE TABLE herd_patches(
          run_id text NOT NULL REFERENCES herd_runs(run_id) ON DELETE CASCADE, key text NOT NULL,
          attempt integer NOT NULL, patch bytea NOT NULL, written timestamptz NOT NULL, PRIMARY KEY (run_id, key));
        """,
        // 5: the rounds of a batch run (herd run --batch): each request claimed before it is submitted (custom_id unique
        // per run, so no two workers and no resumed run submit it twice), the Message Batch that holds it, and each
        // task's conversation saved between rounds.
        """
        CREATE TABLE herd_batch_sessions(
          run_id text NOT NULL REFERENCES herd_runs(run_id) ON DELETE CASCADE, key text NOT NULL,
          attempt_session text NOT NULL, calls integer NOT NULL, retries integer NOT NULL, state text NOT NULL,
          PRIMARY KEY (run_id, key));
        CREATE TABLE herd_batch_requests(
          run_id text NOT NULL REFERENCES herd_runs(run_id) ON DELETE CASCADE, custom_id text NOT NULL, key text NOT NULL,
          round integer NOT NULL, batch_id text, PRIMARY KEY (run_id, custom_id));
        CREATE TABLE herd_batches(
          run_id text NOT NULL REFERENCES herd_runs(run_id) ON DELETE CASCADE, batch_id text NOT NULL, round integer NOT NULL,
          requests integer NOT NULL, state text NOT NULL, processing integer NOT NULL DEFAULT 0,
          succeeded integer NOT NULL DEFAULT 0, errored integer NOT NULL DEFAULT 0, canceled integer NOT NULL DEFAULT 0,
          expired integer NOT NULL DEFAULT 0, created timestamptz NOT NULL, PRIMARY KEY (run_id, batch_id));
        """,
        // 6: a claim rewrites no index (issue #23). A claim changes a task's state, attempts and lease; while any index
        // named one of those columns (the queue's partial indexes by state and attempts, the lease index by expiry) every
        // claim wrote a whole new row version, a primary-key entry and a lease entry. With none of them indexed and room
        // left on each page, a claim — and a lease renewal — is a HOT update: the new version on the same page, only
        // the changed bytes in the WAL, no index entry. The queue is now every task not yet final, in plan order (a claim
        // reads past the few running ones); a task back in the queue is marked by not_before (its retry delay, or the
        // epoch when it has none: set by every path that returns a task, cleared by the claim); expired leases are
        // looked for among the tasks not yet final before the first one never attempted (claims go in plan order, so
        // the running tasks are there). An attempt's end stays a HOT update too: no index names end_at.
        """
        DROP INDEX herd_tasks_fresh;
        DROP INDEX herd_tasks_again;
        DROP INDEX herd_tasks_running;
        UPDATE herd_tasks SET not_before = 'epoch' WHERE state = 'pending' AND attempts > 0 AND not_before IS NULL;
        CREATE INDEX herd_tasks_open ON herd_tasks(run_id, seq) WHERE final_order IS NULL;
        CREATE INDEX herd_tasks_again ON herd_tasks(run_id, seq) WHERE not_before IS NOT NULL;
        -- Room on each page for the claims' new versions (finals that land on the page take some of it).
        ALTER TABLE herd_tasks SET (fillfactor = 60);
        """,
        // 7: a task's record in a table of its own, written once and never updated (issue #23). The record (about 1.5 KB)
        // was the bulk of the task row, and the final rewrote that row with it: a million-task table grew to 2.3 GB, past
        // shared_buffers, so claims, finals, reaps and autovacuum read it back from the OS and the checkpoints wrote
        // each page whole again. Now the task row stays small (the final changes a few fixed-width columns) and the
        // records are appended in finishing order, which is also the order every reader wants: the primary key serves it,
        // so the finished-tasks index on herd_tasks is no longer needed. No foreign key: runs are never deleted, and a
        // key's check costs a trigger and a row lock per record. --retry-failed deletes the record of a task it requeues.
        """
        CREATE TABLE herd_records(
          run_id text NOT NULL, final_order bigint NOT NULL, key text NOT NULL, record text NOT NULL,
          PRIMARY KEY (run_id, final_order));
        INSERT INTO herd_records(run_id, final_order, key, record)
          SELECT run_id, final_order, key, record FROM herd_tasks WHERE final_order IS NOT NULL AND record IS NOT NULL;
        UPDATE herd_tasks SET record = NULL WHERE record IS NOT NULL;
        DROP INDEX herd_tasks_final;
        """,
    ];

    public static int Latest => Migrations.Length;

    /// <summary>Brings the database to <see cref="Latest"/>; returns the version it was at.</summary>
    /// <exception cref="Herd.Agent.HerdFatalException">The database was migrated by a newer herd.</exception>
    public static int Migrate(NpgsqlConnection db, string location) => Migrate(db, location, Latest);

    /// <summary>Brings the database to version <paramref name="upTo"/> (tests make a database as an older herd left it).</summary>
    internal static int Migrate(NpgsqlConnection db, string location, int upTo)
    {
        using (var create = new NpgsqlCommand("CREATE TABLE IF NOT EXISTS herd_schema(version integer PRIMARY KEY, applied timestamptz NOT NULL DEFAULT now())", db))
        {
            try
            {
                create.ExecuteNonQuery();
            }
            catch (PostgresException ex) when (ex.SqlState is PostgresErrorCodes.UniqueViolation)
            {
                // Two processes created the table at the same instant; the other one won, which is all that matters.
            }
        }
        using var tx = db.BeginTransaction();
        using (var lockCmd = new NpgsqlCommand("SELECT pg_advisory_xact_lock($1)", db, tx))
        {
            lockCmd.Parameters.Add(new NpgsqlParameter { Value = MigrationLock });
            lockCmd.ExecuteNonQuery();
        }
        int current;
        using (var read = new NpgsqlCommand("SELECT COALESCE(MAX(version), 0) FROM herd_schema", db, tx))
            current = Convert.ToInt32(read.ExecuteScalar(), System.Globalization.CultureInfo.InvariantCulture);
        if (current > Latest)
            throw new Herd.Agent.HerdFatalException($"Error: the run store {location} has schema version {current}, newer than this herd understands ({Latest}). Upgrade herd.");
        for (var v = current + 1; v <= upTo; v++)
        {
            using (var apply = new NpgsqlCommand(Migrations[v - 1], db, tx))
                apply.ExecuteNonQuery();
            using var mark = new NpgsqlCommand("INSERT INTO herd_schema(version) VALUES ($1)", db, tx);
            mark.Parameters.Add(new NpgsqlParameter { Value = v });
            mark.ExecuteNonQuery();
        }
        tx.Commit();
        return current;
    }
}
