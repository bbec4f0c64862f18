using System.Text.Json;
using System.Text.Json.Nodes;
using Herd.Testing;

namespace Herd.Cli.Tests.Run;

public sealed class AuditLogTests
{
    [Fact]
    public async Task Every_tool_call_of_every_task_lands_in_one_audit_log_with_its_session()
    {
        // Given tasks whose model first lists the directory, then answers
        await using var h = await FleetHarness.StartAsync(new ModelScript
        {
            Conversations = [new Conversation(null, [Reply.WithTool("LS", new JsonObject()), Reply.WithText("done")])],
        });

        // When they run with --audit-log
        var exit = await h.RunAsync(["-j", "4", "--prompt", "Look at {}", "--audit-log", "audit.ndjson", "--run-dir", "run", "--progress", "none", ":::", .. FleetHarness.Inputs(6)]);

        // Then there is one decided line per task, each under that task's session id
        exit.ShouldBe(0, h.Err.ToString());
        var lines = File.ReadAllLines(Path.Combine(h.Dir, "audit.ndjson")).Select(l => JsonDocument.Parse(l).RootElement).ToList();
        lines.Count.ShouldBe(6);
        lines.ShouldAllBe(l => l.GetProperty("tool").GetString() == "LS" && l.GetProperty("decision").GetString() == "allow");
        var sessions = h.Records().Select(r => r.GetProperty("session_id").GetString()).ToHashSet();
        lines.Select(l => l.GetProperty("session_id").GetString()).ToHashSet().SetEquals(sessions).ShouldBeTrue();
    }
}
