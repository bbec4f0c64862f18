using Herd.Testing;

namespace Herd.Cli.Tests.Sessions;

public sealed class StreamJsonInputTests : HerdTestBase
{
    [Fact]
    public async Task Each_stdin_user_message_gets_its_own_result_with_cumulative_cost()
    {
        Server.Reset(new ModelScript { Default = Reply.WithText("ok") });
        var stdin = """
            {"type":"user","message":{"role":"user","content":[{"type":"text","text":"first"}]},"uuid":"u-1"}

            {"type":"user","message":{"role":"user","content":"second"},"parent_tool_use_id":null,"session_id":"default"}
            {"type":"control_request","request_id":"r1","request":{"subtype":"initialize"}}
            """.Replace("\n", "\r\n");

        var run = await Herd.RunAsync(["-p", "--input-format", "stream-json", "--output-format", "stream-json", "--verbose"], stdin);

        run.ExitCode.ShouldBe(0, run.Stderr);
        var results = run.JsonLines.Where(l => (string?)l["type"] == "result").ToList();
        results.Count.ShouldBe(2);
        ((double)results[1]["total_cost_usd"]!).ShouldBe(2 * (double)results[0]["total_cost_usd"]!, 1e-12);
        ((string?)results[0]["user_message_uuid"]).ShouldBe("u-1");
        run.JsonLines.Count(l => (string?)l["subtype"] == "init").ShouldBe(2);
        // The second query sees the first: one conversation.
        Server.Requests[1].Json["messages"]!.AsArray().Count.ShouldBe(3);
    }

    [Fact]
    public async Task Replay_echoes_each_user_message()
    {
        Server.Reset(new ModelScript { Default = Reply.WithText("ok") });

        var run = await Herd.RunAsync(
            ["-p", "--input-format", "stream-json", "--output-format", "stream-json", "--verbose", "--replay-user-messages"],
            """{"type":"user","message":{"role":"user","content":"hello"}}""" + "\n");

        run.ExitCode.ShouldBe(0, run.Stderr);
        var replay = run.JsonLines.First(l => (string?)l["type"] == "user");
        ((bool)replay["isReplay"]!).ShouldBeTrue();
        ((string?)replay["message"]!["content"]).ShouldBe("hello");
    }
}
