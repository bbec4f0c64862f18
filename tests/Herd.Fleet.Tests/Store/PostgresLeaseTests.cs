using Herd.Fleet.Engines;
using Herd.Fleet.Store;
using Herd.Fleet.Store.Postgres;
using Microsoft.Extensions.Time.Testing;

namespace Herd.Fleet.Tests.Store;

/// <summary>Claims, leases, fencing and the shared ledger of the PostgreSQL store (issue #14), on a real server with a fake clock.</summary>
public sealed class PostgresLeaseTests : IDisposable
{
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 11, 29, 10, 0, 0, TimeSpan.Zero));
    private readonly PgLocation _pg = TestPostgres.Location;
    private readonly string _runId = TestPostgres.NewRunId("lease");
    private readonly List<PostgresRunStore> _stores = [];

    private PostgresRunStore Worker()
    {
        var store = PostgresRunStore.Open(_pg, _runId, _time);
        _stores.Add(store);
        return store;
    }

    private PostgresRunStore CreateRun(int tasks, double? budget = null)
    {
        var store = Worker();
        store.CreateRun(new RunInfo(_runId, _time.GetUtcNow(), "[]", "/", "herd", "0"), Enumerable.Range(1, tasks).Select(RunStoreContract.Task).ToArray());
        store.SetBudget(budget);
        return store;
    }

    public void Dispose()
    {
        foreach (var s in _stores)
            s.Dispose();
    }

    [Fact]
    public async Task Concurrent_claims_never_hand_the_same_task_to_two_workers()
    {
        // Given 200 pending tasks and four workers claiming in parallel, five at a time
        CreateRun(200);
        var workers = Enumerable.Range(0, 4).Select(_ => Worker()).ToArray();

        // When they claim until nothing is left, all starting at once
        using var start = new Barrier(workers.Length);
        var claims = await Task.WhenAll(workers.Select(w => Task.Factory.StartNew(async () =>
        {
            start.SignalAndWait();
            var mine = new List<string>();
            while ((await w.ClaimAsync(5, _time.GetUtcNow())) is { Count: > 0 } got)
                mine.AddRange(got.Select(c => c.Lease.Key));
            return mine;
        }, TaskCreationOptions.LongRunning).Unwrap()));

        // Then every task was claimed exactly once (how the work split depends on the machine's scheduling)
        var all = claims.SelectMany(c => c).ToList();
        all.Count.ShouldBe(200);
        all.Distinct().Count().ShouldBe(200);
    }

    [Fact]
    public async Task An_expired_lease_returns_the_task_and_the_presumed_dead_workers_late_result_is_rejected()
    {
        // Given worker A holding the only task under a 30 s lease
        CreateRun(1);
        var (a, b) = (Worker(), Worker());
        var claimA = (await a.ClaimAsync(1, _time.GetUtcNow())).Single();
        (await b.ClaimAsync(1, _time.GetUtcNow())).ShouldBeEmpty(); // leased: not claimable

        // When A stops beating for longer than the lease, B claims the task
        _time.Advance(TimeSpan.FromSeconds(31));
        var claimB = (await b.ClaimAsync(1, _time.GetUtcNow())).Single();
        claimB.Lease.Epoch.ShouldBeGreaterThan(claimA.Lease.Epoch);
        claimB.Lease.Number.ShouldBe(2);
        claimB.Stored.Retries.ShouldBe(0); // an interrupted attempt uses no retry

        // Then A's late result is fenced off, B's is the task's one record
        var t = _time.GetUtcNow();
        a.Complete(claimA.Lease, RunStoreContract.Outcome(OutcomeClass.Success, t), _ => "late").Record.ShouldBeNull();
        a.Release(claimA.Lease, RunStoreContract.Outcome(OutcomeClass.ServerError, t), true, null).ShouldBeFalse();
        var commit = b.Complete(claimB.Lease, RunStoreContract.Outcome(OutcomeClass.Success, t), _ => "b");
        commit.Record.ShouldBe("b");
        commit.Status.ShouldBe(RunStatus.Finished);
        b.FinalRecords().ShouldBe(["b"]);
        b.Attempts(claimA.Lease.Key).Select(x => x.Class).ShouldBe([OutcomeClass.Interrupted, OutcomeClass.Success]);
    }

    [Fact]
    public async Task A_heartbeat_keeps_the_lease_past_its_first_deadline()
    {
        CreateRun(1);
        var (a, b) = (Worker(), Worker());
        var claim = (await a.ClaimAsync(1, _time.GetUtcNow())).Single();

        for (var i = 0; i < 6; i++)
        {
            _time.Advance(TimeSpan.FromSeconds(10));
            a.Beat(_time.GetUtcNow(), TimeSpan.FromSeconds(30));
            (await b.ClaimAsync(1, _time.GetUtcNow())).ShouldBeEmpty();
        }

        a.Complete(claim.Lease, RunStoreContract.Outcome(OutcomeClass.Success, _time.GetUtcNow()), _ => "a").Record.ShouldBe("a");
    }

    [Fact]
    public async Task A_retry_is_not_claimed_before_its_backoff_ends_and_counts_one_retry()
    {
        CreateRun(1);
        var w = Worker();
        var first = (await w.ClaimAsync(1, _time.GetUtcNow())).Single();
        w.Release(first.Lease, RunStoreContract.Outcome(OutcomeClass.ServerError, _time.GetUtcNow()), usedRetry: true, _time.GetUtcNow().AddSeconds(8)).ShouldBeTrue();

        (await w.ClaimAsync(1, _time.GetUtcNow().AddSeconds(7))).ShouldBeEmpty();
        var again = (await w.ClaimAsync(1, _time.GetUtcNow().AddSeconds(9))).Single();

        again.Stored.Retries.ShouldBe(1);
        again.Stored.ClassCounts[OutcomeClass.ServerError].ShouldBe(1);
        again.Lease.Number.ShouldBe(2);
    }

    [Fact]
    public async Task A_halted_run_hands_out_no_more_tasks()
    {
        CreateRun(3);
        var w = Worker();
        w.Halt("--halt now,fail=1 reached", 1).ShouldBeTrue();
        w.Halt("again", 1).ShouldBeFalse();

        (await w.ClaimAsync(3, _time.GetUtcNow())).ShouldBeEmpty();
        w.ReadStatus().ShouldBe((RunStatus.Halted, (int?)1));
    }

    [Fact]
    public async Task Reservations_from_many_workers_never_cross_the_ceiling()
    {
        // Given a $1 ceiling and four workers reserving random worst cases and settling random actual costs
        CreateRun(1, budget: 1.0);
        var workers = Enumerable.Range(0, 4).Select(_ => Worker()).ToArray();
        var random = new Random(14);
        var plans = workers.Select(_ => Enumerable.Range(0, 60).Select(_ => (Reserve: 0.01 + random.NextDouble() * 0.05, Share: random.NextDouble())).ToArray()).ToArray();

        // When they run concurrently until the ceiling refuses them
        await Task.WhenAll(workers.Select((w, i) => Task.Run(() =>
        {
            foreach (var (reserve, share) in plans[i])
            {
                if (w.TryReserve(reserve))
                    w.Settle(reserve, reserve * share);
            }
        })));

        // Then what was spent stays within the ceiling, and nothing is left reserved
        var (spent, reserved, ceiling) = workers[0].Ledger();
        spent.ShouldBeLessThanOrEqualTo(1.0 + 1e-9);
        spent.ShouldBeGreaterThan(0.5); // it really was filled, not refused from the start
        reserved.ShouldBe(0, 1e-9);
        ceiling.ShouldBe(1.0);
    }

    [Fact]
    public void A_dead_workers_reservations_return_to_the_run()
    {
        CreateRun(1, budget: 1.0);
        var (dead, live) = (Worker(), Worker());
        dead.Beat(_time.GetUtcNow(), TimeSpan.FromSeconds(30));
        dead.TryReserve(0.9).ShouldBeTrue();
        live.TryReserve(0.2).ShouldBeFalse();

        // When the dead worker's presence is older than the live window, the next beat of anyone reaps it
        _time.Advance(TimeSpan.FromSeconds(31));
        live.Beat(_time.GetUtcNow(), TimeSpan.FromSeconds(30));

        live.TryReserve(0.2).ShouldBeTrue();
        dead.Settle(0.9, 0.1); // the late settle adds its cost but does not release twice
        var (spent, reserved, _) = live.Ledger();
        spent.ShouldBe(0.1, 1e-9);
        reserved.ShouldBe(0.2, 1e-9);
    }

    [Fact]
    public void Back_pressure_from_many_workers_halves_the_shared_limit_once_per_cooldown()
    {
        CreateRun(1);
        var workers = Enumerable.Range(0, 3).Select(_ => Worker()).ToArray();
        var now = _time.GetUtcNow();

        foreach (var w in workers)
            w.OnBackPressure(now, 32, now.AddSeconds(20), TimeSpan.FromSeconds(10));

        var shared = workers[0].ReadShared(now, TimeSpan.FromSeconds(30));
        shared.RateLimit.ShouldBe(16);
        shared.PauseUntil.ShouldBe(now.AddSeconds(20));
        workers[1].OnSuccess(now.AddSeconds(11), 32, TimeSpan.FromSeconds(10));
        workers[0].ReadShared(now, TimeSpan.FromSeconds(30)).RateLimit.ShouldBe(17);
    }
}
