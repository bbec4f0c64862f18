using System.Globalization;
using Herd.Fleet.Engines;
using Herd.Fleet.Reports;
using Herd.Fleet.Store;
using Herd.Fleet.Store.Postgres;
using Microsoft.Extensions.Time.Testing;

namespace Herd.Fleet.Tests.Store;

/// <summary>
/// The read-only side of the shared store for operators (issue #14 "Operations"): what <c>herd runs watch</c> and the
/// reports read from a run kept in PostgreSQL, on a real server with a fake clock.
/// </summary>
public sealed class PostgresOperationsTests : IDisposable
{
    // Worker presence is store-wide and other tests' workers beat at today's times: twenty years ahead, only this
    // test's own beats are recent, so "no live heartbeat" is this test's doing alone. Milliseconds: what the store keeps.
    private readonly FakeTimeProvider _time = new(DateTimeOffset.FromUnixTimeMilliseconds(DateTimeOffset.UtcNow.AddYears(20).ToUnixTimeMilliseconds()));
    private readonly PgLocation _pg = TestPostgres.Location;
    private readonly string _runId = TestPostgres.NewRunId("ops");
    private readonly List<PostgresRunStore> _stores = [];
    private readonly TempDir _dir = new();

    private PostgresRunStore Open(TimeSpan? lease = null)
    {
        var store = PostgresRunStore.Open(_pg, _runId, _time, lease);
        _stores.Add(store);
        return store;
    }

    public void Dispose()
    {
        foreach (var s in _stores)
        {
            s.LeaveAsync().GetAwaiter().GetResult();
            s.Dispose();
        }
        _dir.Dispose();
    }

    [Fact]
    public async Task A_watcher_sees_running_tasks_and_failures_and_no_live_heartbeat_once_no_worker_beats_and_no_lease_is_held()
    {
        // Given a worker that beat, claimed two tasks (10 s leases), and put one back after a server error
        var worker = Open(TimeSpan.FromSeconds(10));
        worker.CreateRun(new RunInfo(_runId, _time.GetUtcNow(), "[]", "/work", "herd", "0"), Enumerable.Range(1, 3).Select(RunStoreContract.Task).ToArray());
        var t0 = _time.GetUtcNow();
        worker.Beat(t0, TimeSpan.FromSeconds(30));
        var claimed = await worker.ClaimAsync(2, t0);
        worker.Release(claimed[0].Lease, RunStoreContract.Outcome(OutcomeClass.ServerError, t0), usedRetry: true, notBefore: null).ShouldBeTrue();
        var watcher = Open();

        // When a watcher looks while the other lease is live
        var live = watcher.ReadWatch(t0.AddSeconds(1), TimeSpan.FromMinutes(5));

        // Then it lists the running task and the retried failure, and sees life (the live lease)
        live.Running.Select(a => a.Task).ShouldBe([claimed[1].Stored.Task.Name]);
        live.RecentFailures.Count.ShouldBe(1);
        live.RecentFailures[0].Class.ShouldBe(OutcomeClass.ServerError);
        live.RecentFailures[0].Final.ShouldBeFalse();
        live.Heartbeat.ShouldBe(t0.AddSeconds(1));

        // And once the lease ran out with no beat since, the freshest sign of life is the worker's old beat
        var later = t0.AddSeconds(45);
        watcher.ReadWatch(later, TimeSpan.FromMinutes(5)).Heartbeat.ShouldBe(t0);

        // And a worker's beat makes the run look worked again
        worker.Beat(later, TimeSpan.FromSeconds(30));
        watcher.ReadWatch(later, TimeSpan.FromMinutes(5)).Heartbeat.ShouldBe(later);
    }

    [Fact]
    public void The_reports_read_a_shared_run_through_its_store_and_count_its_unfinished_tasks()
    {
        // Given a shared run of three tasks with a budget: one succeeded, one failed, one never ran
        var store = Open();
        store.CreateRun(new RunInfo(_runId, _time.GetUtcNow(), "[]", "/work", "herd", "0"), Enumerable.Range(1, 3).Select(RunStoreContract.Task).ToArray());
        store.SetBudget(5);
        var t0 = _time.GetUtcNow();
        foreach (var (seq, cls) in new[] { (1, OutcomeClass.Success), (2, OutcomeClass.MaxTurns) })
        {
            var task = RunStoreContract.Task(seq);
            store.StartAttempt(task.Key, 1, slot: seq - 1, t0, $"s{seq}");
            store.FinishAttempt(task.Key, 1, RunStoreContract.Outcome(cls, t0), usedRetry: false, _ => Record(task.Key, seq, cls, t0));
        }

        // When the reports read it through its store
        var stream = RunReader.Open(() => PostgresRunStore.Open(_pg, _runId, _time), _dir.Path);
        var run = RunDigest.Build(stream, ReportOptions.Default);
        var tasks = stream.Tasks().ToArray();

        // Then status, planned tasks, records, attempts with their slots and the ceiling come from the store
        run.Header.RunId.ShouldBe(_runId);
        run.Header.Status.ShouldBe("running");
        run.Planned.ShouldBe(3);
        run.Unfinished.ShouldBe(1);
        tasks.Select(t => t.Class).ShouldBe(["success", "max_turns"]);
        tasks[1].Attempts.Single().Slot.ShouldBe(1);
        run.Header.CeilingUsd.ShouldBe(5);
        run.Header.Directory.ShouldBe(_dir.Path);

        // And a gate counts the unfinished task as failed
        var verdict = Gate.Evaluate(run, new GateOptions(MaxFailed: new FailedLimit(1, false)));
        verdict.Passed.ShouldBeFalse();
        verdict.Failures.Single().ShouldContain("1 unfinished");
    }

    [Fact]
    public void The_reports_stream_a_shared_run_one_task_at_a_time_with_each_tasks_attempts()
    {
        // Given a shared run of four tasks: one retried then succeeded, one failed, one succeeded, one never ran
        var store = Open();
        store.CreateRun(new RunInfo(_runId, _time.GetUtcNow(), "[]", "/work", "herd", "0"), Enumerable.Range(1, 4).Select(RunStoreContract.Task).ToArray());
        var t0 = _time.GetUtcNow();
        var first = RunStoreContract.Task(1);
        store.StartAttempt(first.Key, 1, slot: 0, t0, "s1a");
        store.FinishAttempt(first.Key, 1, RunStoreContract.Outcome(OutcomeClass.RateLimited, t0), usedRetry: true, null);
        foreach (var (seq, cls, n) in new[] { (3, OutcomeClass.Success, 1), (1, OutcomeClass.Success, 2), (2, OutcomeClass.MaxTurns, 1) })
        {
            var task = RunStoreContract.Task(seq);
            store.StartAttempt(task.Key, n, slot: seq - 1, t0, $"s{seq}");
            store.FinishAttempt(task.Key, n, RunStoreContract.Outcome(cls, t0), usedRetry: false, _ => Record(task.Key, seq, cls, t0));
        }

        // When the reports stream it through fresh instances of its store (each closed by the reader when its pass ends)
        var stream = RunReader.Open(() => PostgresRunStore.Open(_pg, _runId, _time), _dir.Path);
        var tasks = stream.Tasks().ToArray();
        var digest = RunDigest.Build(stream, ReportOptions.Default);

        // Then the tasks come in finishing order, each with its own attempts, and the digest counts the unfinished one
        tasks.Select(t => t.Seq).ShouldBe([3, 1, 2]);
        tasks[1].Attempts.Select(a => (a.N, a.Class)).ShouldBe([(1, "rate_limited"), (2, "success")]);
        tasks[0].Attempts.Single().Slot.ShouldBe(2);
        stream.Header.Planned.ShouldBe(4);
        digest.Finished.ShouldBe(3);
        digest.Unfinished.ShouldBe(1);
        digest.Attempts.ShouldBe(4);
        Gate.Evaluate(digest, new GateOptions(MaxFailed: new FailedLimit(1, false))).Failures.Single().ShouldContain("1 failed, 1 unfinished");
    }

    private static string Record(string key, int seq, OutcomeClass cls, DateTimeOffset start) => string.Create(CultureInfo.InvariantCulture,
        $$$"""{"Seq":{{{seq}}},"key":"{{{key}}}","task":"task-{{{seq}}}","start":"{{{StoreNames.Iso(start)}}}","end":"{{{StoreNames.Iso(start.AddSeconds(2))}}}","cost_usd":0.01,"outcome":{"class":"{{{cls.Name()}}}"}}""");

    private sealed class TempDir : IDisposable
    {
        public string Path { get; } = Directory.CreateTempSubdirectory("herd-pgops-").FullName;

        public void Dispose() => Directory.Delete(Path, recursive: true);
    }
}
