using Herd.Agent.Sessions;
using Herd.Testing;

namespace Herd.Agent.Tests.Sessions;

public sealed class SessionStoreTests
{
    [Theory]
    [InlineData("/home/u/proj", "-home-u-proj")]
    [InlineData("/tmp/a_b.c d", "-tmp-a-b-c-d")]
    public void Project_directories_are_encoded_as_Claude_Code_does(string cwd, string expected) =>
        SessionStore.EncodeProjectPath(cwd).ShouldBe(expected);

    [Fact]
    public void Long_project_paths_are_cut_to_200_characters_plus_a_hash()
    {
        var encoded = SessionStore.EncodeProjectPath("/" + new string('a', 300));

        encoded.Length.ShouldBeGreaterThan(200);
        encoded[..200].ShouldBe("-" + new string('a', 199));
        encoded[200].ShouldBe('-');
    }

    [Fact]
    public void A_torn_last_line_is_skipped_and_the_conversation_still_loads()
    {
        using var dir = new TempDirectory();
        var path = dir.WriteFile("s.jsonl",
            """
            {"parentUuid":null,"type":"user","uuid":"u1","message":{"role":"user","content":"hello"}}
            {"parentUuid":"u1","type":"assistant","uuid":"a1","message":{"id":"m1","role":"assistant","content":[{"type":"text","text":"hi"}]}}
            {"parentUuid":"a1","type":"user","uuid":"u2","message":{"role":"user","content":"more pl
            """);

        var loaded = SessionStore.Load(path);

        loaded.Messages.Count.ShouldBe(2);
        loaded.LeafUuid.ShouldBe("a1");
        ((string?)loaded.Messages[1]["content"]![0]!["text"]).ShouldBe("hi");
    }

    [Fact]
    public void Assistant_lines_of_one_message_are_joined_and_a_failed_attempt_is_replaced()
    {
        using var dir = new TempDirectory();
        var path = dir.WriteFile("s.jsonl",
            """
            {"parentUuid":null,"type":"user","uuid":"u1","message":{"role":"user","content":"go"}}
            {"parentUuid":"u1","type":"assistant","uuid":"a0","message":{"id":"m0","role":"assistant","content":[{"type":"text","text":"abandoned"}]}}
            {"parentUuid":"a0","type":"assistant","uuid":"a1","message":{"id":"m1","role":"assistant","content":[{"type":"text","text":"reading"}]}}
            {"parentUuid":"a1","type":"assistant","uuid":"a2","message":{"id":"m1","role":"assistant","content":[{"type":"tool_use","id":"t1","name":"Read","input":{}}]}}
            """);

        var loaded = SessionStore.Load(path);

        loaded.Messages.Count.ShouldBe(2);
        loaded.Messages[1]["content"]!.AsArray().Select(b => (string?)b!["type"]).ShouldBe(["text", "tool_use"]);
        ((string?)loaded.Messages[1]["content"]![0]!["text"]).ShouldBe("reading");
    }
}
