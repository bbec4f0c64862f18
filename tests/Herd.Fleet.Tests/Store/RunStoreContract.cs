using Herd.Agent;
using Herd.Agent.Models;
using Herd.Fleet.Engines;
using Herd.Fleet.Jobs;
using Herd.Fleet.Store;
using Herd.Fleet.Store.Postgres;
using Herd.Testing;
using Microsoft.Extensions.Time.Testing;

namespace Herd.Fleet.Tests.Store;

/// <summary>
/// The <see cref="IRunStore"/> contract (issue #14), written once and run against every store: SQLite (embedded)
/// and PostgreSQL (shared). A store that passes can carry a run through the ordinary lifecycle.
/// </summary>
public abstract class RunStoreContract : IDisposable
{
    protected readonly FakeTimeProvider Time = new(new DateTimeOffset(2026, 11, 29, 10, 0, 0, TimeSpan.Zero));
    private readonly List<IRunStore> _opened = [];

    /// <summary>A fresh, empty store for one run named <paramref name="runId"/>.</summary>
    protected abstract IRunStore OpenNew(string runId);

    /// <summary>The same run opened again (a second process, or a restart).</summary>
    protected abstract IRunStore Reopen(IRunStore store);

    private IRunStore Track(IRunStore s)
    {
        _opened.Add(s);
        return s;
    }

    private IRunStore NewStore(out string runId)
    {
        runId = TestPostgres.NewRunId();
        return Track(OpenNew(runId));
    }

    public void Dispose()
    {
        foreach (var s in _opened)
            s.Dispose();
        GC.SuppressFinalize(this);
    }

    internal static FleetTask Task(int seq) =>
        new(seq, $"{seq:x4}".PadRight(64, 'a'), $"task-{seq}", $"prompt {seq}", [$"in{seq}"], new Dictionary<string, string> { ["file"] = $"f{seq}" }, new TaskCaps(MaxTurns: seq, Engine: seq == 3 ? Herd.Fleet.Engines.EngineKind.Codex : null));

    internal static TaskOutcome Outcome(OutcomeClass cls, DateTimeOffset start, double cost = 0.01) => new()
    {
        Class = cls, Start = start, End = start.AddSeconds(2), SessionId = "s-" + cls.Name(), CostUsd = cost,
        Usage = new Usage(InputTokens: 100, OutputTokens: 10), Error = cls.IsSuccess() ? null : "failed",
    };

    private RunInfo Info(string runId) => new(runId, Time.GetUtcNow(), "[\"-j\",\"4\"]", "/work", "herd", "0.1");

    [Fact]
    public void A_created_run_holds_its_row_and_its_whole_plan()
    {
        // Given a store and a plan of three tasks
        using var store = NewStore(out var runId);
        store.ReadRun().ShouldBeNull();

        // When the run is created
        store.CreateRun(Info(runId), [Task(1), Task(2), Task(3)]);

        // Then another opening sees the run row and every task, pending, with its inputs and caps intact
        var again = Track(Reopen(store));
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
        var read = Herd.Fleet.Runs.RunDefinition.Parse(Track(Reopen(with)).ReadRun()!.DefinitionJson!, "test");
        Track(Reopen(without)).ReadRun()!.DefinitionJson.ShouldBeNull();
        without.WriteDefinition(definition.ToJson());

        // Then the definition comes back whole — the sandbox decision, the engine, the audit log — on every store
        read.Agent.Sandbox.ShouldNotBeNull();
        read.Agent.Tools.ShouldBe(["Bash"]);
        read.Engine.Kind.ShouldBe(EngineKind.Cmd);
        read.Engine.CommandTemplate.ShouldBe("echo {}");
        read.AuditLogPath.ShouldBe("/logs/audit.ndjson");
        read.ToJson().ShouldBe(definition.ToJson());
        Track(Reopen(without)).ReadRun()!.DefinitionJson.ShouldBe(definition.ToJson());
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
        var cursor = (IPlanCursor)Track(Reopen(store));
        ((IRunStore)cursor).RecoverInterrupted(Time.GetUtcNow()).ShouldBe(1);

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
        var totals = Track(Reopen(store)).Totals();
        totals.Tasks.ShouldBe(2);
        totals.Unfinished.ShouldBe(1);
        totals.Attempts.ShouldBe(2);
        totals.ByClass[OutcomeClass.Success].ShouldBe(1);
        totals.SpentUsd.ShouldBe(0.03, 1e-9);
        totals.Tokens.InputTokens.ShouldBe(200);
    }

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

        Track(Reopen(store)).FinalRecords().ShouldBe(["r3", "r1", "r2"]);
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
        var again = Track(Reopen(store));
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
    public void The_status_and_exit_code_round_trip()
    {
        using var store = NewStore(out var runId);
        store.CreateRun(Info(runId), [Task(1)]);

        store.SetStatus(RunStatus.Halted, 102);

        Track(Reopen(store)).ReadStatus().ShouldBe((RunStatus.Halted, (int?)102));
    }

    [Fact]
    public void The_lock_is_refused_while_a_live_holder_beats_and_taken_once_it_is_stale()
    {
        // Given a run locked by a live process on another host
        using var store = NewStore(out var runId);
        store.CreateRun(Info(runId), [Task(1)]);
        store.AcquireLock(4242, "other-host", Time.GetUtcNow(), TimeSpan.FromSeconds(30), _ => true);

        // When another process asks for it: refused while the heartbeat is fresh
        var second = Track(Reopen(store));
        Should.Throw<HerdFatalException>(() => second.AcquireLock(7, "this-host", Time.GetUtcNow().AddSeconds(10), TimeSpan.FromSeconds(30), _ => true))
            .Message.ShouldContain("in use by pid 4242");

        // Then taken once the heartbeat is older than the stale limit
        second.AcquireLock(7, "this-host", Time.GetUtcNow().AddSeconds(31), TimeSpan.FromSeconds(30), _ => true);
    }
}

public sealed class SqliteRunStoreContractTests : RunStoreContract
{
    private readonly TempDirectory _dir = new("herd-contract");
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
}

public sealed class PostgresRunStoreContractTests : RunStoreContract
{
    private readonly PgLocation _pg = TestPostgres.Location;

    protected override IRunStore OpenNew(string runId) => PostgresRunStore.Open(_pg, runId, Time);

    protected override IRunStore Reopen(IRunStore store) => PostgresRunStore.Open(_pg, ((PostgresRunStore)store).RunId, Time);
}
