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
    public async Task A_task_taken_over_from_a_dead_worker_resumes_its_session_and_a_retried_one_starts_afresh()
    {
        // Given worker A holding two tasks: it fails one (a retry), then stops beating while it runs the other
        CreateRun(2);
        var (a, b) = (Worker(), Worker());
        var claims = await a.ClaimAsync(2, _time.GetUtcNow());
        a.Release(claims[1].Lease, RunStoreContract.Outcome(OutcomeClass.ServerError, _time.GetUtcNow()), usedRetry: true, notBefore: null).ShouldBeTrue();

        // When B claims both after A's lease ran out
        _time.Advance(TimeSpan.FromSeconds(31));
        var taken = (await b.ClaimAsync(2, _time.GetUtcNow())).ToDictionary(c => c.Stored.Task.Seq);

        // Then the interrupted attempt's session comes with the task, as herd run --resume gives it, and the retried one has none
        taken[1].Stored.ResumeSessionId.ShouldBe(claims[0].SessionId);
        taken[2].Stored.ResumeSessionId.ShouldBeNull();
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
    public async Task A_batch_of_ends_writes_each_accepted_end_once_and_fences_the_one_whose_lease_was_taken_over()
    {
        // Given worker A holding task 1 past its lease (taken over by B) and tasks 2 and 3 under fresh leases
        CreateRun(3);
        var (a, b) = (Worker(), Worker());
        var first = (await a.ClaimAsync(1, _time.GetUtcNow())).Single();
        _time.Advance(TimeSpan.FromSeconds(31));
        var rest = await a.ClaimAsync(2, _time.GetUtcNow());
        var takenOver = (await b.ClaimAsync(1, _time.GetUtcNow())).Single();
        takenOver.Lease.Key.ShouldBe(first.Lease.Key);

        // When A ends all three in one batch: two finals and a retry
        var t = _time.GetUtcNow();
        var batch = await a.EndAsync([
            new LeaseEnd(first.Lease, RunStoreContract.Outcome(OutcomeClass.Success, t), AttemptDisposition.Final, Record: "late"),
            new LeaseEnd(rest[0].Lease, RunStoreContract.Outcome(OutcomeClass.Success, t), AttemptDisposition.Final, Record: "two"),
            new LeaseEnd(rest[1].Lease, RunStoreContract.Outcome(OutcomeClass.ServerError, t), AttemptDisposition.Retry, t),
        ]);

        // Then the taken-over end is rejected and writes nothing; the others land once, counted once
        batch.Accepted.ShouldBe([rest[0].Lease.Key, rest[1].Lease.Key], ignoreOrder: true);
        (batch.Done, batch.Failed, batch.Total, batch.Status).ShouldBe((1, 0, 3, RunStatus.Running));
        a.FinalRecords().ShouldBe(["two"]);
        var retried = (await b.ClaimAsync(1, t)).Single();
        (retried.Lease.Key, retried.Stored.Retries).ShouldBe((rest[1].Lease.Key, 1));
        b.Complete(takenOver.Lease, RunStoreContract.Outcome(OutcomeClass.Success, t), _ => "one").Record.ShouldBe("one");
        b.Complete(retried.Lease, RunStoreContract.Outcome(OutcomeClass.Success, t), _ => "three").Status.ShouldBe(RunStatus.Finished);
        a.FinalRecords().ShouldBe(["two", "one", "three"]);
        (await a.ReadSharedAsync(t, TimeSpan.FromSeconds(30))).Done.ShouldBe(3);
    }

    [Fact]
    public async Task Ending_attempts_claims_their_successors_in_plan_order_in_the_same_round_trip()
    {
        // Given a worker running the first two of four tasks
        CreateRun(4);
        var w = Worker();
        var running = await w.ClaimAsync(2, _time.GetUtcNow());
        var t = _time.GetUtcNow();

        // When it ends them and asks for two more in the same call, then ends those
        var first = await w.EndAsync([.. running.Select(c => new LeaseEnd(c.Lease, RunStoreContract.Outcome(OutcomeClass.Success, t), AttemptDisposition.Final, Record: c.Stored.Task.Name))], claim: 2, now: t);
        var second = await w.EndAsync([.. first.Claimed.Select(c => new LeaseEnd(c.Lease, RunStoreContract.Outcome(OutcomeClass.Success, t), AttemptDisposition.Final, Record: c.Stored.Task.Name))], claim: 2, now: t);

        // Then the successors were the next tasks of the plan, on their first attempt, and nothing is left after them
        first.Claimed.Select(c => c.Stored.Task.Seq).ShouldBe([3, 4]);
        first.Claimed.ShouldAllBe(c => c.Lease.Number == 1);
        first.Done.ShouldBe(2);
        second.Claimed.ShouldBeEmpty();
        (second.Done, second.Status).ShouldBe((4, RunStatus.Finished));
    }

    [Fact]
    public async Task A_retry_that_is_due_is_claimed_before_tasks_never_attempted()
    {
        CreateRun(4);
        var w = Worker();
        var first = await w.ClaimAsync(2, _time.GetUtcNow());
        w.Release(first[0].Lease, RunStoreContract.Outcome(OutcomeClass.ServerError, _time.GetUtcNow()), usedRetry: true, _time.GetUtcNow()).ShouldBeTrue();

        var next = await w.ClaimAsync(2, _time.GetUtcNow());

        next.Select(c => (c.Stored.Task.Seq, c.Lease.Number)).ShouldBe([(1, 2), (3, 1)]);
    }

    [Fact]
    public async Task A_heartbeat_returns_a_silent_workers_tasks_to_the_queue_and_keeps_its_own()
    {
        // Given A and B each holding one task, and only B beating after the lease ran out
        CreateRun(2);
        var (a, b) = (Worker(), Worker());
        var claimA = (await a.ClaimAsync(1, _time.GetUtcNow())).Single();
        var claimB = (await b.ClaimAsync(1, _time.GetUtcNow())).Single();
        _time.Advance(TimeSpan.FromSeconds(31));

        b.Beat(_time.GetUtcNow(), TimeSpan.FromSeconds(30));

        // Then A's task is back in the queue with its attempt interrupted (no retry used), and B's lease holds
        var t = _time.GetUtcNow();
        a.Complete(claimA.Lease, RunStoreContract.Outcome(OutcomeClass.Success, t), _ => "late").Record.ShouldBeNull();
        var again = (await Worker().ClaimAsync(2, t)).Single();
        (again.Lease.Key, again.Lease.Number, again.Stored.Retries).ShouldBe((claimA.Lease.Key, 2, 0));
        again.Stored.ClassCounts[OutcomeClass.Interrupted].ShouldBe(1);
        b.Complete(claimB.Lease, RunStoreContract.Outcome(OutcomeClass.Success, t), _ => "b").Record.ShouldBe("b");
    }

    [Fact]
    public async Task A_heartbeat_writes_what_the_open_attempts_have_spent_so_far()
    {
        CreateRun(1);
        var w = Worker();
        var claim = (await w.ClaimAsync(1, _time.GetUtcNow())).Single();

        w.Beat(_time.GetUtcNow(), TimeSpan.FromSeconds(30), [new RunningCost(claim.Lease.Key, claim.Lease.Number, 0.25)]);

        w.Attempts(claim.Lease.Key).Single().CostUsd.ShouldBe(0.25);
    }

    [Fact]
    public async Task A_run_whose_last_tasks_were_counted_apart_is_finished_by_the_next_idle_worker()
    {
        // Given a run whose every task is final while the run row still says running (two last batches that committed
        // at once, each without the other's count)
        CreateRun(1);
        var w = Worker();
        var claim = (await w.ClaimAsync(1, _time.GetUtcNow())).Single();
        w.Complete(claim.Lease, RunStoreContract.Outcome(OutcomeClass.MaxTurns, _time.GetUtcNow()), _ => "r").Status.ShouldBe(RunStatus.Finished);
        w.SetStatus(RunStatus.Running, null);

        // When an idle worker looks
        await w.FinishIfDoneAsync();

        // Then the run is finished with the failed count as its exit code
        w.ReadStatus().ShouldBe((RunStatus.Finished, (int?)1));
    }

    [Fact]
    public async Task A_halted_run_hands_out_no_more_tasks()
    {
        CreateRun(3);
        var w = Worker();
        (await w.HaltAsync("--halt now,fail=1 reached", 1)).ShouldBeTrue();
        (await w.HaltAsync("again", 1)).ShouldBeFalse();

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
    public async Task Back_pressure_from_many_workers_halves_the_shared_limit_once_per_cooldown()
    {
        CreateRun(1);
        var workers = Enumerable.Range(0, 3).Select(_ => Worker()).ToArray();
        var now = _time.GetUtcNow();

        foreach (var w in workers)
            w.OnBackPressure(now, 32, now.AddSeconds(20), TimeSpan.FromSeconds(10));

        var shared = await workers[0].ReadSharedAsync(now, TimeSpan.FromSeconds(30));
        shared.RateLimit.ShouldBe(16);
        shared.PauseUntil.ShouldBe(now.AddSeconds(20));
        await workers[1].OnSuccessAsync(now.AddSeconds(11), 32, TimeSpan.FromSeconds(10));
        (await workers[0].ReadSharedAsync(now, TimeSpan.FromSeconds(30))).RateLimit.ShouldBe(17);
    }
}
