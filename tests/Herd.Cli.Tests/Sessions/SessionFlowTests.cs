using System.Text.Json.Nodes;
using Herd.Agent.Sessions;
using Herd.Testing;

namespace Herd.Cli.Tests.Sessions;

public sealed class SessionFlowTests : HerdTestBase
{
    private string ProjectDir => new SessionStore(Config.Path).ProjectDirectory(Work.Path);

    private static IEnumerable<string?> UserTexts(RecordedRequest request) =>
        request.Json["messages"]!.AsArray()
            .Where(m => (string?)m!["role"] == "user")
            .SelectMany(m => m!["content"] is JsonArray a ? a.Select(b => (string?)b!["text"]) : [(string?)m["content"]]);

    [Fact]
    public async Task I_can_start_resume_continue_and_fork_a_session_as_the_docs_show()
    {
        Server.Reset(new ModelScript { Default = Reply.WithText("noted: {prompt}") });

        // session_id=$(herd -p "Start a review" --output-format json | jq -r '.session_id')
        var start = await Herd.RunAsync("-p", "Start a review", "--output-format", "json");
        var sessionId = (string)start.Json["session_id"]!;
        File.Exists(Path.Combine(ProjectDir, sessionId + ".jsonl")).ShouldBeTrue();

        // herd -p "Continue that review" --resume "$session_id"
        var resumed = await Herd.RunAsync("-p", "Continue that review", "--resume", sessionId, "--output-format", "json");
        resumed.ExitCode.ShouldBe(0, resumed.Stderr);
        ((string?)resumed.Json["session_id"]).ShouldBe(sessionId);
        UserTexts(Server.Requests[^1]).ShouldBe(["Start a review", "Continue that review"]);

        // herd -p "Now focus on database queries" --continue
        var continued = await Herd.RunAsync("-p", "Now focus on database queries", "--continue", "--output-format", "json");
        ((string?)continued.Json["session_id"]).ShouldBe(sessionId);
        UserTexts(Server.Requests[^1]).ShouldBe(["Start a review", "Continue that review", "Now focus on database queries"]);
        var linesBeforeFork = File.ReadAllLines(Path.Combine(ProjectDir, sessionId + ".jsonl")).Length;

        // herd -p "Try an alternative approach" --resume "$session_id" --fork-session
        var forked = await Herd.RunAsync("-p", "Try an alternative approach", "--resume", sessionId, "--fork-session", "--output-format", "json");
        var forkId = (string)forked.Json["session_id"]!;
        forkId.ShouldNotBe(sessionId);
        UserTexts(Server.Requests[^1]).ShouldBe(["Start a review", "Continue that review", "Now focus on database queries", "Try an alternative approach"]);
        File.ReadAllLines(Path.Combine(ProjectDir, sessionId + ".jsonl")).Length.ShouldBe(linesBeforeFork);
        var forkFile = SessionStore.Load(Path.Combine(ProjectDir, forkId + ".jsonl"));
        forkFile.Messages.Count.ShouldBe(8);
        forkFile.Lines.Where(l => l["sessionId"] is not null).ShouldAllBe(l => (string?)l["sessionId"] == forkId);
    }

    [Fact]
    public async Task Transcript_lines_are_chained_by_uuid_and_record_print_mode()
    {
        var file = Work.WriteFile("a.txt", "x");
        Server.Reset(ModelScript.Replies(Reply.WithTool("Read", new JsonObject { ["file_path"] = file }), Reply.WithText("done")));

        var run = await Herd.RunAsync("-p", "read", "--output-format", "json");

        var lines = SessionStore.ReadLines(Path.Combine(ProjectDir, (string)run.Json["session_id"]! + ".jsonl")).ToList();
        lines.Select(l => (string?)l["type"]).ShouldBe(["user", "assistant", "user", "assistant"]);
        ((string?)lines[0]["parentUuid"]).ShouldBeNull();
        for (var i = 1; i < lines.Count; i++)
            ((string?)lines[i]["parentUuid"]).ShouldBe((string?)lines[i - 1]["uuid"]);
        lines.ShouldAllBe(l => (string?)l["entrypoint"] == "sdk-cli" && (string?)l["cwd"] == Work.Path);
        lines[2]["toolUseResult"].ShouldNotBeNull();
    }

    [Fact]
    public async Task No_session_persistence_writes_nothing_and_cannot_be_resumed()
    {
        Server.Reset(new ModelScript { Default = Reply.WithText("ok") });

        var run = await Herd.RunAsync("-p", "Review this diff", "--no-session-persistence", "--output-format", "json");
        var id = (string)run.Json["session_id"]!;

        Directory.Exists(Path.Combine(Config.Path, "projects")).ShouldBeFalse();
        var resume = await Herd.RunAsync("-p", "again", "--resume", id);
        resume.ExitCode.ShouldBe(1);
        resume.Stderr.Trim().ShouldBe($"No conversation found with session ID: {id}");
    }

    [Fact]
    public async Task Resuming_an_unknown_id_in_stream_json_prints_the_error_result()
    {
        var run = await Herd.RunAsync("-p", "x", "--resume", "11111111-2222-3333-4444-555555555555", "--output-format", "stream-json", "--verbose");

        run.ExitCode.ShouldBe(1);
        var result = run.JsonLines.Single();
        ((string?)result["subtype"]).ShouldBe("error_during_execution");
        ((bool)result["is_error"]!).ShouldBeTrue();
        ((int)result["num_turns"]!).ShouldBe(0);
        result["errors"]!.AsArray().Select(e => (string?)e).ShouldBe(["No conversation found with session ID: 11111111-2222-3333-4444-555555555555"]);
        Server.RequestCount.ShouldBe(0);
    }

    [Fact]
    public async Task A_session_id_can_be_chosen_once_and_is_refused_when_in_use()
    {
        Server.Reset(new ModelScript { Default = Reply.WithText("ok") });
        const string id = "6170607e-0000-4000-8000-000000000001";

        var first = await Herd.RunAsync("-p", "hi", "--session-id", id, "--output-format", "json");
        ((string?)first.Json["session_id"]).ShouldBe(id);

        var second = await Herd.RunAsync("-p", "hi", "--session-id", id);
        second.ExitCode.ShouldBe(1);
        second.Stderr.Trim().ShouldBe($"Error: Session ID {id} is already in use.");
    }

    [Fact]
    public async Task A_fork_can_be_named_with_session_id_but_a_plain_resume_cannot()
    {
        Server.Reset(new ModelScript { Default = Reply.WithText("ok") });
        var start = await Herd.RunAsync("-p", "hi", "--output-format", "json");
        var id = (string)start.Json["session_id"]!;
        const string forkId = "6170607e-0000-4000-8000-000000000002";

        var bad = await Herd.RunAsync("-p", "x", "--resume", id, "--session-id", forkId);
        bad.ExitCode.ShouldBe(1);
        bad.Stderr.ShouldContain("--fork-session");

        var fork = await Herd.RunAsync("-p", "x", "--resume", id, "--session-id", forkId, "--fork-session", "--output-format", "json");
        ((string?)fork.Json["session_id"]).ShouldBe(forkId);
    }

    [Fact]
    public async Task A_session_whose_last_line_was_torn_by_a_killed_process_resumes()
    {
        Server.Reset(new ModelScript { Default = Reply.WithText("ok") });
        var start = await Herd.RunAsync("-p", "first", "--output-format", "json");
        var id = (string)start.Json["session_id"]!;
        var path = Path.Combine(ProjectDir, id + ".jsonl");
        File.AppendAllText(path, "{\"parentUuid\":\"x\",\"type\":\"user\",\"message\":{\"role\":\"user\",\"content\":\"tor");

        var resumed = await Herd.RunAsync("-p", "second", "--resume", id, "--output-format", "json");

        resumed.ExitCode.ShouldBe(0, resumed.Stderr);
        UserTexts(Server.Requests[^1]).ShouldBe(["first", "second"]);
    }

    [Fact]
    public async Task Sixty_four_herd_processes_in_one_directory_each_keep_a_readable_session()
    {
        Server.Reset(new ModelScript { Default = Reply.WithText("ok {prompt}") });

        var runs = await Task.WhenAll(Enumerable.Range(0, 64).Select(i =>
            Herd.RunAsync(["-p", $"task {i}", "--output-format", "json"], timeout: TimeSpan.FromMinutes(3))));

        runs.ShouldAllBe(r => r.ExitCode == 0);
        var ids = runs.Select(r => (string)r.Json["session_id"]!).ToHashSet();
        ids.Count.ShouldBe(64);
        var files = Directory.GetFiles(ProjectDir, "*.jsonl");
        files.Length.ShouldBe(64);
        foreach (var file in files)
        {
            File.ReadAllLines(file).ShouldAllBe(l => System.Text.Json.Nodes.JsonNode.Parse(l) != null);
            SessionStore.Load(file).Messages.Count.ShouldBe(2);
        }
    }

    [Fact]
    public async Task Concurrent_resumes_of_one_session_append_whole_lines()
    {
        Server.Reset(new ModelScript { Default = Reply.WithText(new string('z', 3000)) });
        var start = await Herd.RunAsync("-p", "root", "--output-format", "json");
        var id = (string)start.Json["session_id"]!;

        var runs = await Task.WhenAll(Enumerable.Range(0, 16).Select(i =>
            Herd.RunAsync(["-p", $"branch {i}", "--resume", id, "--output-format", "json"], timeout: TimeSpan.FromMinutes(2))));

        runs.ShouldAllBe(r => r.ExitCode == 0);
        var lines = File.ReadAllLines(Path.Combine(ProjectDir, id + ".jsonl"));
        lines.Length.ShouldBe(2 + 16 * 2);
        lines.ShouldAllBe(l => System.Text.Json.Nodes.JsonNode.Parse(l) != null);
    }

    [Fact]
    public async Task I_can_list_and_show_sessions_for_people_and_scripts()
    {
        Server.Reset(new ModelScript { Default = Reply.WithText("answer") });
        var start = await Herd.RunAsync("-p", "Find the bug", "--output-format", "json");
        var id = (string)start.Json["session_id"]!;

        var table = await Herd.RunAsync("sessions", "list");
        table.ExitCode.ShouldBe(0);
        table.Stdout.ShouldContain(id);
        table.Stdout.ShouldContain("Find the bug");

        var json = await Herd.RunAsync("sessions", "list", "--json");
        var listed = JsonNode.Parse(json.Stdout)!.AsArray();
        ((string?)listed.Single()!["session_id"]).ShouldBe(id);

        var show = await Herd.RunAsync("sessions", "show", id, "--json");
        show.ExitCode.ShouldBe(0);
        JsonNode.Parse(show.Stdout)!["messages"]!.AsArray().Count.ShouldBe(2);

        var missing = await Herd.RunAsync("sessions", "show", "nope");
        missing.ExitCode.ShouldBe(1);
        missing.Stderr.ShouldContain("No conversation found with session ID: nope");
    }
}
