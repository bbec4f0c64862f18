using Herd.Fleet.Engines;
using Herd.Fleet.Store;

namespace Herd.Fleet.Tests.Store;

/// <summary>run.db's key index, built once the plan is stored (issue #23), keeps what the key as primary key promised.</summary>
public sealed class SqliteKeyIndexTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("herd-keyindex-").FullName;

    public void Dispose()
    {
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        Directory.Delete(_dir, recursive: true);
    }

    [Fact]
    public void A_plan_that_repeats_a_key_keeps_its_first_task_and_tasks_added_later_are_matched_by_key()
    {
        // Given a plan whose third task repeats the first one's key
        var now = DateTimeOffset.UtcNow;
        using var store = SqliteRunStore.Open(_dir);
        var repeat = RunStoreContract.Task(3) with { Key = RunStoreContract.Task(1).Key };

        // When the run is created with it, and a resume adds the plan again with one new task
        store.CreateRun(new RunInfo("r", now, "[]", "/work", "herd", "0.1"), [RunStoreContract.Task(1), RunStoreContract.Task(2), repeat]);
        var added = store.AddTasks([RunStoreContract.Task(1), RunStoreContract.Task(2), RunStoreContract.Task(4)]);

        // Then the repeat was dropped, only the new task was added, and every task's attempts are found by its key
        added.ShouldBe(1);
        store.LoadTasks().Select(t => t.Task.Seq).ShouldBe([1, 2, 4]);
        store.StartAttempt(RunStoreContract.Task(4).Key, 1, 0, now, "s");
        store.FinishAttempt(RunStoreContract.Task(4).Key, 1, RunStoreContract.Outcome(OutcomeClass.Success, now), usedRetry: false, rows => $"{{\"attempts\":{rows.Count}}}")
            .ShouldBe("{\"attempts\":1}");
        store.Attempts(RunStoreContract.Task(1).Key).ShouldBeEmpty();
    }
}
