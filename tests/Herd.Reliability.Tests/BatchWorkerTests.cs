using System.Text.Json.Nodes;
using Herd.Testing;

namespace Herd.Reliability.Tests;

/// <summary>
/// A <c>herd run --batch</c> run enqueued in PostgreSQL and worked by real <c>herd worker</c> processes: each worker
/// submits the rounds of the tasks it holds, and no request is ever submitted twice.
/// </summary>
public sealed class BatchWorkerTests
{
    private const int Tasks = 40;

    private static HerdProcess Herd(Workspace ws) => ws.Herd().WithEnvironment("HERD_STORE", WorkerTestsDb.Url).WithEnvironment("HERD_BATCH_POLL_MS", "50");

    [Fact]
    public async Task Two_workers_finish_an_enqueued_batch_run_each_task_once_and_no_request_submitted_twice()
    {
        // Given a 40-task, 3-turn batch run enqueued in PostgreSQL
        await using var ws = await Workspace.StartAsync(new ModelScript
        {
            BatchProcessingMs = 200,
            Conversations =
            [
                new Conversation("Review", [
                    new Reply { ToolCalls = [new ScriptedToolCall("LS", new JsonObject())], Usage = new ScriptedUsage(1000, 40) },
                    new Reply { ToolCalls = [new ScriptedToolCall("LS", new JsonObject())], Usage = new ScriptedUsage(1300, 40) },
                    new Reply { Text = "done", Usage = new ScriptedUsage(1500, 30) },
                ]),
            ],
        });
        var runId = $"batch-{Guid.NewGuid():N}"[..20];
        var enqueue = await Herd(ws).RunAsync(["run", "--batch", "--model", TestPrices.Model, "--prompt", "Review {}", "--run-dir", runId, "--enqueue",
            ":::", .. Enumerable.Range(1, Tasks).Select(i => $"{runId}-t{i:D3}")]);
        enqueue.ExitCode.ShouldBe(0, enqueue.ToString());

        // When two workers work it, each holding at most 25 tasks
        var workers = Enumerable.Range(0, 2).Select(_ => ws.Start(Herd(ws), ["worker", "--run", runId, "-j", "25", "--lease", "3s"])).ToArray();
        foreach (var (process, _, stderr) in workers)
        {
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(90));
            await process.WaitForExitAsync(cts.Token);
            process.ExitCode.ShouldBe(0, await stderr);
        }

        // Then every task is done once, after three turns, each answer billed once at the batch rate
        WorkerTestsDb.Scalar<long>("SELECT COUNT(*) FROM herd_tasks WHERE run_id = $1 AND state = 'done' AND class = 'success'", runId).ShouldBe(Tasks);
        var ids = ws.Server.Requests.Where(r => r.Path == "/v1/messages/batches")
            .SelectMany(r => r.Json["requests"]!.AsArray().Select(q => (string)q!["custom_id"]!)).ToArray();
        ids.Length.ShouldBe(3 * Tasks);
        ids.Distinct().Count().ShouldBe(ids.Length);
        ws.Server.Served.Count(s => s.Completed).ShouldBe(3 * Tasks);
        ws.Server.Served.ShouldAllBe(s => s.Batch);
        // And the store holds every round, each collected
        WorkerTestsDb.Scalar<long>("SELECT COUNT(*) FROM herd_batches WHERE run_id = $1 AND state <> 'collected'", runId).ShouldBe(0);
        WorkerTestsDb.Scalar<long>("SELECT COUNT(DISTINCT custom_id) FROM herd_batch_requests WHERE run_id = $1 AND batch_id IS NOT NULL", runId).ShouldBe(3 * Tasks);
        var spent = WorkerTestsDb.Scalar<double>("SELECT SUM(cost_usd) FROM herd_tasks WHERE run_id = $1", runId);
        spent.ShouldBe(ws.Server.Served.Sum(s => TestPrices.CostOf(s.Usage)) * 0.5, 1e-9);
    }
}
