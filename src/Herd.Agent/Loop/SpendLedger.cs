namespace Herd.Agent.Loop;

/// <summary>
/// A spending ceiling held by reservation: a call may start only if its worst case fits what is neither spent nor
/// reserved; when it ends, the reservation is replaced by the actual cost. So spent + reserved never exceeds the
/// ceiling, even with many calls in flight (spec headless-compat §8.3, fanout §10). Thread-safe.
/// </summary>
public sealed class SpendLedger(double ceilingUsd, double spentUsd = 0)
{
    private readonly Lock _gate = new();
    private double _spent = spentUsd;
    private double _reserved;

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
            lock (_gate)
                return CeilingUsd - _spent - _reserved;
        }
    }

    public bool TryReserve(double amountUsd)
    {
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
        lock (_gate)
        {
            _reserved = Math.Max(0, _reserved - reservedUsd);
            _spent += actualUsd;
        }
    }
}
