using System.Text.Json.Nodes;
using Herd.Agent.Loop;
using Herd.Agent.Permissions;
using Herd.Agent.Sessions;
using Herd.Testing;
using Microsoft.Extensions.Time.Testing;

namespace Herd.Agent.Tests.Sessions;

/// <summary>The files an agent writes stamp their lines with the session's clock, not the machine's (a fake one here).</summary>
public sealed class InjectedClockTests : IDisposable
{
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2031, 2, 3, 4, 5, 6, 789, TimeSpan.Zero));
    private readonly TempDirectory _dir = new("herd-clock");

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void The_audit_log_stamps_a_tool_decision_with_the_injected_clock()
    {
        var path = _dir.Combine("audit.ndjson");

        using (var audit = new AuditLog(path, "s-1", _time))
            audit.OnEvent(new ToolCallEvent("Bash", "toolu_1", new JsonObject { ["command"] = "ls" }, PermissionBehavior.Allow, null, "allowed", TimeSpan.Zero, 0, false));

        var line = JsonNode.Parse(File.ReadAllLines(path).Single())!;
        ((string)line["timestamp"]!).ShouldStartWith("2031-02-03T04:05:06.789");
    }

    [Fact]
    public void The_transcript_stamps_each_line_with_the_injected_clock()
    {
        var path = _dir.Combine("session.jsonl");

        using (var transcript = new TranscriptWriter(path, "s-1", "/work", "default", null, _time))
        {
            transcript.OnEvent(new PromptEvent(new JsonObject { ["role"] = "user", ["content"] = "hi" }));
            _time.Advance(TimeSpan.FromSeconds(1));
            transcript.OnEvent(new PromptEvent(new JsonObject { ["role"] = "user", ["content"] = "again" }));
        }

        File.ReadAllLines(path).Select(l => (string)JsonNode.Parse(l)!["timestamp"]!).ShouldBe(["2031-02-03T04:05:06.789Z", "2031-02-03T04:05:07.789Z"]);
    }
}
