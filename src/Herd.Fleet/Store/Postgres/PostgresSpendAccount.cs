using Herd.Agent.Loop;

namespace Herd.Fleet.Store.Postgres;

/// <summary>
/// The run-wide budget held in PostgreSQL (issue #14): every worker's calls reserve their worst case on the run row,
/// so the <c>--budget-usd</c> ceiling holds whatever the number of workers. Plugged into the engine as a
/// <see cref="SpendLedger"/> with this account.
/// </summary>
public sealed class PostgresSpendAccount(PostgresRunStore store) : ISpendAccount
{
    private static readonly AsyncLocal<LedgerReading?> Reading = new();

    /// <summary>
    /// Starts recording, for the attempt that runs in this async flow, what the run had reserved when its calls read
    /// the ledger. A refusal read while nothing was reserved anywhere means the ceiling itself is spent (halt); one read
    /// while other workers held reservations only means the ceiling is busy (requeue and try later).
    /// </summary>
    public static LedgerReading Observe()
    {
        var reading = new LedgerReading();
        Reading.Value = reading;
        return reading;
    }

    public double AvailableUsd
    {
        get
        {
            var (spent, reserved, ceiling) = Retrying(store.Ledger);
            Reading.Value?.Record(reserved);
            return ceiling is { } c ? c - spent - reserved : double.PositiveInfinity;
        }
    }

    public bool TryReserve(double amountUsd) => Retrying(() => store.TryReserve(amountUsd));

    /// <summary>Retried through a short outage: a settlement that never lands would hold its reservation until this worker dies.</summary>
    public void Settle(double reservedUsd, double actualUsd) => Retrying(() =>
    {
        store.Settle(reservedUsd, actualUsd);
        return true;
    });

    private static T Retrying<T>(Func<T> call)
    {
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                return call();
            }
            catch (Npgsql.NpgsqlException ex) when (ex.IsTransient && attempt < 8)
            {
                Thread.Sleep(TimeSpan.FromMilliseconds(100 * (1 << attempt)));
            }
        }
    }
}

/// <summary>What the run had reserved at an attempt's latest ledger read (see <see cref="PostgresSpendAccount.Observe"/>).</summary>
public sealed class LedgerReading
{
    private double _reserved = double.NaN;

    /// <value>NaN until the attempt read the ledger.</value>
    public double Reserved => Volatile.Read(ref _reserved);

    internal void Record(double reserved) => Volatile.Write(ref _reserved, reserved);
}
