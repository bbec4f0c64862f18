namespace Herd.Agent.Loop;

/// <summary>
/// A spending ceiling held by reservation: a call may start only if its worst case fits what is neither spent nor
/// reserved; when it ends, the reservation is replaced by the actual cost. So spent + reserved never exceeds the
/// ceiling, even with many calls in flight (spec headless-compat §8.3, fanout §10). Thread-safe.
/// </summary>
/// <remarks>
/// With an <see cref="ISpendAccount"/> the ceiling is held elsewhere (the shared run store, issue #14): reservations
/// and settlements go to the account, which decides atomically across processes; this ledger then only mirrors what
/// its own calls reserved and spent.
/// </remarks>
public sealed class SpendLedger(double ceilingUsd, double spentUsd = 0)
{
    private readonly Lock _gate = new();
    private double _spent = spentUsd;
    private double _reserved;
    private readonly ISpendAccount? _account;

    /// <summary>A ledger whose ceiling is held by <paramref name="account"/> across processes.</summary>
    public SpendLedger(double ceilingUsd, ISpendAccount account)
        : this(ceilingUsd)
    {
        _account = account;
    }

    public double CeilingUsd { get; } = ceilingUsd;

    public double SpentUsd
    {
        get
        {
            lock (_gate)
                return _spent;
        }
    }

    public double ReservedUsd
    {
        get
        {
            lock (_gate)
                return _reserved;
        }
    }

    public double AvailableUsd
    {
        get
        {
            if (_account is not null)
                return _account.AvailableUsd;
            lock (_gate)
                return CeilingUsd - _spent - _reserved;
        }
    }

    public bool TryReserve(double amountUsd)
    {
        if (_account is not null)
        {
            if (!_account.TryReserve(amountUsd))
                return false;
            lock (_gate)
                _reserved += amountUsd;
            return true;
        }
        lock (_gate)
        {
            if (_spent + _reserved + amountUsd > CeilingUsd)
                return false;
            _reserved += amountUsd;
            return true;
        }
    }

    /// <summary>Ends a reservation: it is released and the actual cost is added to what was spent.</summary>
    public void Settle(double reservedUsd, double actualUsd)
    {
        _account?.Settle(reservedUsd, actualUsd);
        lock (_gate)
        {
            _reserved = Math.Max(0, _reserved - reservedUsd);
            _spent += actualUsd;
        }
    }
}

/// <summary>A ceiling held outside this process: reserve and settle are each atomic where the account lives.</summary>
public interface ISpendAccount
{
    /// <summary>Ceiling minus everything spent and reserved, by every holder of the account.</summary>
    double AvailableUsd { get; }

    bool TryReserve(double amountUsd);

    void Settle(double reservedUsd, double actualUsd);
}
