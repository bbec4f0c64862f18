using System.Text.Json;
using Herd.Fleet.Engines;
using Herd.Fleet.Reports;
using Herd.Fleet.Scheduling;
using Herd.Fleet.Store;
using Herd.Fleet.Tests.Store;
using Herd.Testing;

namespace Herd.Fleet.Tests;

/// <summary>How a finished task's record reaches results.ndjson: built, appended, written once per committed batch.</summary>
public sealed class ResultsPathTests
{
    [Fact]
    public async Task The_after_batch_step_runs_once_per_batch_after_its_after_commit_steps()
    {
        // Given a writer whose first transition holds the thread until two more are queued behind it
        var seen = new List<string>();
        using var started = new ManualResetEventSlim();
        using var gate = new ManualResetEventSlim();
        using var writer = new TransitionWriter(afterBatch: () => seen.Add("flush"));
        writer.Post(() => { started.Set(); gate.Wait(); seen.Add("t0"); }, () => seen.Add("a0"));
        started.Wait(TimeSpan.FromSeconds(10)).ShouldBeTrue();
        writer.Post(() => seen.Add("t1"), () => seen.Add("a1"));
        writer.Post(() => seen.Add("t2"), () => seen.Add("a2"));
        gate.Set();
        writer.Complete();
        await writer.Completion.WaitAsync(TimeSpan.FromSeconds(10));

        // Then each batch's records are written after its commit steps, the two queued ones as one batch
        seen.ShouldBe(["t0", "a0", "flush", "t1", "a1", "t2", "a2", "flush"]);
    }

    [Fact]
    public void Appended_records_reach_the_file_and_the_joblog_at_flush_and_at_dispose()
    {
        using var dir = new TempDirectory();
        var path = dir.Combine("results.ndjson");
        var joblog = dir.Combine("joblog");
        var first = Record(1);
        var results = ResultsFile.Rebuild(path, () => [first], joblog);
        var second = Record(2);
        results.Append(second);
        results.Flush();
        ReadShared(path).ShouldBe([first, second]);
        ReadShared(joblog).Length.ShouldBe(3); // header and two lines

        var third = Record(3);
        results.Append(third);
        results.Dispose();
        File.ReadAllLines(path).ShouldBe([first, second, third]);
        File.ReadAllLines(joblog).Length.ShouldBe(4);
    }

    [Fact]
    public void Records_built_one_after_another_on_one_thread_each_hold_only_their_own_task()
    {
        // A long stdout first (the kept buffer grows), then short records: nothing of one is left in the next.
        var t0 = DateTimeOffset.Parse("2026-12-03T10:00:00Z", System.Globalization.CultureInfo.InvariantCulture);
        var big = Parse(TaskRecord.Build(RunStoreContract.Task(1), RunStoreContract.Outcome(OutcomeClass.Success, t0) with { ResultText = new string('x', 200_000) }, [], "herd", "0.1.0", Caps()));
        big.GetProperty("Stdout").GetString().ShouldEndWith("…[truncated]");
        for (var seq = 2; seq <= 4; seq++)
        {
            var record = Parse(TaskRecord.Build(RunStoreContract.Task(seq), RunStoreContract.Outcome(OutcomeClass.Success, t0) with { ResultText = $"r{seq}" }, [], "herd", "0.1.0", Caps()));
            record.GetProperty("Seq").GetInt32().ShouldBe(seq);
            record.GetProperty("Stdout").GetString().ShouldBe($"r{seq}");
            record.GetProperty("task").GetString().ShouldBe($"task-{seq}");
        }
    }

    private static CapsInForce Caps() => new(null, null, null, null);

    private static JsonElement Parse(string record) => JsonDocument.Parse(record).RootElement;

    private static string Record(int seq) =>
        TaskRecord.Build(RunStoreContract.Task(seq), RunStoreContract.Outcome(OutcomeClass.Success, DateTimeOffset.UnixEpoch), [], "herd", "0.1.0", Caps());

    private static string[] ReadShared(string path)
    {
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd().Split('\n', StringSplitOptions.RemoveEmptyEntries);
    }
}
