using Microsoft.Data.Sqlite;

namespace Herd.Fleet.Store;

/// <summary>Transitions committed in batches (issue #23): see <see cref="ITransitionBatches"/>.</summary>
public sealed partial class SqliteRunStore
{
    /// <summary>The transaction of the batch in progress; null outside one. Read and written under <see cref="_gate"/>.</summary>
    private SqliteTransaction? _batch;

    /// <remarks>
    /// Holds the store's lock for the whole batch, so a heartbeat or live snapshot from a timer waits for its commit
    /// rather than running inside it. A transition that fails aborts the batch (rolled back whole); the writer stops on
    /// it, as on any failed commit. In-memory mirrors (spend, finishing order) may then be ahead of the database, which
    /// no longer matters: the run ends on the failure.
    /// </remarks>
    public void InOneTransaction(Action transitions)
    {
        lock (_gate)
        {
            using var tx = _db.BeginTransaction();
            _batch = tx;
            try
            {
                transitions();
                tx.Commit();
            }
            finally
            {
                _batch = null;
            }
        }
    }

    /// <summary>A transition's transaction: its own, or the batch's (then committed with the batch). Caller holds <see cref="_gate"/>.</summary>
    private TransitionScope Transition() => _batch is { } batch ? new TransitionScope(batch, owned: false) : new TransitionScope(_db.BeginTransaction(), owned: true);

    private readonly struct TransitionScope(SqliteTransaction transaction, bool owned) : IDisposable
    {
        public SqliteTransaction Transaction => transaction;

        public void Commit()
        {
            if (owned)
                transaction.Commit();
        }

        public void Dispose()
        {
            if (owned)
                transaction.Dispose();
        }
    }
}
