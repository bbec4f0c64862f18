using Herd.Testing;

namespace Herd.Cli.Tests.Print;

/// <summary>Retries of 429/529/5xx, resets, stream errors, truncation and stalls; and what happens when they run out.</summary>
public sealed class ResilienceTests : HerdTestBase
{
    public static TheoryData<string, Reply> TransientFailures => new()
    {
        { "429 with retry-after", Reply.Error(429, retryAfter: 0.05) },
        { "529 overloaded", Reply.Error(529) },
        { "500", Reply.Error(500) },
        { "503", Reply.Error(503) },
        { "dropped connection", new Reply { Text = "cut off", DropAfterEvents = 2 } },
        { "truncated stream", new Reply { Text = "partial", Truncate = true } },
        { "mid-stream error event", new Reply { StreamError = "overloaded_error" } },
    };

    [Theory]
    [MemberData(nameof(TransientFailures))]
    public async Task A_transient_failure_is_retried_and_the_run_succeeds(string name, Reply failure)
    {
        Server.Reset(ModelScript.Replies(failure, failure, Reply.WithText("recovered")));

        var run = await Herd.RunAsync("-p", "hi", "--output-format", "stream-json", "--verbose");

        run.ExitCode.ShouldBe(0, $"{name}: {run.Stderr}");
        var retries = run.JsonLines.Where(l => (string?)l["subtype"] == "api_retry").ToList();
        retries.Count.ShouldBe(2, name);
        ((int)retries[0]["attempt"]!).ShouldBe(1);
        ((int)retries[1]["attempt"]!).ShouldBe(2);
        ((string?)run.JsonLines[^1]["result"]).ShouldBe("recovered");
        Server.RequestCount.ShouldBe(3);
    }

    [Fact]
    public async Task Retry_after_is_the_reported_wait()
    {
        // The wait itself is proved on a fake clock (Herd.Agent.Tests RetryClockTests); here, that the flag reaches the output.
        Server.Reset(ModelScript.Replies(Reply.Error(429, retryAfter: 0.05), Reply.WithText("ok")));

        var run = await Herd.RunAsync("-p", "hi", "--output-format", "stream-json", "--verbose");

        run.ExitCode.ShouldBe(0, run.Stderr);
        var retry = run.JsonLines.Single(l => (string?)l["subtype"] == "api_retry");
        ((int)retry["retry_delay_ms"]!).ShouldBe(50);
        ((int)retry["error_status"]!).ShouldBe(429);
        ((string?)retry["error"]).ShouldBe("rate_limit");
    }

    [Fact]
    public async Task A_stalled_stream_times_out_and_is_retried()
    {
        // The timeout logic runs on a fake clock in RetryClockTests; this checks HERD_STREAM_IDLE_TIMEOUT is wired.
        Server.Reset(ModelScript.Replies(new Reply { Text = "never", StallMs = 10_000 }, Reply.WithText("after the stall")));

        var run = await Herd.WithEnvironment("HERD_STREAM_IDLE_TIMEOUT", "200ms").RunAsync("-p", "hi");

        run.ExitCode.ShouldBe(0, run.Stderr);
        run.Stdout.ShouldBe("after the stall\n");
    }

    [Fact]
    public async Task When_retries_run_out_the_result_is_an_api_error_and_never_success()
    {
        Server.Reset(new ModelScript { Default = Reply.Error(529, retryAfter: 0) });

        var run = await Herd.WithEnvironment("HERD_MAX_RETRIES", "2").RunAsync("-p", "hi", "--output-format", "json");

        run.ExitCode.ShouldBe(1);
        var r = run.Json;
        ((string?)r["subtype"]).ShouldBe("success");
        ((bool)r["is_error"]!).ShouldBeTrue();
        ((string?)r["result"]).ShouldStartWith("API Error: 529 ");
        ((int)r["api_error_status"]!).ShouldBe(529);
        ((string?)r["terminal_reason"]).ShouldBe("api_error");
        r["errors"]!.AsArray().Count.ShouldBe(0);
        Server.RequestCount.ShouldBe(3);
    }

    [Fact]
    public async Task Authentication_errors_are_not_retried()
    {
        Server.Reset(new ModelScript { Default = Reply.Error(401) });

        var run = await Herd.RunAsync("-p", "hi", "--output-format", "json");

        run.ExitCode.ShouldBe(1);
        ((int)run.Json["api_error_status"]!).ShouldBe(401);
        Server.RequestCount.ShouldBe(1);
    }

    [Fact]
    public async Task An_overloaded_model_falls_back_and_the_main_model_is_tried_again_next_turn()
    {
        var file = Work.WriteFile("a.txt", "x");
        Server.Reset(new ModelScript
        {
            FailingModels = new Dictionary<string, int> { ["claude-opus-5-5"] = 529 },
            Queue = [Reply.WithTool("Read", new System.Text.Json.Nodes.JsonObject { ["file_path"] = file }), Reply.WithText("done")],
        });

        var run = await Herd.RunAsync("-p", "Run quick review", "--model", "opus", "--fallback-model", "sonnet", "--output-format", "json");

        run.ExitCode.ShouldBe(0, run.Stderr);
        Server.Requests.Select(r => (string?)r.Json["model"]).ShouldBe([
            "claude-opus-5-5", "claude-opus-5-5", "claude-opus-5-5", "claude-sonnet-5-5",
            "claude-opus-5-5", "claude-opus-5-5", "claude-opus-5-5", "claude-sonnet-5-5",
        ]);
        ((System.Text.Json.Nodes.JsonObject)run.Json["modelUsage"]!).Select(p => p.Key).ShouldBe(["claude-sonnet-5-5"]);
    }

    [Fact]
    public async Task An_unknown_model_falls_back_at_once()
    {
        Server.Reset(new ModelScript { FailingModels = new Dictionary<string, int> { ["claude-nope"] = 404 }, Default = Reply.WithText("ok") });

        var run = await Herd.RunAsync("-p", "hi", "--model", "claude-nope", "--fallback-model", "haiku,sonnet");

        run.ExitCode.ShouldBe(0, run.Stderr);
        Server.Requests.Select(r => (string?)r.Json["model"]).ShouldBe(["claude-nope", "claude-haiku-5-5"]);
    }
}
