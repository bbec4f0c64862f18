using Herd.Testing;

using Herd.Cli.Tests.Run;

namespace Herd.Cli.Tests.Engines;

/// <summary>A task of <c>--tasks</c> that names its own engine runs on it; the others on the run's <c>--engine</c>.</summary>
public sealed class PerTaskEngineTests
{
    [Fact]
    public async Task A_task_with_its_own_engine_runs_on_it_and_its_record_says_so()
    {
        // Given a cmd run whose tasks file has one task on the in-process agent, with its own prompt
        await using var h = await FleetHarness.StartAsync(new ModelScript { Default = Reply.WithText("Agent answer.") });
        await File.WriteAllLinesAsync(Path.Combine(h.Dir, "tasks.ndjson"),
        [
            """{"inputs":{"f":"a"}}""",
            """{"inputs":{"f":"b"},"engine":"herd","prompt":"Say {f}"}""",
        ]);

        // When it runs
        var exit = await h.RunAsync("--engine", "cmd", "--cmd", "echo cmd {f}", "--tasks", "tasks.ndjson", "--run-dir", "run", "--progress", "none");

        // Then each task ran on its engine, and the agent task reached the model
        exit.ShouldBe(0, h.Err.ToString());
        var records = h.Records();
        var a = records.Single(r => r.GetProperty("Stdout").GetString() == "cmd a");
        a.GetProperty("engine").GetString().ShouldBe("cmd");
        var b = records.Single(r => r.GetProperty("Stdout").GetString() == "Agent answer.");
        b.GetProperty("engine").GetString().ShouldBe("herd");
        h.Server.Requests.Count(q => q.Path == "/v1/messages").ShouldBe(1);
    }

    [Fact]
    public async Task An_unknown_engine_in_the_tasks_file_is_one_usage_line()
    {
        await using var h = await FleetHarness.StartAsync(new ModelScript());
        await File.WriteAllTextAsync(Path.Combine(h.Dir, "tasks.ndjson"), """{"inputs":{"f":"a"},"engine":"cursor"}""" + "\n");

        var exit = await h.RunAsync("--tasks", "tasks.ndjson", "--prompt", "Do {f}", "--run-dir", "run");

        exit.ShouldBe(255);
        h.Err.ToString().ShouldContain("\"cursor\" is not one of");
    }
}
