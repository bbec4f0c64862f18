using System.Text.Json.Nodes;
using Herd.Agent.Sessions;
using Herd.Testing;

namespace Herd.Cli.Tests.Sessions;

/// <summary>Transcripts with garbage or wrong-typed lines (issue #10, item 3): skipped like torn lines, never fatal, never overwritten.</summary>
public sealed class DamagedTranscriptTests : HerdTestBase
{
    private string ProjectDir => new SessionStore(Config.Path).ProjectDirectory(Work.Path);

    private static string[] Damage =>
    [
        "garbage that is not json",
        """{"type":"user","uuid":42,"message":{"role":"user","content":"a number for a uuid"}}""",
        """{"type":"user","uuid":"x1","isSidechain":"yes","message":{"role":"user","content":"a string for a bool"}}""",
        """{"type":"assistant","uuid":"x2","message":"a string for a message"}""",
        """{"type":"user","uuid":"x3","message":{"role":"user","content":[{"type":"text","text":7}]}}""",
        "\u0000\u0001\u0002 binary",
    ];

    [Fact]
    public async Task Wrong_typed_and_garbage_lines_are_skipped_when_a_session_is_resumed_and_listed()
    {
        // Given a session whose transcript then gets damaged lines appended
        Server.Reset(new ModelScript { Default = Reply.WithText("noted: {prompt}") });
        var start = await Herd.RunAsync("-p", "Start a review", "--output-format", "json");
        var id = (string)start.Json["session_id"]!;
        var path = Path.Combine(ProjectDir, id + ".jsonl");
        File.AppendAllLines(path, Damage);

        // When it is resumed and listed
        var resumed = await Herd.RunAsync("-p", "Go on", "--resume", id, "--output-format", "json");
        var listed = await Herd.RunAsync("sessions", "list");

        // Then the good lines carry the conversation and the bad ones are ignored
        resumed.ExitCode.ShouldBe(0, resumed.ToString());
        var texts = Server.Requests[^1].Json["messages"]!.AsArray().Where(m => (string?)m!["role"] == "user")
            .SelectMany(m => m!["content"] is JsonArray a ? a.Select(b => (string?)b!["text"]) : [(string?)m["content"]]);
        texts.ShouldBe(["Start a review", "Go on"]);
        listed.ExitCode.ShouldBe(0, listed.ToString());
        listed.Stdout.ShouldContain(id);
    }

    [Fact]
    public async Task Resuming_a_transcript_with_no_readable_message_is_an_error_and_the_file_is_untouched()
    {
        // Given a transcript that holds only damage
        var id = Guid.NewGuid().ToString();
        Directory.CreateDirectory(ProjectDir);
        var path = Path.Combine(ProjectDir, id + ".jsonl");
        File.WriteAllLines(path, Damage);
        var before = File.ReadAllBytes(path);

        // When it is resumed
        var run = await Herd.RunAsync("-p", "Go on", "--resume", id, "--output-format", "json");

        // Then herd refuses in one line instead of starting afresh and appending to it
        run.ExitCode.ShouldBe(1);
        run.Stdout.ShouldBeEmpty();
        run.Stderr.ShouldContain("is damaged");
        run.Stderr.ShouldContain(path);
        run.Stderr.TrimEnd('\n').ShouldNotContain("\n");
        File.ReadAllBytes(path).ShouldBe(before);
        Server.RequestCount.ShouldBe(0);
    }

    [Fact]
    public async Task Resuming_an_unreadable_transcript_is_an_error_naming_it()
    {
        // Given a "transcript" that is a directory
        var id = Guid.NewGuid().ToString();
        Directory.CreateDirectory(Path.Combine(ProjectDir, id + ".jsonl"));

        var run = await Herd.RunAsync("-p", "Go on", "--resume", id);

        run.ExitCode.ShouldBe(1);
        run.Stderr.TrimEnd('\n').ShouldNotContain("\n");
        run.Stderr.ShouldNotContain("Exception");
        Server.RequestCount.ShouldBe(0);
    }

    [Theory]
    [InlineData("*")]
    [InlineData("../../etc/passwd")]
    [InlineData("")]
    public async Task Resume_refuses_anything_that_is_not_a_session_id(string value)
    {
        // Given one stored session, which a glob such as '*' would otherwise find
        Server.Reset(new ModelScript { Default = Reply.WithText("ok") });
        (await Herd.RunAsync("-p", "first")).ExitCode.ShouldBe(0);

        var run = await Herd.RunAsync("-p", "Go on", "--resume", value);

        run.ExitCode.ShouldBe(1);
        run.Stderr.ShouldStartWith("Error: --resume requires a valid session ID");
        Server.RequestCount.ShouldBe(1);
    }
}
