using Herd.Agent.Loop;

namespace Herd.Agent.Tests.Loop;

public sealed class SpendLedgerTests
{
    [Fact]
    public async Task Concurrent_reservations_never_exceed_the_ceiling()
    {
        var ledger = new SpendLedger(10.0);
        var peak = 0.0;
        var gate = new Lock();

        await Parallel.ForAsync(0, 2000, async (i, ct) =>
        {
            var amount = 0.01 + (i % 17) * 0.05;
            if (!ledger.TryReserve(amount))
                return;
            lock (gate)
                peak = Math.Max(peak, ledger.SpentUsd + ledger.ReservedUsd);
            await Task.Yield();
            // The actual cost is never more than the reservation (the reservation is the worst case).
            ledger.Settle(amount, amount * (i % 3) / 2.0);
        });

        peak.ShouldBeLessThanOrEqualTo(10.0 + 1e-9);
        ledger.SpentUsd.ShouldBeLessThanOrEqualTo(10.0 + 1e-9);
        ledger.ReservedUsd.ShouldBe(0, 1e-9);
    }

    [Fact]
    public void A_reservation_that_does_not_fit_is_refused()
    {
        var ledger = new SpendLedger(1.0, spentUsd: 0.7);

        ledger.TryReserve(0.5).ShouldBeFalse();
        ledger.TryReserve(0.3).ShouldBeTrue();
        ledger.AvailableUsd.ShouldBe(0, 1e-12);
    }
}
