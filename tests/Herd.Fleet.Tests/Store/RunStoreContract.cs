using Herd.Agent;
using Herd.Agent.Models;
using Herd.Fleet.Engines;
using Herd.Fleet.Jobs;
using Herd.Fleet.Store;
using Herd.Fleet.Store.Postgres;
using Herd.Testing;
using Microsoft.Extensions.Time.Testing;

namespace Herd.Fleet.Tests.Store;

// The store's contract, one suite per role (docs/architecture.md, "The store by role"), each written once and run
// against every store: SQLite (embedded) and a real PostgreSQL (shared). A store that passes them all can carry a run
// through the ordinary lifecycle on any host.

/// <summary>The plan and outcomes the contract suites (and the PostgreSQL-only suites) store.</summary>
public static class RunStoreContract
{
    internal static FleetTask Task(int seq) =>
        new(seq, $"{seq:x4}".PadRight(64, 'a'), $"task-{seq}", $"prompt {seq}", [$"in{seq}"], new Dictionary<string, string> { ["file"] = $"f{seq}" }, new TaskCaps(MaxTurns: seq, Engine: seq == 3 ? Herd.Fleet.Engines.EngineKind.Codex : null));

    internal static TaskOutcome Outcome(OutcomeClass cls, DateTimeOffset start, double cost = 0.01) => new()
    {
        Class = cls, Start = start, End = start.AddSeconds(2), SessionId = "s-" + cls.Name(), CostUsd = cost,
        Usage = new Usage(InputTokens: 100, OutputTokens: 10), Error = cls.IsSuccess() ? null : "failed",
    };
}

/// <summary>Opens stores of one kind for the contract suites.</summary>
public interface IStoreKind : IDisposable
{
    /// <summary>A fresh, empty store for one run named <paramref name="runId"/>.</summary>
    IRunStore OpenNew(string runId, TimeProvider time);

    /// <summary>The same run opened again (a second process, or a restart).</summary>
    IRunStore Reopen(IRunStore store, TimeProvider time);
}

public sealed class SqliteStores : IStoreKind
{
    private readonly TempDirectory _dir = new("herd-contract");
    private readonly Dictionary<IRunStore, string> _paths = [];

    public IRunStore OpenNew(string runId, TimeProvider time)
    {
        var path = _dir.Combine(runId);
        var store = SqliteRunStore.Open(path, time);
        _paths[store] = path;
        return store;
    }

    public IRunStore Reopen(IRunStore store, TimeProvider time)
    {
        var again = SqliteRunStore.Open(_paths[store], time);
        _paths[again] = _paths[store];
        return again;
    }

    public void Dispose() => _dir.Dispose();
}

public sealed class PostgresStores : IStoreKind
{
    private readonly PgLocation _pg = TestPostgres.Location;

    public IRunStore OpenNew(string runId, TimeProvider time) => PostgresRunStore.Open(_pg, runId, time);

    public IRunStore Reopen(IRunStore store, TimeProvider time) => PostgresRunStore.Open(_pg, ((ISharedRunStore)store).RunId, time);

    public void Dispose()
    {
    }
}

/// <summary>What every role's suite shares: a fake clock, stores of one kind, and the run row they create.</summary>
public abstract class StoreContract<TKind> : IDisposable
    where TKind : IStoreKind, new()
{
    protected readonly FakeTimeProvider Time = new(new DateTimeOffset(2026, 11, 29, 10, 0, 0, TimeSpan.Zero));
    private readonly TKind _kind = new();
    private readonly List<IRunStore> _opened = [];

    protected IRunStore Track(IRunStore s)
    {
        _opened.Add(s);
        return s;
    }

    protected IRunStore NewStore(out string runId)
    {
        runId = TestPostgres.NewRunId();
        return Track(_kind.OpenNew(runId, Time));
    }

    /// <summary>The same run opened again (a second process, or a restart), closed with the suite.</summary>
    protected IRunStore Reopen(IRunStore store) => Track(_kind.Reopen(store, Time));

    protected static FleetTask Task(int seq) => RunStoreContract.Task(seq);

    protected static TaskOutcome Outcome(OutcomeClass cls, DateTimeOffset start, double cost = 0.01) => RunStoreContract.Outcome(cls, start, cost);

    protected RunInfo Info(string runId) => new(runId, Time.GetUtcNow(), "[\"-j\",\"4\"]", "/work", "herd", "0.1");

    public void Dispose()
    {
        foreach (var s in _opened)
            s.Dispose();
        _kind.Dispose();
        GC.SuppressFinalize(this);
    }
}

/// <summary>The <see cref="IRunCatalog"/> role: the run row, its definition and plan, status and the lock.</summary>
public abstract class RunCatalogContract<TKind> : StoreContract<TKind>
    where TKind : IStoreKind, new()
{
    [Fact]
    public void A_created_run_holds_its_row_and_its_whole_plan()
    {
        // Given a store and a plan of three tasks
        using var store = NewStore(out var runId);
        store.ReadRun().ShouldBeNull();

        // When the run is created
        store.CreateRun(Info(runId), [Task(1), Task(2), Task(3)]);

        // Then another opening sees the run row and every task, pending, with its inputs and caps intact
        var again = Reopen(store);
        again.ReadRun()!.RunId.ShouldBe(runId);
        again.ReadRun()!.ArgvJson.ShouldBe("[\"-j\",\"4\"]");
        var tasks = again.LoadTasks();
        tasks.Select(t => t.Task.Seq).ShouldBe([1, 2, 3]);
        tasks.ShouldAllBe(t => t.State == TaskState.Pending);
        tasks[1].Task.Named["file"].ShouldBe("f2");
        tasks[2].Task.Caps.MaxTurns.ShouldBe(3);
        tasks[2].Task.Caps.Engine.ShouldBe(Herd.Fleet.Engines.EngineKind.Codex, "a task's own engine (--tasks) is stored with it, for workers and resume");
        tasks[1].Task.Caps.Engine.ShouldBeNull();
        again.ReadStatus().Status.ShouldBe(RunStatus.Running);
    }

    [Fact]
    public void A_run_is_stored_with_its_definition_and_a_run_without_one_gets_it_once()
    {
        // Given a run created with a definition, and one created without (as a Herd before definitions did)
        var with = NewStore(out var withId);
        var definition = new Herd.Fleet.Runs.RunDefinition
        {
            Agent = new Herd.Agent.Loop.AgentProfile { Cwd = "/work", SystemPrompt = "be brief", Tools = ["Bash"], Sandbox = new Herd.Agent.Sandbox.SandboxOptions() },
            Engine = new Herd.Fleet.Runs.EngineDefinition(EngineKind.Cmd) { CommandTemplate = "echo {}" },
            AuditLogPath = "/logs/audit.ndjson",
        };
        with.CreateRun(Info(withId) with { DefinitionJson = definition.ToJson() }, [Task(1)]);
        var without = NewStore(out var withoutId);
        without.CreateRun(Info(withoutId), [Task(1)]);

        // When both are read back by another process, and the old one is given a definition
        var read = Herd.Fleet.Runs.RunDefinition.Parse(Reopen(with).ReadRun()!.DefinitionJson!, "test");
        Reopen(without).ReadRun()!.DefinitionJson.ShouldBeNull();
        without.WriteDefinition(definition.ToJson());

        // Then the definition comes back whole — the sandbox decision, the engine, the audit log — on every store
        read.Agent.Sandbox.ShouldNotBeNull();
        read.Agent.Tools.ShouldBe(["Bash"]);
        read.Engine.Kind.ShouldBe(EngineKind.Cmd);
        read.Engine.CommandTemplate.ShouldBe("echo {}");
        read.AuditLogPath.ShouldBe("/logs/audit.ndjson");
        read.ToJson().ShouldBe(definition.ToJson());
        Reopen(without).ReadRun()!.DefinitionJson.ShouldBe(definition.ToJson());
    }

    [Fact]
    public void Adding_tasks_stores_only_the_keys_not_yet_stored()
    {
        using var store = NewStore(out var runId);
        store.CreateRun(Info(runId), [Task(1), Task(2)]);

        store.AddTasks([Task(2), Task(3), Task(4)]).ShouldBe(2);

        store.LoadTasks().Count.ShouldBe(4);
    }

    [Fact]
    public void The_status_and_exit_code_round_trip()
    {
        using var store = NewStore(out var runId);
        store.CreateRun(Info(runId), [Task(1)]);

        store.SetStatus(RunStatus.Halted, 102);

        Reopen(store).ReadStatus().ShouldBe((RunStatus.Halted, (int?)102));
    }

    [Fact]
    public void The_lock_is_refused_while_a_live_holder_beats_and_taken_once_it_is_stale()
    {
        // Given a run locked by a live process on another host
        using var store = NewStore(out var runId);
        store.CreateRun(Info(runId), [Task(1)]);
        store.AcquireLock(4242, "other-host", Time.GetUtcNow(), TimeSpan.FromSeconds(30), _ => true);

        // When another process asks for it: refused while the heartbeat is fresh
        var second = Reopen(store);
        Should.Throw<HerdFatalException>(() => second.AcquireLock(7, "this-host", Time.GetUtcNow().AddSeconds(10), TimeSpan.FromSeconds(30), _ => true))
            .Message.ShouldContain("in use by pid 4242");

        // Then taken once the heartbeat is older than the stale limit
        second.AcquireLock(7, "this-host", Time.GetUtcNow().AddSeconds(31), TimeSpan.FromSeconds(30), _ => true);
    }
}

/// <summary>The <see cref="ITaskQueue"/> role: attempts started and ended, recovery after a crash, requeues and resumable sessions.</summary>
public abstract class TaskQueueContract<TKind> : StoreContract<TKind>
    where TKind : IStoreKind, new()
{
    [Fact]
    public void The_plan_is_read_back_in_pages_of_unfinished_tasks_in_plan_order_with_their_history()
    {
        // Given a plan of seven tasks: one finished, one failed once (retry) and cut off once (interrupted)
        using var store = NewStore(out var runId);
        store.CreateRun(Info(runId), Enumerable.Range(1, 7).Select(Task).ToArray());
        var t0 = Time.GetUtcNow();
        store.StartAttempt(Task(2).Key, 1, 1, t0, "s1");
        store.FinishAttempt(Task(2).Key, 1, Outcome(OutcomeClass.Success, t0), usedRetry: false, _ => "{\"key\":\"" + Task(2).Key + "\"}");
        store.StartAttempt(Task(5).Key, 1, 1, t0, "s1");
        store.FinishAttempt(Task(5).Key, 1, Outcome(OutcomeClass.ServerError, t0, 0.02), usedRetry: true, null);
        store.StartAttempt(Task(5).Key, 2, 1, t0, "s-cut");
        store.AddAttemptCost(Task(5).Key, 2, 0.03);
        store.Dispose();
        Time.Advance(TimeSpan.FromMinutes(5));
        var cursor = Reopen(store);
        cursor.RecoverInterrupted(Time.GetUtcNow()).ShouldBe(1);

        // When the unfinished tasks are read three at a time, and only the attempted ones
        var pages = new List<PlanPage>();
        var position = PlanPage.Start;
        do
        {
            pages.Add(cursor.NextUnfinished(position, 3, attemptedOnly: false));
            position = pages[^1].Next;
        }
        while (pages[^1].Tasks.Count == 3);
        var attempted = cursor.NextUnfinished(PlanPage.Start, 3, attemptedOnly: true).Tasks;

        // Then every unfinished task comes once, in plan order, and the counts agree without reading any task
        pages.SelectMany(p => p.Tasks).Select(t => t.Task.Seq).ShouldBe([1, 3, 4, 5, 6, 7]);
        pages.Select(p => p.Tasks.Count).ShouldBe([3, 3, 0]);
        var five = pages.SelectMany(p => p.Tasks).Single(t => t.Task.Seq == 5);
        (five.Retries, five.Attempts).ShouldBe((1, 2));
        five.SpentUsd.ShouldBe(0.05, tolerance: 1e-9);
        five.ClassCounts[OutcomeClass.ServerError].ShouldBe(1);
        five.ClassCounts[OutcomeClass.Interrupted].ShouldBe(1);
        five.ResumeSessionId.ShouldBe("s-cut", "an attempt cut off is continued where its engine can resume it");
        five.Task.Named["file"].ShouldBe("f5");
        attempted.Select(t => t.Task.Seq).ShouldBe([5]);
        cursor.CountTasks().ShouldBe(new PlanCounts(Total: 7, Succeeded: 1, Failed: 0, Unfinished: 6, UnfinishedAttempted: 1));
    }

    [Fact]
    public void A_final_attempt_stores_exactly_one_record_built_from_its_attempts()
    {
        // Given a task that failed once (retry) and then succeeded
        using var store = NewStore(out var runId);
        store.CreateRun(Info(runId), [Task(1), Task(2)]);
        var t0 = Time.GetUtcNow();
        store.StartAttempt(Task(1).Key, 1, 1, t0, "s1");
        store.AddAttemptCost(Task(1).Key, 1, 0.02);
        store.FinishAttempt(Task(1).Key, 1, Outcome(OutcomeClass.ServerError, t0, 0.02), usedRetry: true, null).ShouldBeNull();
        store.LoadTasks()[0].State.ShouldBe(TaskState.Pending);
        store.LoadTasks()[0].Retries.ShouldBe(1);
        store.StartAttempt(Task(1).Key, 2, 1, t0.AddSeconds(5), "s2");

        // When the second attempt ends as final
        var seen = new List<int>();
        var record = store.FinishAttempt(Task(1).Key, 2, Outcome(OutcomeClass.Success, t0.AddSeconds(5)), usedRetry: false, rows =>
        {
            seen.AddRange(rows.Select(r => r.N));
            return "{\"key\":\"one\"}";
        });

        // Then the record was built from both stored attempts, and it is the run's only record
        record.ShouldBe("{\"key\":\"one\"}");
        seen.ShouldBe([1, 2]);
        store.FinalRecords().ShouldBe(["{\"key\":\"one\"}"]);
        var attempts = store.Attempts(Task(1).Key);
        attempts.Select(a => a.Class).ShouldBe([OutcomeClass.ServerError, OutcomeClass.Success]);
        attempts[0].CostUsd.ShouldBe(0.02, 1e-9);
        var totals = Reopen(store).Totals();
        totals.Tasks.ShouldBe(2);
        totals.Unfinished.ShouldBe(1);
        totals.Attempts.ShouldBe(2);
        totals.ByClass[OutcomeClass.Success].ShouldBe(1);
        totals.SpentUsd.ShouldBe(0.03, 1e-9);
        totals.Tokens.InputTokens.ShouldBe(200);
    }

    [Fact]
    public void An_attempt_without_an_end_is_recovered_as_interrupted_without_using_a_retry()
    {
        // Given an attempt that started and never ended (its process was killed), with a call already paid
        using var store = NewStore(out var runId);
        store.CreateRun(Info(runId), [Task(1)]);
        var t0 = Time.GetUtcNow();
        store.StartAttempt(Task(1).Key, 1, 1, t0, "s1");
        store.AddAttemptCost(Task(1).Key, 1, 0.05);
        store.Dispose();

        // When the run is reopened and recovered after the holder is gone
        Time.Advance(TimeSpan.FromMinutes(5));
        var again = Reopen(store);
        again.RecoverInterrupted(Time.GetUtcNow()).ShouldBe(1);

        // Then the task is pending again with no retry used, and the paid call still counts
        var task = again.LoadTasks().Single();
        task.State.ShouldBe(TaskState.Pending);
        task.Retries.ShouldBe(0);
        again.Attempts(Task(1).Key).Single().Class.ShouldBe(OutcomeClass.Interrupted);
        again.TotalSpentUsd().ShouldBe(0.05, 1e-9);
    }

    [Fact]
    public void Requeue_puts_matching_finished_tasks_back_and_withdraws_their_records()
    {
        using var store = NewStore(out var runId);
        store.CreateRun(Info(runId), [Task(1), Task(2)]);
        var t0 = Time.GetUtcNow();
        store.StartAttempt(Task(1).Key, 1, 1, t0, "s");
        store.FinishAttempt(Task(1).Key, 1, Outcome(OutcomeClass.Success, t0), false, _ => "ok");
        store.StartAttempt(Task(2).Key, 1, 1, t0, "s");
        store.FinishAttempt(Task(2).Key, 1, Outcome(OutcomeClass.MaxTurns, t0), false, _ => "bad");

        store.Requeue(c => !c.IsSuccess()).ShouldBe(1);

        store.FinalRecords().ShouldBe(["ok"]);
        store.LoadTasks().Single(t => t.Task.Seq == 2).State.ShouldBe(TaskState.Pending);
    }

    [Fact]
    public void A_task_whose_last_attempt_was_cut_off_is_loaded_with_that_attempts_session_to_resume()
    {
        // Given a task whose attempt was killed with its process, one whose attempt was cancelled (Ctrl-C), and one that
        // finished, in a run another process reopens
        var store = NewStore(out var runId);
        store.CreateRun(Info(runId), [Task(1), Task(2), Task(3)]);
        var t0 = Time.GetUtcNow();
        store.StartAttempt(Task(1).Key, 1, 1, t0, "killed-session");
        store.StartAttempt(Task(2).Key, 1, 2, t0, "cancelled-session");
        store.FinishAttempt(Task(2).Key, 1, Outcome(OutcomeClass.Cancelled, t0) with { SessionId = "cancelled-session" }, usedRetry: false, null);
        store.StartAttempt(Task(3).Key, 1, 3, t0, "done-session");
        store.FinishAttempt(Task(3).Key, 1, Outcome(OutcomeClass.Success, t0) with { SessionId = "done-session" }, usedRetry: false, _ => "r3");
        store.Dispose();

        // When it is reopened and recovered (herd run --resume)
        Time.Advance(TimeSpan.FromMinutes(5));
        var again = Reopen(store);
        again.RecoverInterrupted(Time.GetUtcNow());
        var tasks = again.LoadTasks().ToDictionary(t => t.Task.Seq);

        // Then the cut-off attempts' sessions come back for their engines to resume, and a finished task has none
        tasks[1].ResumeSessionId.ShouldBe("killed-session");
        tasks[2].ResumeSessionId.ShouldBe("cancelled-session");
        tasks[3].ResumeSessionId.ShouldBeNull();
    }
}

/// <summary>The <see cref="IRunReads"/> and <see cref="IRunState"/> roles: records, attempts, totals and spend, as reports and the end of a run read them.</summary>
public abstract class RunReadsContract<TKind> : StoreContract<TKind>
    where TKind : IStoreKind, new()
{
    [Fact]
    public void Final_records_come_back_in_the_order_tasks_finished()
    {
        using var store = NewStore(out var runId);
        store.CreateRun(Info(runId), [Task(1), Task(2), Task(3)]);
        var t0 = Time.GetUtcNow();
        foreach (var seq in new[] { 3, 1, 2 })
        {
            store.StartAttempt(Task(seq).Key, 1, 1, t0, "s");
            store.FinishAttempt(Task(seq).Key, 1, Outcome(OutcomeClass.Success, t0), false, _ => $"r{seq}");
        }

        Reopen(store).FinalRecords().ShouldBe(["r3", "r1", "r2"]);
    }

    [Fact]
    public void Streamed_records_carry_the_attempts_each_task_was_built_from_and_the_spend_adds_up()
    {
        // Given a task retried once and then finished, and another finished at once
        var store = NewStore(out var runId);
        store.CreateRun(Info(runId), [Task(1), Task(2)]);
        var t0 = Time.GetUtcNow();
        store.StartAttempt(Task(1).Key, 1, 1, t0, "a");
        store.FinishAttempt(Task(1).Key, 1, Outcome(OutcomeClass.ServerError, t0, 0.02), usedRetry: true, null);
        store.StartAttempt(Task(1).Key, 2, 1, t0.AddSeconds(3), "b");
        store.FinishAttempt(Task(1).Key, 2, Outcome(OutcomeClass.Success, t0.AddSeconds(3), 0.03), usedRetry: false, _ => $"{{\"key\":\"{Task(1).Key}\"}}");
        store.StartAttempt(Task(2).Key, 1, 2, t0, "c");
        store.FinishAttempt(Task(2).Key, 1, Outcome(OutcomeClass.Success, t0, 0.04), usedRetry: false, _ => $"{{\"key\":\"{Task(2).Key}\"}}");

        // When another process reads the run for a report
        var reader = Reopen(store);
        var streamed = reader.StreamFinal().ToList();

        // Then each record comes with its own attempts in order, as Attempts reads them, and the spend is the attempts' sum
        streamed.Select(s => s.Record).ShouldBe(reader.FinalRecords());
        streamed[0].Attempts.Select(a => (a.N, a.Class, a.SessionId)).ShouldBe(new (int, OutcomeClass?, string)[] { (1, OutcomeClass.ServerError, "s-server_error"), (2, OutcomeClass.Success, "s-success") });
        streamed[0].Attempts.ShouldBe(reader.Attempts(Task(1).Key));
        streamed[1].Attempts.Single().Usage.InputTokens.ShouldBe(100);
        reader.StreamFinalRecords().ShouldBe(reader.FinalRecords());
        reader.TotalSpentUsd().ShouldBe(0.09, 1e-9);
        reader.SpentUsd.ShouldBe(0.09, 1e-9);
        reader.Totals().Attempts.ShouldBe(3);
    }
}

/// <summary>The <see cref="IWatchReads"/> role: what <c>herd runs watch</c> reads of a run in progress.</summary>
public abstract class WatchReadsContract<TKind> : StoreContract<TKind>
    where TKind : IStoreKind, new()
{
    [Fact]
    public void A_watcher_sees_the_open_attempts_the_latest_failures_and_the_finishing_rate()
    {
        // Given a run with one attempt open, one task retried after a server error and then finished, and one failed for good
        var store = NewStore(out var runId);
        store.CreateRun(Info(runId), [Task(1), Task(2), Task(3)]);
        var t0 = Time.GetUtcNow();
        store.StartAttempt(Task(1).Key, 1, 1, t0, "open");
        store.StartAttempt(Task(2).Key, 1, 2, t0, "a");
        store.FinishAttempt(Task(2).Key, 1, Outcome(OutcomeClass.ServerError, t0), usedRetry: true, null);
        store.StartAttempt(Task(2).Key, 2, 2, t0.AddSeconds(3), "b");
        store.FinishAttempt(Task(2).Key, 2, Outcome(OutcomeClass.Success, t0.AddSeconds(3)), usedRetry: false, _ => "r2");
        store.StartAttempt(Task(3).Key, 1, 3, t0.AddSeconds(4), "c");
        store.FinishAttempt(Task(3).Key, 1, Outcome(OutcomeClass.MaxTurns, t0.AddSeconds(4)), usedRetry: false, _ => "r3");

        // When a watcher in another process looks
        var watcher = (IWatchReads)Reopen(store);
        var data = watcher.ReadWatch(t0.AddSeconds(10), TimeSpan.FromMinutes(5));

        // Then it sees the open attempt, the failures newest first (which one was final), two tasks finished, and the totals
        data.Running.Select(a => (a.Key, a.Task, a.N)).ShouldBe([(Task(1).Key, "task-1", 1)]);
        data.RecentFailures.Select(f => (f.Task, f.Class, f.Final)).ShouldBe([("task-3", OutcomeClass.MaxTurns, true), ("task-2", OutcomeClass.ServerError, false)]);
        data.FinishedInWindow.ShouldBe(2);
        data.FirstStart.ShouldBe(t0);
        var totals = watcher.WatchTotals();
        (totals.Tasks, totals.Unfinished).ShouldBe((3, 1));
    }
}

public sealed class SqliteRunCatalogTests : RunCatalogContract<SqliteStores>;

public sealed class PostgresRunCatalogTests : RunCatalogContract<PostgresStores>;

public sealed class SqliteTaskQueueTests : TaskQueueContract<SqliteStores>;

public sealed class PostgresTaskQueueTests : TaskQueueContract<PostgresStores>;

public sealed class SqliteRunReadsTests : RunReadsContract<SqliteStores>;

public sealed class PostgresRunReadsTests : RunReadsContract<PostgresStores>;

public sealed class SqliteWatchReadsTests : WatchReadsContract<SqliteStores>;

public sealed class PostgresWatchReadsTests : WatchReadsContract<PostgresStores>;
