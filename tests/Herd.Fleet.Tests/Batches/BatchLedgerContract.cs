using Herd.Fleet.Batches;
using Herd.Fleet.Store;
using Herd.Fleet.Store.Postgres;
using Herd.Fleet.Tests.Store;
using Herd.Testing;
using Microsoft.Extensions.Time.Testing;

namespace Herd.Fleet.Tests.Batches;

/// <summary>The <see cref="IBatchLedger"/> contract, written once and run against SQLite's run.db and PostgreSQL.</summary>
public abstract class BatchLedgerContract : IDisposable
{
    protected readonly FakeTimeProvider Time = new(new DateTimeOffset(2026, 12, 3, 10, 0, 0, TimeSpan.Zero));
    private readonly List<IRunStore> _opened = [];

    /// <summary>A fresh store with the run <paramref name="runId"/> created in it.</summary>
    protected abstract IRunStore OpenNew(string runId);

    /// <summary>The same run opened again (a resumed run, or another worker).</summary>
    protected abstract IRunStore Reopen(IRunStore store);

    private IBatchLedger New(out IRunStore store)
    {
        var runId = TestPostgres.NewRunId("b");
        store = OpenNew(runId);
        _opened.Add(store);
        store.CreateRun(new RunInfo(runId, Time.GetUtcNow(), "[]", "/work", "herd", "0.1"), [RunStoreContract.Task(1), RunStoreContract.Task(2)]);
        return (IBatchLedger)store;
    }

    private IBatchLedger Again(IRunStore store)
    {
        var again = Reopen(store);
        _opened.Add(again);
        return (IBatchLedger)again;
    }

    public void Dispose()
    {
        foreach (var s in _opened)
            s.Dispose();
        GC.SuppressFinalize(this);
    }

    [Fact]
    public void A_claimed_request_is_never_claimed_again_and_answers_with_its_batch_once_recorded()
    {
        // Given two requests claimed for round 1, and the batch that holds them recorded
        var ledger = New(out var store);
        ledger.ClaimRequests(1, [("a-t1", "ka"), ("b-t1", "kb")]).ShouldBeEmpty();
        ledger.RecordBatch("msgbatch_1", 1, ["a-t1", "b-t1"]);
        // And a third claimed whose submit never got its answer (the process died)
        ledger.ClaimRequests(2, [("c-t1", "kc")]).ShouldBeEmpty();

        // When another process claims them again
        var claimed = Again(store).ClaimRequests(3, [("a-t1", "ka"), ("c-t1", "kc"), ("d-t1", "kd")]);

        // Then the submitted ones come back with their batch, the unanswered one with none, and the new one is claimed
        claimed.OrderBy(c => c.Key).ShouldBe([new("a-t1", "msgbatch_1"), new KeyValuePair<string, string?>("c-t1", null)]);
        Again(store).ClaimRequests(4, [("d-t1", "kd")]).Keys.ShouldBe(["d-t1"]);
    }

    [Fact]
    public void Batches_are_listed_in_order_with_their_latest_counts()
    {
        // Given two rounds' batches
        var ledger = New(out var store);
        ledger.ClaimRequests(1, [("a-t1", "ka")]);
        ledger.RecordBatch("msgbatch_1", 1, ["a-t1"]);
        Time.Advance(TimeSpan.FromSeconds(1));
        ledger.ClaimRequests(2, [("a-t2", "ka")]);
        ledger.RecordBatch("msgbatch_2", 2, ["a-t2"]);

        // When the first is collected and the second polled
        ledger.UpdateBatch(new BatchRow("msgbatch_1", 1, 1, BatchState.Collected, 0, 1, 0, 0, 0));
        ledger.UpdateBatch(new BatchRow("msgbatch_2", 2, 1, BatchState.InProgress, 1, 0, 0, 0, 0));

        // Then any process sees both, oldest first
        Again(store).Batches().ShouldBe([
            new BatchRow("msgbatch_1", 1, 1, BatchState.Collected, 0, 1, 0, 0, 0),
            new BatchRow("msgbatch_2", 2, 1, BatchState.InProgress, 1, 0, 0, 0, 0),
        ]);
    }

    [Fact]
    public void A_task_s_saved_conversation_is_replaced_read_back_and_deleted()
    {
        var ledger = New(out var store);
        ledger.LoadSession("ka").ShouldBeNull();
        ledger.SaveSession("ka", new BatchSessionRow("s1", 0, 0, "{\"a\":1}"));
        ledger.SaveSession("ka", new BatchSessionRow("s1", 2, 1, "{\"a\":2}"));
        Again(store).LoadSession("ka").ShouldBe(new BatchSessionRow("s1", 2, 1, "{\"a\":2}"));
        ledger.DeleteSession("ka");
        Again(store).LoadSession("ka").ShouldBeNull();
    }
}

public sealed class SqliteBatchLedgerTests : BatchLedgerContract
{
    private readonly TempDirectory _dir = new("herd-batch-ledger");
    private readonly Dictionary<IRunStore, string> _paths = [];

    protected override IRunStore OpenNew(string runId)
    {
        var path = _dir.Combine(runId);
        var store = SqliteRunStore.Open(path, Time);
        _paths[store] = path;
        return store;
    }

    protected override IRunStore Reopen(IRunStore store)
    {
        var again = SqliteRunStore.Open(_paths[store], Time);
        _paths[again] = _paths[store];
        return again;
    }

    [Fact]
    public void A_run_database_from_before_batches_opens_read_only_with_no_batches_and_gains_the_tables_when_written()
    {
        // Given a run.db written without the batch tables
        var path = _dir.Combine("old");
        using (var old = SqliteRunStore.Open(path, Time))
            old.CreateRun(new RunInfo("old", Time.GetUtcNow(), "[]", "/work", "herd", "0.1"), [RunStoreContract.Task(1)]);

        // Then a watcher's read-only open lists no batches, and a batch run working in it adds them
        using (var watcher = SqliteRunStore.OpenReadOnly(path))
            ((IBatchLedger)watcher).Batches().ShouldBeEmpty();
        using var store = SqliteRunStore.Open(path, Time);
        ((IBatchLedger)store).ClaimRequests(1, [("a-t1", "ka")]).ShouldBeEmpty();
    }
}

public sealed class PostgresBatchLedgerTests : BatchLedgerContract
{
    private readonly PgLocation _pg = TestPostgres.Location;

    protected override IRunStore OpenNew(string runId) => PostgresRunStore.Open(_pg, runId, Time);

    protected override IRunStore Reopen(IRunStore store) => PostgresRunStore.Open(_pg, ((PostgresRunStore)store).RunId, Time);
}
