using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text.Json.Nodes;
using Herd.Fleet.Batches;
using Herd.Fleet.Store;
using Herd.Testing;

namespace Herd.Cli.Tests.Run;

/// <summary>
/// The real `herd run --batch` process killed (SIGKILL) or interrupted (SIGINT) while a Message Batch is in flight, then
/// resumed: the scripted server's request log proves that no request was submitted twice.
/// </summary>
public sealed partial class BatchResumeTests : HerdTestBase
{
    private const int Tasks = 20;

    [LibraryImport("libc", EntryPoint = "kill")]
    private static partial int Kill(int pid, int signal);

    /// <summary>Three turns (two directory listings, then an answer); the first batch takes <paramref name="firstBatchMs"/>.</summary>
    private static ModelScript Script(int firstBatchMs) => new()
    {
        BatchProcessingMs = firstBatchMs,
        Conversations =
        [
            new Conversation("Review", [
                new Reply { ToolCalls = [new ScriptedToolCall("LS", new JsonObject())], Usage = new ScriptedUsage(1000, 40) },
                new Reply { ToolCalls = [new ScriptedToolCall("LS", new JsonObject())], Usage = new ScriptedUsage(1300, 40) },
                new Reply { Text = "done", Usage = new ScriptedUsage(1500, 30) },
            ]),
        ],
    };

    private Process Start(params string[] argv)
    {
        var process = Herd.WithEnvironment("HERD_BATCH_POLL_MS", "50").WithEnvironment("HERD_RETRY_BASE_MS", "1").Start(argv);
        process.StandardInput.Close();
        return process;
    }

    private static readonly string[] NewRun = ["run", "--batch", "--prompt", "Review {}", "--run-dir", "run", "--progress", "none", ":::", .. FleetHarness.Inputs(Tasks)];

    /// <summary>Waits until the run store records a batch in flight (the API has accepted it and herd wrote its id).</summary>
    private async Task<BatchRow> BatchInFlightAsync(Process herd)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while (DateTime.UtcNow < deadline && !herd.HasExited)
        {
            // The API has the batch; herd writes its id right after the API answers.
            if (Server.BatchIds.Count > 0)
            {
                using var store = SqliteRunStore.OpenReadOnly(Path.Combine(Work.Path, "run"));
                if (((IBatchLedger)store).Batches() is [{ State: BatchState.InProgress } row])
                    return row;
            }
            await Task.Delay(20);
        }
        throw new TimeoutException("herd recorded no batch in flight: " + (herd.HasExited ? await herd.StandardError.ReadToEndAsync() : "still running"));
    }

    private string[] SubmittedCustomIds() => Server.Requests.Where(r => r.Path == "/v1/messages/batches")
        .SelectMany(r => r.Json["requests"]!.AsArray().Select(q => (string)q!["custom_id"]!)).ToArray();

    private async Task<HerdRun> ResumeAsync()
    {
        var resumed = await Herd.WithEnvironment("HERD_BATCH_POLL_MS", "50").RunAsync(["run", "--resume", "--run-dir", "run", "--progress", "none"], timeout: TimeSpan.FromSeconds(120));
        resumed.ExitCode.ShouldBe(0, resumed.ToString());
        return resumed;
    }

    private void EveryTaskEndedOnceAfterThreeTurns()
    {
        using var store = SqliteRunStore.Open(Path.Combine(Work.Path, "run"));
        store.Totals().Unfinished.ShouldBe(0);
        var records = store.FinalRecords().Select(r => System.Text.Json.JsonDocument.Parse(r).RootElement).ToArray();
        records.Length.ShouldBe(Tasks);
        records.ShouldAllBe(r => r.GetProperty("outcome").GetProperty("class").GetString() == "success" && r.GetProperty("num_turns").GetInt32() == 3);
        // Every answer was paid for once: three calls a task, each at the batch rate.
        Server.Served.Count(s => s.Completed).ShouldBe(3 * Tasks);
        Server.Served.ShouldAllBe(s => s.Batch);
    }

    [Fact]
    public async Task Kill_9_between_submit_and_results_then_resume_collects_the_batch_in_flight_and_submits_nothing_twice()
    {
        // Given a batch run whose first batch takes a few seconds
        Server.Reset(Script(firstBatchMs: 3000));
        using var first = Start(NewRun);
        var inFlight = await BatchInFlightAsync(first);
        // And `herd runs watch` shows the round in flight
        var watch = await Herd.RunAsync("runs", "watch", "run", "--once", "--json");
        var batch = JsonNode.Parse(watch.Stdout.Trim().Split('\n')[^1])!["batch"]!;
        ((int)batch["round"]!, (string?)batch["state"], (int)batch["processing"]!).ShouldBe((1, "in_progress", Tasks));
        var plain = await Herd.RunAsync("runs", "watch", "run", "--once");
        plain.Stdout.ShouldContain($"batch round 1 {inFlight.BatchId} in_progress: {Tasks} processing, 0 succeeded, 0 errored, 0 expired");

        // When herd is killed with SIGKILL between the submit and the results
        first.Kill(entireProcessTree: true);
        await first.WaitForExitAsync();
        Server.BatchIds.ShouldBe([inFlight.BatchId]);
        SubmittedCustomIds().Length.ShouldBe(Tasks);

        // Then --resume collects that batch instead of submitting its requests again, and finishes the run
        Server.Reset(Script(firstBatchMs: 0));
        await ResumeAsync();
        var ids = SubmittedCustomIds();
        ids.Length.ShouldBe(3 * Tasks);
        ids.Distinct().Count().ShouldBe(ids.Length);
        Server.BatchIds.Count.ShouldBe(3);
        EveryTaskEndedOnceAfterThreeTurns();
    }

    [Fact]
    public async Task Ctrl_C_leaves_the_batch_in_flight_by_default_and_resume_collects_it()
    {
        // Given a batch run with a batch in flight
        Server.Reset(Script(firstBatchMs: 3000));
        using var first = Start(NewRun);
        var inFlight = await BatchInFlightAsync(first);

        // When it gets SIGINT
        Kill(first.Id, 2).ShouldBe(0);
        var stderr = await first.StandardError.ReadToEndAsync();
        await first.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(30));

        // Then it exits 130 without cancelling the batch, and a resume collects it
        first.ExitCode.ShouldBe(130, stderr);
        using (var store = SqliteRunStore.OpenReadOnly(Path.Combine(Work.Path, "run")))
            ((IBatchLedger)store).Batches().Single().State.ShouldBe(BatchState.InProgress);
        await ResumeAsync();
        Server.BatchIds[0].ShouldBe(inFlight.BatchId);
        var ids = SubmittedCustomIds();
        ids.Distinct().Count().ShouldBe(3 * Tasks);
        ids.Length.ShouldBe(3 * Tasks);
        EveryTaskEndedOnceAfterThreeTurns();
    }

    [Fact]
    public async Task On_interrupt_cancel_cancels_the_batch_in_flight_and_resume_submits_its_requests_again()
    {
        // Given a batch run with --on-interrupt cancel and a batch in flight
        Server.Reset(Script(firstBatchMs: 30_000));
        using var first = Start([.. NewRun[..2], "--on-interrupt", "cancel", .. NewRun[2..]]);
        var inFlight = await BatchInFlightAsync(first);

        // When it gets SIGTERM
        Kill(first.Id, 15).ShouldBe(0);
        var stderr = await first.StandardError.ReadToEndAsync();
        await first.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(30));

        // Then the batch was cancelled before herd exited 143, and nothing it held was billed
        first.ExitCode.ShouldBe(143, stderr);
        Server.Served.ShouldBeEmpty(); // the cancelled batch answered nothing
        using (var store = SqliteRunStore.OpenReadOnly(Path.Combine(Work.Path, "run")))
            ((IBatchLedger)store).Batches().Single().State.ShouldBe(BatchState.Canceled);

        // And a resume learns the requests were canceled and sends them again, under new custom_ids
        Server.Reset(Script(firstBatchMs: 0));
        await ResumeAsync();
        var ids = SubmittedCustomIds();
        ids.Length.ShouldBe(4 * Tasks);
        ids.Distinct().Count().ShouldBe(ids.Length);
        EveryTaskEndedOnceAfterThreeTurns();
    }
}
