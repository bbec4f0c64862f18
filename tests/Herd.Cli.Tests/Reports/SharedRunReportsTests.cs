using System.Text.Json.Nodes;
using System.Xml.Linq;
using Herd.Testing;

namespace Herd.Cli.Tests.Reports;

/// <summary>
/// The reports of a run kept in PostgreSQL (<c>herd run --store</c>), written by the real herd from the store one task
/// at a time (issue #23): the machine formats to stdout as they are made, and <c>herd runs show --json</c>.
/// </summary>
public sealed class SharedRunReportsTests : IAsyncLifetime
{
    private static string StoreUrl => Isolation.SharedIsolationEndToEndTests.StoreUrl;

    private readonly TempDirectory _work = new("herd-shared-reports");
    private ScriptedModelServer _server = null!;

    public async Task InitializeAsync() => _server = await ScriptedModelServer.StartAsync(new ModelScript
    {
        // Six files: each of f1..f5 reports one finding (high on even, low on odd); "bad" fails for good
        Conversations = [.. Enumerable.Range(1, 5).Select(i => new Conversation($"f{i}", [new Reply
        {
            Text = "Reviewed.",
            ToolCalls = [new ScriptedToolCall("StructuredOutput", new JsonObject
            {
                ["issues"] = new JsonArray(new JsonObject { ["severity"] = i % 2 == 0 ? "high" : "low", ["file"] = $"src/f{i}.cs", ["line"] = i, ["message"] = $"finding {i}" }),
            })],
        }])), new Conversation("bad", [Reply.Error(400, errorType: "invalid_request_error")])],
    });

    public async Task DisposeAsync()
    {
        await _server.DisposeAsync();
        _work.Dispose();
    }

    [Fact]
    public async Task JUnit_Code_Quality_and_runs_show_of_a_shared_run_are_read_from_the_store()
    {
        // Given a shared run of six review tasks, five with a finding and one failed
        var herd = new HerdProcess(_server.BaseUrl, _work.Path, _work.Combine("config")).WithEnvironment("HERD_STORE", null);
        var runId = $"rep-{Guid.NewGuid():N}"[..20];
        var run = await herd.RunAsync(["run", "--store", StoreUrl, "--json-schema", ReviewRunFixture.Schema, "--prompt", "Review {}", "--run-dir", runId,
            "--progress", "none", ":::", "f1", "f2", "f3", "f4", "f5", "bad"], timeout: TimeSpan.FromMinutes(2));
        run.ExitCode.ShouldBe(1, run.ToString());

        // When herd report writes the machine formats to stdout, and herd runs show sums it up
        var junit = await herd.RunAsync("report", runId, "--store", StoreUrl, "--format", "junit");
        var codeQuality = await herd.RunAsync("report", runId, "--store", StoreUrl, "--format", "codequality");
        var show = await herd.RunAsync("runs", "show", runId, "--store", StoreUrl, "--json");

        // Then each lists every task or finding, read from the store
        junit.ExitCode.ShouldBe(0, junit.ToString());
        var doc = XDocument.Parse(junit.Stdout);
        doc.Descendants("testcase").Count().ShouldBe(6);
        ((int)doc.Root!.Element("testsuite")!.Attribute("failures")!).ShouldBe(3, "the failed task and the two high findings");
        codeQuality.ExitCode.ShouldBe(0, codeQuality.ToString());
        var items = JsonNode.Parse(codeQuality.Stdout)!.AsArray();
        items.Select(i => (string?)i!["location"]!["path"]).Order().ShouldBe(["src/f1.cs", "src/f2.cs", "src/f3.cs", "src/f4.cs", "src/f5.cs"]);
        show.ExitCode.ShouldBe(0, show.ToString());
        var summary = show.Json;
        ((int)summary["tasks"]!).ShouldBe(6);
        ((int)summary["failed"]!).ShouldBe(1);
        ((double)summary["durations_s"]!["wall"]!).ShouldBeGreaterThan(0, "the span of the attempts, from one aggregate in the store");
        ((double)summary["durations_s"]!["task_max"]!).ShouldBeGreaterThanOrEqualTo((double)summary["durations_s"]!["task_p50"]!);
    }
}
