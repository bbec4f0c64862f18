using Herd.Agent.Loop;
using Polly;
using Polly.Retry;

namespace Herd.Fleet.Store.Postgres;

/// <summary>
/// The run-wide budget held in PostgreSQL (issue #14): every worker's calls reserve their worst case on the run row,
/// so the <c>--budget-usd</c> ceiling holds whatever the number of workers. Plugged into the engine as a
/// <see cref="SpendLedger"/> with this account.
/// </summary>
/// <param name="time">The clock the retries wait on (a fake one in tests).</param>
internal sealed class PostgresSpendAccount(PostgresRunStore store, TimeProvider? time = null) : ISpendAccount
{
    /// <summary>
    /// Rides out a short outage (a failover, a restarted server): 7 retries of a transient error, 0.2 s doubling to
    /// 12.8 s (about 25 s in all), then the error goes up and the attempt ends as any store failure does.
    /// </summary>
    private readonly ResiliencePipeline _retry = new ResiliencePipelineBuilder { TimeProvider = time ?? TimeProvider.System }
        .AddRetry(new RetryStrategyOptions
        {
            ShouldHandle = new PredicateBuilder().Handle<Npgsql.NpgsqlException>(ex => ex.IsTransient),
            MaxRetryAttempts = 7,
            BackoffType = DelayBackoffType.Exponential,
            Delay = TimeSpan.FromMilliseconds(200),
            UseJitter = false,
        })
        .Build();

    public double AvailableUsd
    {
        get
        {
            var (spent, reserved, ceiling) = Retrying(store.Ledger);
            LedgerReading.Current?.Record(reserved);
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

    private T Retrying<T>(Func<T> call) => _retry.Execute(call);
}
