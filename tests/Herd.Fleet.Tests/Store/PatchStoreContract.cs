using Herd.Fleet.Isolation;
using Herd.Fleet.Store;
using Herd.Fleet.Store.Postgres;
using Herd.Testing;
using Microsoft.Extensions.Time.Testing;

namespace Herd.Fleet.Tests.Store;

/// <summary>
/// The <see cref="IPatchStore"/> contract (issue #20), run against both stores: a task's patch saved by the host that
/// ran it is read back, byte for byte, by another process that opens the run (herd apply).
/// </summary>
public abstract class PatchStoreContract : IDisposable
{
    protected readonly FakeTimeProvider Time = new(new DateTimeOffset(2026, 12, 3, 10, 0, 0, TimeSpan.Zero));
    private readonly List<IDisposable> _opened = [];

    /// <summary>A new run with <paramref name="plan"/>, as the host that creates it opens it.</summary>
    protected abstract (IRunStore Run, IPatchStore Patches) Create(string runId, IReadOnlyList<Herd.Fleet.Jobs.FleetTask> plan);

    /// <summary>The same run opened by another process.</summary>
    protected abstract IPatchStore Reopen(string runId);

    protected T Track<T>(T opened) where T : IDisposable
    {
        _opened.Add(opened);
        return opened;
    }

    /// <summary>Text, a NUL, invalid UTF-8 and a trailing CR: what a binary-safe patch may hold.</summary>
    protected static readonly byte[] Binary = [.. "diff --git a/x b/x\n"u8, 0, 0xff, 0xfe, (byte)'\r'];

    public void Dispose()
    {
        foreach (var s in _opened)
            s.Dispose();
        GC.SuppressFinalize(this);
    }

    [Fact]
    public void A_saved_patch_is_read_back_byte_for_byte_by_another_process()
    {
        // Given a run whose first task's patch is saved by the host that ran it
        var runId = TestPostgres.NewRunId("patch");
        var (_, patches) = Create(runId, [RunStoreContract.Task(1), RunStoreContract.Task(2)]);
        var key = RunStoreContract.Task(1).Key;

        // When it is saved, and another process opens the run
        var name = patches.SavePatch(key, 1, Binary);
        var reader = Reopen(runId);

        // Then the record's name is the same in every store, the bytes are exact, and a task without a patch has none
        name.ShouldBe(PatchNames.Of(key));
        name.ShouldStartWith("patches/");
        reader.ReadPatch(key).ShouldBe(Binary);
        reader.ReadPatch(RunStoreContract.Task(2).Key).ShouldBeNull();
    }

    [Fact]
    public void A_later_attempt_replaces_the_patch_of_an_earlier_one()
    {
        // Given a task whose first attempt left a patch
        var runId = TestPostgres.NewRunId("patch");
        var (_, patches) = Create(runId, [RunStoreContract.Task(1)]);
        var key = RunStoreContract.Task(1).Key;
        patches.SavePatch(key, 1, "first\n"u8.ToArray());

        // When its second attempt saves one
        patches.SavePatch(key, 2, "second\n"u8.ToArray());

        // Then that is the task's patch
        Reopen(runId).ReadPatch(key).ShouldBe("second\n"u8.ToArray());
    }
}

public sealed class SqlitePatchStoreContractTests : PatchStoreContract
{
    private readonly TempDirectory _dir = new("herd-patches");

    protected override (IRunStore Run, IPatchStore Patches) Create(string runId, IReadOnlyList<Herd.Fleet.Jobs.FleetTask> plan)
    {
        var store = Track(SqliteRunStore.Open(_dir.Combine(runId), Time));
        store.CreateRun(new RunInfo(runId, Time.GetUtcNow(), "[]", "/work", "herd", "0.1"), plan);
        return (store, store);
    }

    protected override IPatchStore Reopen(string runId) => Track(SqliteRunStore.Open(_dir.Combine(runId), Time));

    [Fact]
    public void A_run_directory_keeps_its_patches_as_files_a_person_can_read()
    {
        // Given a SQLite run with a saved patch
        var runId = TestPostgres.NewRunId("patch");
        var (_, patches) = Create(runId, [RunStoreContract.Task(1)]);
        var key = RunStoreContract.Task(1).Key;

        // When it is saved
        var name = patches.SavePatch(key, 1, Binary);

        // Then it is the file the record names, and the run directory's files read the same as the store
        File.ReadAllBytes(Path.Combine(_dir.Combine(runId), name)).ShouldBe(Binary);
        new PatchFiles(_dir.Combine(runId)).ReadPatch(key).ShouldBe(Binary);
    }
}

public sealed class PostgresPatchStoreContractTests : PatchStoreContract
{
    private readonly PgLocation _pg = TestPostgres.Location;

    protected override (IRunStore Run, IPatchStore Patches) Create(string runId, IReadOnlyList<Herd.Fleet.Jobs.FleetTask> plan)
    {
        var store = Track(PostgresRunStore.Open(_pg, runId, Time));
        store.CreateRun(new RunInfo(runId, Time.GetUtcNow(), "[]", "/work", "herd", "0.1"), plan);
        return (store, store);
    }

    protected override IPatchStore Reopen(string runId) => Track(PostgresRunStore.Open(_pg, runId, Time));

    [Fact]
    public void A_worker_that_lost_its_lease_and_ends_late_never_overwrites_the_patch_of_the_attempt_that_took_over()
    {
        // Given a task whose second attempt (another worker, after the first one's lease ran out) saved its patch
        var runId = TestPostgres.NewRunId("patch");
        var (_, patches) = Create(runId, [RunStoreContract.Task(1)]);
        var key = RunStoreContract.Task(1).Key;
        patches.SavePatch(key, 2, "taken over\n"u8.ToArray());

        // When the first attempt's worker ends late and saves its own
        Reopen(runId).SavePatch(key, 1, "stale\n"u8.ToArray());

        // Then the task's patch is still the second attempt's
        Reopen(runId).ReadPatch(key).ShouldBe("taken over\n"u8.ToArray());
    }
}
