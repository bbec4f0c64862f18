using System.Diagnostics;
using System.Text.Json.Nodes;
using Herd.Testing;

namespace Herd.Cli.Tests.Print;

/// <summary>
/// Bad input to <c>herd -p</c>, by class (issue #10, item 3): untrusted JSON from the wire and stdin, schemas, a closed
/// port, numbers and durations, the config directory. Each ends in one line naming the thing and the fix, never a
/// stack trace.
/// </summary>
public sealed class BadInputTests : HerdTestBase
{
    private static void ShouldBeOneLineWithoutStackTrace(string stderr)
    {
        stderr.TrimEnd('\n').ShouldNotContain("\n");
        stderr.ShouldNotContain("   at ");
        stderr.ShouldNotContain("Exception");
    }

    [Theory]
    [InlineData("text/html", "<html><body>502 Bad Gateway</body></html>")]
    [InlineData("application/json", """{"id":"msg_1","type":"message","role":"assistant","content":[{"type":"text","text":"hi"}]}""")]
    public async Task A_200_that_is_not_an_event_stream_is_an_error_naming_its_content_type(string contentType, string body)
    {
        // Given a server (a proxy, a non-streaming endpoint) that answers 200 with something other than SSE
        Server.Reset(new ModelScript { Default = new Reply { RawBody = body, ContentType = contentType } });

        // When herd calls it
        var run = await Herd.RunAsync("-p", "hi", "--output-format", "json");

        // Then the run fails at once (retrying gets the same page) with the content type and the fix in the result
        run.ExitCode.ShouldBe(1, run.ToString());
        var result = (string?)run.Json["result"] ?? "";
        result.ShouldContain($"content type '{contentType}'");
        result.ShouldContain("ANTHROPIC_BASE_URL");
        Server.RequestCount.ShouldBe(1);
        run.Stderr.ShouldBeEmpty();
    }

    [Theory]
    [InlineData("event: message_start\ndata: {not json\n\n")]
    [InlineData("event: message_start\ndata: 42\n\n")]
    [InlineData("event: message_start\ndata: {\"type\":\"message_start\",\"message\":\"a string\"}\n\n")]
    [InlineData("event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":\"zero\"}\n\n")]
    public async Task A_malformed_stream_event_is_a_retried_api_error_not_a_crash(string sse)
    {
        Server.Reset(new ModelScript { Default = new Reply { RawBody = sse } });

        var run = await Herd.WithEnvironment("HERD_MAX_RETRIES", "1").RunAsync("-p", "hi", "--output-format", "json");

        run.ExitCode.ShouldBe(1, run.ToString());
        ((string?)run.Json["result"]).ShouldStartWith("API Error: Malformed stream event");
        Server.RequestCount.ShouldBe(2);
        run.Stderr.ShouldBeEmpty();
    }

    [Fact]
    public async Task Stream_json_input_lines_of_the_wrong_shape_are_skipped_with_a_warning()
    {
        Server.Reset(new ModelScript { Default = Reply.WithText("answered: {prompt}") });
        var stdin = string.Join('\n',
            "[1,2,3]",
            """{"type":5}""",
            """{"type":"user","message":"not an object"}""",
            """{"type":"user","message":{"role":"user","content":42}}""",
            """{"type":"user","message":{"role":"user","content":[1,2]}}""",
            """{"type":"user","uuid":7,"message":{"role":"user","content":"the good one"}}""") + "\n";

        var run = await Herd.RunAsync(["-p", "--input-format", "stream-json", "--output-format", "stream-json", "--verbose"], stdin);

        run.ExitCode.ShouldBe(0, run.ToString());
        run.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries).Length.ShouldBe(5);
        run.Stderr.ShouldNotContain("Exception");
        var result = run.JsonLines.Single(l => (string?)l["type"] == "result");
        ((string?)result["result"]).ShouldBe("answered: the good one");
        Server.RequestCount.ShouldBe(1);
    }

    [Theory]
    [InlineData("""{"type":"object","properties":{"a":{"$ref":"https://example.com/schemas/a.json"}}}""", "https://example.com/schemas/a.json")]
    [InlineData("""{"$ref":"other.json#/defs/x"}""", "other.json#/defs/x")]
    public async Task A_schema_referring_to_a_remote_schema_is_refused_before_any_api_call(string schema, string reference)
    {
        var run = await Herd.RunAsync("-p", "hi", "--json-schema", schema);

        run.ExitCode.ShouldBe(1);
        run.Stdout.ShouldBeEmpty();
        run.Stderr.ShouldContain(reference);
        run.Stderr.ShouldContain("$defs");
        ShouldBeOneLineWithoutStackTrace(run.Stderr);
        Server.RequestCount.ShouldBe(0);
    }

    [Fact]
    public async Task A_schema_with_an_internal_reference_and_id_is_accepted()
    {
        Server.Reset(ModelScript.Replies(Reply.WithTool("StructuredOutput", new JsonObject { ["a"] = 1 })));
        const string schema = """{"$id":"https://example.com/s.json","type":"object","properties":{"a":{"$ref":"#/$defs/n"}},"$defs":{"n":{"type":"integer"}}}""";

        var run = await Herd.RunAsync("-p", "hi", "--json-schema", schema, "--output-format", "json");

        run.ExitCode.ShouldBe(0, run.ToString());
        run.Json["structured_output"]!.ToJsonString().ShouldBe("""{"a":1}""");
    }

    [Fact]
    public async Task A_schema_nested_deeper_than_the_parser_allows_is_reported_as_such()
    {
        var schema = string.Concat(Enumerable.Repeat("""{"type":"array","items":""", 100)) + "{}" + new string('}', 100);

        var run = await Herd.RunAsync("-p", "hi", "--json-schema", schema);

        run.ExitCode.ShouldBe(1);
        run.Stderr.ShouldContain("nested 101 levels deep");
        run.Stderr.ShouldContain("at most 64");
        ShouldBeOneLineWithoutStackTrace(run.Stderr);
        Server.RequestCount.ShouldBe(0);
    }

    /// <summary>A loopback port that was just free: nothing listens there.</summary>
    private static int ClosedPort()
    {
        var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        var port = ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return port;
    }

    [Fact]
    public async Task A_closed_port_fails_within_seconds_naming_the_endpoint_and_connection_refused()
    {
        // Given an ANTHROPIC_BASE_URL where nothing listens
        var port = ClosedPort();
        var herd = new HerdProcess(new Uri($"http://127.0.0.1:{port}"), Work.Path, Config.Path).WithEnvironment("HERD_MAX_RETRIES", "2");
        var clock = Stopwatch.StartNew();

        // When herd runs
        var run = await herd.RunAsync("-p", "hi", "--output-format", "stream-json", "--verbose");

        // Then each retry and the result name the endpoint and the cause, and it is over in seconds
        clock.Elapsed.ShouldBeLessThan(TimeSpan.FromSeconds(20));
        run.ExitCode.ShouldBe(1, run.ToString());
        var retries = run.JsonLines.Where(l => (string?)l["subtype"] == "api_retry").ToList();
        retries.Count.ShouldBe(2);
        var result = run.JsonLines[^1];
        ((string?)result["result"]).ShouldBe($"API Error: Connection error: http://127.0.0.1:{port} (connection refused).");
    }

    [Fact]
    public async Task A_closed_port_prints_each_retry_and_gives_up_after_four_refusals_instead_of_minutes()
    {
        // Given an ANTHROPIC_BASE_URL where nothing listens, and Herd's default ten retries
        var port = ClosedPort();
        var herd = new HerdProcess(new Uri($"http://127.0.0.1:{port}"), Work.Path, Config.Path);

        // When herd runs
        var run = await herd.RunAsync("-p", "hi", "--exit-codes", "extended");

        // Then every retry is on stderr with the endpoint and the cause, and the fourth refusal ends it in one line
        var lines = run.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        lines.Where(l => !l.StartsWith("{\"herd_error\"", StringComparison.Ordinal)).Select(l => System.Text.RegularExpressions.Regex.Replace(l, @"in [0-9.]+ s$", "in N s")).ShouldBe([
            $"herd: API unreachable at http://127.0.0.1:{port}: connection refused; retry 1/10 in N s",
            $"herd: API unreachable at http://127.0.0.1:{port}: connection refused; retry 2/10 in N s",
            $"herd: API unreachable at http://127.0.0.1:{port}: connection refused; retry 3/10 in N s",
            $"herd: API unreachable at http://127.0.0.1:{port}: the first 4 connections were all refused, so nothing is listening there; giving up without more retries. Check ANTHROPIC_BASE_URL.",
        ]);
        // And the documented exit code: a retryable API error (1 without --exit-codes extended)
        run.ExitCode.ShouldBe(2, run.ToString());
        run.Stdout.ShouldContain("nothing is listening there");
    }

    [Theory]
    [InlineData("--timeout", "1e300s", "too long")]
    [InlineData("--timeout", "300%", "is not a duration")]
    [InlineData("--max-turns", "1e300", "positive whole number")]
    [InlineData("--max-turns", "0.5", "positive whole number")]
    [InlineData("--max-turns", "99999999999", "positive whole number")]
    [InlineData("--max-tokens", "-3", "positive whole number")]
    [InlineData("--max-budget-usd", "1e999", "US dollars")]
    [InlineData("--max-budget-usd", "NaN", "US dollars")]
    public async Task A_number_or_duration_out_of_range_is_one_line_naming_the_flag(string flag, string value, string expected)
    {
        var run = await Herd.RunAsync("-p", "hi", flag, value);

        run.ExitCode.ShouldBe(1);
        run.Stdout.ShouldBeEmpty();
        run.Stderr.ShouldContain(flag);
        run.Stderr.ShouldContain(expected);
        ShouldBeOneLineWithoutStackTrace(run.Stderr);
        Server.RequestCount.ShouldBe(0);
    }

    [Theory]
    [InlineData("HERD_STREAM_IDLE_TIMEOUT", "1e300")]
    [InlineData("HERD_RETRY_BASE_MS", "1e300")]
    [InlineData("HERD_MAX_RETRIES", "1e3")]
    public async Task A_huge_number_in_the_environment_is_one_line_naming_the_variable(string variable, string value)
    {
        var run = await Herd.WithEnvironment(variable, value).RunAsync("-p", "hi");

        run.ExitCode.ShouldBe(1);
        run.Stderr.ShouldContain(variable);
        ShouldBeOneLineWithoutStackTrace(run.Stderr);
        Server.RequestCount.ShouldBe(0);
    }

    [Fact]
    public async Task HERD_CONFIG_DIR_pointing_at_a_file_is_one_line_and_the_file_is_untouched()
    {
        var file = Work.WriteFile("not-a-dir", "keep me");

        var run = await Herd.WithEnvironment("HERD_CONFIG_DIR", file).RunAsync("-p", "hi");

        run.ExitCode.ShouldBe(1);
        run.Stderr.ShouldContain($"HERD_CONFIG_DIR '{file}' is a file");
        ShouldBeOneLineWithoutStackTrace(run.Stderr);
        File.ReadAllText(file).ShouldBe("keep me");
        Server.RequestCount.ShouldBe(0);
    }
}
