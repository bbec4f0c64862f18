using Herd.Agent.Loop;

namespace Herd.Fleet.Store.Postgres;

/// <summary>
/// The run-wide budget held in PostgreSQL (issue #14): every worker's calls reserve their worst case on the run row,
/// so the <c>--budget-usd</c> ceiling holds whatever the number of workers. Plugged into the engine as a
/// <see cref="SpendLedger"/> with this account.
/// </summary>
public sealed class PostgresSpendAccount(PostgresRunStore store) : ISpendAccount
{
    public double AvailableUsd
    {
        get
        {
            var (spent, reserved, ceiling) = store.Ledger();
            return ceiling is { } c ? c - spent - reserved : double.PositiveInfinity;
        }
    }

    public bool TryReserve(double amountUsd) => store.TryReserve(amountUsd);

    public void Settle(double reservedUsd, double actualUsd) => store.Settle(reservedUsd, actualUsd);
}
