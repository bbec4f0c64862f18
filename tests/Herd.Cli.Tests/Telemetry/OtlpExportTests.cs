using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;
using Herd.Testing;

namespace Herd.Cli.Tests.Telemetry;

/// <summary>
/// OpenTelemetry export end to end (issue #12): the real herd process, the scripted model server and a loopback OTLP/HTTP
/// receiver that decodes the protobuf herd sends.
/// </summary>
public sealed partial class OtlpExportTests : HerdTestBase
{
    [System.Runtime.InteropServices.LibraryImport("libc", EntryPoint = "kill")]
    private static partial int Kill(int pid, int signal);

    private const string ApiKey = "sk-ant-test-secret-0123456789";

    private static readonly double[] TokenBuckets = [1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864];

    private static readonly double[] DurationBuckets = [0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92];

    [Fact]
    public async Task A_run_pointed_at_a_collector_delivers_a_span_tree_and_metrics_whose_tokens_and_cost_match_its_records()
    {
        // Given a collector, a model that answers one 429 first, reads a file for "alpha", refuses "gamma" with a 400
        await using var collector = await OtlpReceiver.StartAsync();
        var notes = Path.Combine(Work.Path, "notes.txt");
        File.WriteAllText(notes, "hello");
        Server.Reset(new ModelScript
        {
            Queue = [Reply.Error(429, retryAfter: 0.05)],
            Conversations =
            [
                new Conversation("alpha", [Reply.WithTool("Read", new JsonObject { ["file_path"] = notes }), Reply.WithText("read it", new ScriptedUsage(300, 40, CacheRead: 120, CacheCreation: 60))]),
                new Conversation("gamma", [Reply.Error(400)]),
            ],
            Default = Reply.WithText("ok", new ScriptedUsage(200, 30, CacheRead: 50, CacheCreation: 25)),
        });

        // When herd runs four tasks with export on
        var run = await WithCollector(collector)
            .RunAsync(["run", "-j", "2", "--allowedTools", "Read", "--prompt", "Summarize {}", "--run-dir", "run", "--progress", "none", ":::", "alpha", "beta", "gamma", "delta"], null, TimeSpan.FromSeconds(90));

        // Then the run itself is as without telemetry: one failure
        run.ExitCode.ShouldBe(1, run.ToString());
        var records = Records();
        records.Count.ShouldBe(4);
        var summary = JsonNode.Parse(File.ReadAllText(Path.Combine(Work.Path, "run", "summary.json")))!;
        summary["telemetry"]!["spans_dropped"]!.GetValue<long>().ShouldBe(0);
        summary["telemetry"]!["metric_exports_failed"]!.GetValue<long>().ShouldBe(0);

        // And the spans form herd.run → herd.task → herd.attempt → chat / execute_tool, in one trace
        var spans = collector.Spans;
        var root = spans.Single(s => s.Name == "herd.run");
        root.ParentSpanId.ShouldBeEmpty();
        root["herd.run.exit_code"].ShouldBe(1L);
        spans.ShouldAllBe(s => s.TraceId == root.TraceId);
        var tasks = spans.Where(s => s.Name == "herd.task").ToArray();
        tasks.Length.ShouldBe(4);
        tasks.ShouldAllBe(t => t.ParentSpanId == root.SpanId);
        var attempts = spans.Where(s => s.Name == "invoke_agent herd").ToArray();
        attempts.ShouldAllBe(a => tasks.Any(t => t.SpanId == a.ParentSpanId));
        var chats = spans.Where(s => s.Name.StartsWith("chat ", StringComparison.Ordinal)).ToArray();
        chats.ShouldAllBe(c => attempts.Any(a => a.SpanId == c.ParentSpanId));
        chats.Length.ShouldBe(5); // alpha twice, beta, gamma, delta once

        // And each task span carries its record's key, name, class and cost
        foreach (var record in records)
        {
            var key = record.GetProperty("key").GetString();
            var task = tasks.Single(t => (string?)t["herd.task.key"] == key);
            task["herd.task.name"].ShouldBe(record.GetProperty("task").GetString());
            task["herd.outcome.class"].ShouldBe(record.GetProperty("outcome").GetProperty("class").GetString());
            ((double)task["herd.cost_usd"]!).ShouldBe(record.GetProperty("cost_usd").GetDouble(), 1e-9);
            var sessionId = record.GetProperty("session_id").GetString();
            chats.Where(c => attempts.Single(a => a.SpanId == c.ParentSpanId).ParentSpanId == task.SpanId)
                .ShouldContain(c => (string?)c["gen_ai.conversation.id"] == sessionId);
        }
        var gamma = tasks.Single(t => (string?)t["herd.task.name"] == "gamma");
        gamma.StatusCode.ShouldBe(ReceivedSpan.StatusError);
        gamma["herd.outcome.class"].ShouldBe("invalid_request");
        chats.ShouldContain(c => c.StatusCode == ReceivedSpan.StatusError && (string?)c["error.type"] == "400");

        // And the chat spans follow the GenAI conventions, with cache reads and writes inside input_tokens
        var ok = chats.Where(c => c.StatusCode != ReceivedSpan.StatusError).ToArray();
        ok.ShouldAllBe(c => (string?)c["gen_ai.operation.name"] == "chat" && (string?)c["gen_ai.provider.name"] == "anthropic"
            && c["gen_ai.request.model"] != null && c["gen_ai.response.model"] != null);
        ok.ShouldContain(c => ((object[])c["gen_ai.response.finish_reasons"]!).Contains("end_turn"));
        ok.ShouldContain(c => ((object[])c["gen_ai.response.finish_reasons"]!).Contains("tool_use"));
        long RecordTokens(string kind) => records.Sum(r => r.GetProperty("tokens").GetProperty(kind).GetInt64());
        var recordInput = RecordTokens("input") + RecordTokens("cache_read") + RecordTokens("cache_write_5m") + RecordTokens("cache_write_1h");
        ok.Sum(c => (long)c["gen_ai.usage.input_tokens"]!).ShouldBe(recordInput);
        ok.Sum(c => (long)c["gen_ai.usage.output_tokens"]!).ShouldBe(RecordTokens("output"));
        var recordCost = records.Sum(r => r.GetProperty("cost_usd").GetDouble());
        ok.Sum(c => (double)c["herd.cost_usd"]!).ShouldBe(recordCost, 1e-9);
        summary["cost_usd"]!.GetValue<double>().ShouldBe(recordCost, 1e-9);

        // And the 429 is an event on the chat span that was retried
        chats.SelectMany(c => c.Events).ShouldContain(e => e.Name == "herd.api_retry" && (long?)e.Attributes["http.response.status_code"] == 429);

        // And the tool call is an execute_tool span with its permission decision
        var tool = spans.Single(s => s.Name == "execute_tool Read");
        tool["gen_ai.tool.name"].ShouldBe("Read");
        tool["gen_ai.operation.name"].ShouldBe("execute_tool");
        tool["herd.permission.decision"].ShouldBe("allow");
        attempts.ShouldContain(a => a.SpanId == tool.ParentSpanId);

        // And the spans follow the GenAI semantic conventions: the agent span is invoke_agent {name} with its provider,
        // chat spans name the server they called, and a run that finished with a failed task says that, not "finished"
        attempts.ShouldAllBe(a => (string?)a["gen_ai.provider.name"] == "anthropic" && (string?)a["gen_ai.agent.name"] == "herd" && (string?)a["gen_ai.operation.name"] == "invoke_agent");
        chats.ShouldAllBe(c => (string?)c["server.address"] == Server.BaseUrl.Host && (long?)c["server.port"] == Server.BaseUrl.Port);
        root["error.type"].ShouldBe("tasks_failed");
        GenAiConventions.ShouldFollow(spans);

        // And the official OTLP message definitions read the same spans (every export parsed with opentelemetry-proto)
        var official = collector.OfficialTraceExports.SelectMany(e => e.ResourceSpans).SelectMany(r => r.ScopeSpans).SelectMany(s => s.Spans).ToArray();
        official.Select(s => s.Name).Order(StringComparer.Ordinal).ShouldBe(spans.Select(s => s.Name).Order(StringComparer.Ordinal));
        official.ShouldAllBe(s => s.TraceId.Length == 16 && s.SpanId.Length == 8 && s.EndTimeUnixNano >= s.StartTimeUnixNano);
        collector.OfficialMetricExports.SelectMany(e => e.ResourceMetrics).SelectMany(r => r.ScopeMetrics).SelectMany(s => s.Metrics)
            .Select(m => m.Name).ShouldContain("gen_ai.client.token.usage");

        // And the metrics carry the same totals, with the conventions' units and buckets
        var metrics = collector.LatestMetrics();
        var tokens = metrics["gen_ai.client.token.usage"];
        tokens.Unit.ShouldBe("{token}");
        tokens.Kind.ShouldBe("histogram");
        tokens.Points.ShouldAllBe(p => p.ExplicitBounds.SequenceEqual(TokenBuckets));
        tokens.Points.Where(p => (string?)p.Attributes["gen_ai.token.type"] == "input").Sum(p => p.Value).ShouldBe(recordInput);
        tokens.Points.Where(p => (string?)p.Attributes["gen_ai.token.type"] == "output").Sum(p => p.Value).ShouldBe(RecordTokens("output"));
        var duration = metrics["gen_ai.client.operation.duration"];
        duration.Unit.ShouldBe("s");
        duration.Points.ShouldAllBe(p => p.ExplicitBounds.SequenceEqual(DurationBuckets));
        duration.Points.Sum(p => (double)p.Count).ShouldBe(5);
        metrics["herd.cost"].Points.Sum(p => p.Value).ShouldBe(recordCost, 1e-9);
        var byClass = metrics["herd.tasks"].Points.ToDictionary(p => (string)p.Attributes["herd.outcome.class"]!, p => p.Value);
        byClass["success"].ShouldBe(3);
        byClass["invalid_request"].ShouldBe(1);
        metrics["herd.rate_limit.responses"].Points.ShouldContain(p => (long?)p.Attributes["http.response.status_code"] == 429 && p.Value >= 1);
        metrics["herd.concurrency.limit"].Points.Single().Value.ShouldBe(2);
        metrics["herd.tasks.running"].Points.Single().Value.ShouldBe(0);

        // And the standard variables were honoured, and no secret or prompt text is in any attribute
        collector.Resources.ShouldNotBeEmpty();
        collector.Resources.ShouldAllBe(r => (string?)r.GetValueOrDefault("service.name") == "herd-e2e" && (string?)r.GetValueOrDefault("deployment.environment") == "test", string.Join(";", collector.Resources.SelectMany(r => r.Select(kv => kv.Key + "=" + kv.Value))));
        collector.AuthHeaders.ShouldAllBe(h => h == "Bearer collector-t0ken");
        var everything = string.Join("\n", spans.SelectMany(s => s.Attributes.Values.Concat(s.Events.SelectMany(e => e.Attributes.Values))).Select(v => v is object[] a ? string.Join(",", a) : v?.ToString()));
        everything.ShouldNotContain(ApiKey);
        everything.ShouldNotContain("collector-t0ken");
        everything.ShouldNotContain("Summarize");
    }

    [Fact]
    public async Task Print_mode_exports_an_agent_span_and_puts_prompt_text_on_spans_only_when_asked()
    {
        // Given a collector and a model that calls a tool, then answers
        await using var collector = await OtlpReceiver.StartAsync();
        Server.Reset(ModelScript.Replies(Reply.WithTool("Bash", new JsonObject { ["command"] = "rm -rf build-output" }), Reply.WithText("the answer")));

        // When herd -p runs with --otel-capture-content and Bash not allowed
        var run = await WithCollector(collector).RunAsync(["-p", "--otel-capture-content", "--output-format", "json", "What is the secret-free question?"], null, TimeSpan.FromSeconds(60));

        // Then an invoke_agent span holds two chat spans and a denied execute_tool span, and the text is on them
        run.ExitCode.ShouldBe(0, run.ToString());
        var spans = collector.Spans;
        var agent = spans.Single(s => s.Name == "invoke_agent herd");
        agent["gen_ai.conversation.id"].ShouldBe(run.Json["session_id"]!.GetValue<string>());
        ((double)agent["herd.cost_usd"]!).ShouldBe(run.Json["total_cost_usd"]!.GetValue<double>(), 1e-9);
        var chats = spans.Where(s => s.Name.StartsWith("chat ", StringComparison.Ordinal) && s.ParentSpanId == agent.SpanId).ToArray();
        chats.Length.ShouldBe(2);
        ((string)chats.Single(c => c["gen_ai.input.messages"] is not null)["gen_ai.input.messages"]!).ShouldContain("secret-free question");
        chats.ShouldContain(c => ((string?)c["gen_ai.output.messages"] ?? "").Contains("the answer"));
        var tool = spans.Single(s => s.Name == "execute_tool Bash");
        tool["herd.permission.decision"].ShouldBe("deny");
        tool.StatusCode.ShouldBe(ReceivedSpan.StatusError);
        ((string)tool["gen_ai.tool.call.arguments"]!).ShouldContain("rm -rf build-output");
    }

    [Fact]
    public async Task With_the_grpc_protocol_a_run_exports_its_spans_and_metrics_to_an_otlp_grpc_collector()
    {
        // Given an OTLP/gRPC collector
        await using var collector = await OtlpReceiver.StartAsync(grpc: true);
        Server.Reset(new ModelScript { Default = Reply.WithText("ok", new ScriptedUsage(100, 10)) });

        // When a run exports with OTEL_EXPORTER_OTLP_PROTOCOL=grpc
        var run = await Herd.WithEnvironment("OTEL_EXPORTER_OTLP_ENDPOINT", collector.BaseUrl.ToString().TrimEnd('/'))
            .WithEnvironment("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")
            .RunAsync(["run", "--prompt", "Do {}", "--run-dir", "run", "--progress", "none", ":::", "a", "b"], null, TimeSpan.FromSeconds(60));

        // Then the span tree and the token metric arrive
        run.ExitCode.ShouldBe(0, run.ToString());
        collector.Spans.Count(s => s.Name == "herd.task").ShouldBe(2);
        collector.Spans.Count(s => s.Name.StartsWith("chat ", StringComparison.Ordinal)).ShouldBe(2);
        collector.LatestMetrics()["gen_ai.client.token.usage"].Points
            .Where(p => (string?)p.Attributes["gen_ai.token.type"] == "output").Sum(p => p.Value).ShouldBe(20);
        var summary = JsonNode.Parse(File.ReadAllText(Path.Combine(Work.Path, "run", "summary.json")))!;
        summary["telemetry"]!["spans_dropped"]!.GetValue<long>().ShouldBe(0);
    }

    [Fact]
    public async Task An_interrupted_run_still_flushes_its_spans_before_exiting_130()
    {
        // Given a run whose two tasks are waiting on slow replies
        await using var collector = await OtlpReceiver.StartAsync();
        Server.Reset(new ModelScript { LatencyMs = 20_000 });
        using var process = WithCollector(collector).Start(["run", "-j", "2", "--prompt", "Do {}", "--run-dir", "run", "--progress", "none", ":::", "a", "b"]);
        process.StandardInput.Close();
        var stderr = process.StandardError.ReadToEndAsync();
        for (var i = 0; i < 200 && Server.RequestCount < 2; i++)
            await Task.Delay(50);
        Server.RequestCount.ShouldBe(2);

        // When it gets SIGINT
        Kill(process.Id, 2).ShouldBe(0);
        await process.StandardOutput.ReadToEndAsync();
        await process.WaitForExitAsync();

        // Then it exits 130 and the collector has the run's spans: the run interrupted, its tasks unfinished
        process.ExitCode.ShouldBe(130, await stderr);
        var root = collector.Spans.Single(s => s.Name == "herd.run");
        root["herd.run.status"].ShouldBe("interrupted");
        root["herd.run.exit_code"].ShouldBe(130L);
        var tasks = collector.Spans.Where(s => s.Name == "herd.task").ToArray();
        tasks.Length.ShouldBe(2);
        tasks.ShouldAllBe(t => (string?)t["herd.task.state"] == "unfinished" && t.ParentSpanId == root.SpanId);
        collector.Spans.Count(s => s.Name == "invoke_agent herd").ShouldBe(2);
    }

    [Fact]
    public async Task Print_mode_flushes_its_spans_on_SIGTERM()
    {
        // Given herd -p waiting on a slow reply
        await using var collector = await OtlpReceiver.StartAsync();
        Server.Reset(new ModelScript { LatencyMs = 20_000 });
        using var process = WithCollector(collector).Start(["-p", "slow", "--output-format", "stream-json", "--verbose"]);
        process.StandardInput.Close();
        using (var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30)))
        {
            while (await process.StandardOutput.ReadLineAsync(cts.Token) is { } line && !line.Contains("\"subtype\":\"status\"", StringComparison.Ordinal))
            {
            }
        }

        // When it gets SIGTERM
        Kill(process.Id, 15).ShouldBe(0);
        await process.StandardOutput.ReadToEndAsync();
        await process.WaitForExitAsync();

        // Then it exits 143 and its agent span, marked as cut off, reached the collector
        process.ExitCode.ShouldBe(143);
        var agent = collector.Spans.Single(s => s.Name == "invoke_agent herd");
        agent.StatusCode.ShouldBe(ReceivedSpan.StatusError);
        agent["herd.terminal_reason"].ShouldBe("aborted_streaming");
    }

    [Fact]
    public async Task A_collector_that_is_down_neither_fails_nor_slows_a_run_and_the_dropped_spans_are_counted()
    {
        // Given an endpoint where nothing listens
        using var closed = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        closed.Start();
        var port = ((System.Net.IPEndPoint)closed.LocalEndpoint).Port;
        closed.Stop();
        Server.Reset(new ModelScript { Default = Reply.WithText("ok") });

        // When a run exports to it
        var watch = Stopwatch.StartNew();
        var run = await Herd.WithEnvironment("OTEL_EXPORTER_OTLP_ENDPOINT", $"http://127.0.0.1:{port}")
            .RunAsync(["run", "-j", "2", "--prompt", "Do {}", "--run-dir", "run", "--progress", "none", ":::", "a", "b", "c"], null, TimeSpan.FromSeconds(60));

        // Then it succeeds, within the flush budget, and summary.json says what was lost
        run.ExitCode.ShouldBe(0, run.ToString());
        watch.Elapsed.ShouldBeLessThan(TimeSpan.FromSeconds(20));
        var summary = JsonNode.Parse(File.ReadAllText(Path.Combine(Work.Path, "run", "summary.json")))!;
        summary["telemetry"]!["spans_dropped"]!.GetValue<long>().ShouldBeGreaterThan(0);
    }

    [Fact]
    public async Task Without_an_endpoint_nothing_is_exported_and_the_summary_has_no_telemetry_section()
    {
        // Given a collector that herd is not told about
        await using var collector = await OtlpReceiver.StartAsync();
        Server.Reset(new ModelScript { Default = Reply.WithText("ok") });

        // When a run goes without OTEL_ variables
        var run = await Herd.WithEnvironment("OTEL_EXPORTER_OTLP_ENDPOINT", null)
            .RunAsync(["run", "--prompt", "Do {}", "--run-dir", "run", "--progress", "none", ":::", "a"], null, TimeSpan.FromSeconds(60));

        // Then the summary has no telemetry object and nothing arrived
        run.ExitCode.ShouldBe(0, run.ToString());
        File.ReadAllText(Path.Combine(Work.Path, "run", "summary.json")).ShouldNotContain("telemetry");
        collector.Spans.ShouldBeEmpty();
    }

    [Fact]
    public async Task An_unsupported_protocol_is_one_line_naming_the_variable()
    {
        var run = await Herd.WithEnvironment("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:1")
            .WithEnvironment("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json")
            .RunAsync(["run", "--prompt", "Do {}", "--run-dir", "run", ":::", "a"], null, TimeSpan.FromSeconds(60));

        run.ExitCode.ShouldBe(255);
        run.Stderr.Trim().Split('\n').Length.ShouldBe(1);
        run.Stderr.ShouldContain("OTEL_EXPORTER_OTLP_PROTOCOL");
        Directory.Exists(Path.Combine(Work.Path, "run")).ShouldBeFalse();
    }

    private HerdProcess WithCollector(OtlpReceiver collector) => Herd
        .WithEnvironment("OTEL_EXPORTER_OTLP_ENDPOINT", collector.BaseUrl.ToString().TrimEnd('/'))
        .WithEnvironment("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
        .WithEnvironment("OTEL_EXPORTER_OTLP_HEADERS", "Authorization=Bearer collector-t0ken")
        .WithEnvironment("OTEL_SERVICE_NAME", "herd-e2e")
        .WithEnvironment("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment=test");

    private List<JsonElement> Records() =>
        File.ReadAllLines(Path.Combine(Work.Path, "run", "results.ndjson")).Where(l => l.Length > 0).Select(l => JsonDocument.Parse(l).RootElement.Clone()).ToList();
}
