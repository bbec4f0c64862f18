using System.Text.Json.Nodes;
using Herd.Testing;

namespace Herd.Cli.Tests.Run;

public sealed class TaskBudgetTests
{
    [Fact]
    public async Task A_task_budget_holds_across_retries_not_per_attempt()
    {
        // Given a task whose every attempt spends $0.0153 on a first call (100 in, 1000 out at $3/$15), then fails on a
        // retryable 500. Strictly held, the first call of an attempt reserves about $0.026 (its request bytes bound the
        // input) and the second about $0.017 (the first call's tokens bound it).
        await using var h = await FleetHarness.StartAsync(new ModelScript
        {
            Conversations = [new Conversation(null, [
                Reply.WithTool("LS", new JsonObject()) with { Usage = new ScriptedUsage(Input: 100, Output: 1000) },
                Reply.Error(500)])],
        });

        // When it runs with three retries and a $0.036 task budget: attempt 1 can afford both calls, and a retry, left
        // with $0.0207, cannot afford its first call
        // (priced as Sonnet 4.5, named because the default model is Opus 5.5 since Claude Code 2.1.332)
        var exit = await h.RunAsync(["--model", "claude-sonnet-4-5", "--retries", "3", "--retry-base", "1ms", "--task-budget-usd", "0.036", "--budget-mode", "strict",
            "--tools", "", "--prompt", "Do {}", "--run-dir", "run", "--progress", "none", ":::", "only"]);

        // Then the second attempt gets only what the first left, cannot afford a call, and the task stops on its budget
        exit.ShouldBe(1, h.Err.ToString());
        var record = h.Records().Single();
        record.GetProperty("cost_usd").GetDouble().ShouldBeLessThanOrEqualTo(0.036);
        record.GetProperty("cost_usd").GetDouble().ShouldBe(0.0153, 1e-12);
        record.GetProperty("outcome").GetProperty("class").GetString().ShouldBe("task_budget");
        record.GetProperty("attempts").GetArrayLength().ShouldBe(2);
    }
}
