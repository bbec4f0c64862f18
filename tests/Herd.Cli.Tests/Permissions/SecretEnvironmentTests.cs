using System.Text.Json.Nodes;
using Herd.Testing;

namespace Herd.Cli.Tests.Permissions;

public sealed class SecretEnvironmentTests : HerdTestBase
{
    [Fact]
    public async Task A_tool_cannot_read_the_api_key_from_herds_own_environment_block()
    {
        // Given a model that asks Bash to dump the environment of its parent, herd itself
        Server.Reset(ModelScript.Replies(
            Reply.WithTool("Bash", new JsonObject { ["command"] = "cat /proc/$PPID/environ | tr '\\0' '\\n'" }),
            Reply.WithText("done")));

        // When
        var run = await Herd.RunAsync("-p", "show the environment", "--dangerously-skip-permissions", "--output-format", "json");

        // Then the dump reached the model, but without the key
        run.ExitCode.ShouldBe(0, run.Stderr);
        var toolResult = Server.Requests[1].Body;
        toolResult.ShouldContain("HERD_CONFIG_DIR="); // control: herd's /proc/<pid>/environ was really read
        toolResult.ShouldContain("ANTHROPIC_API_KEY=\\n");
        toolResult.ShouldNotContain("sk-ant-test-secret");
        ((string?)Server.Requests[1].Headers["x-api-key"]).ShouldBe("sk-ant-test-secret-0123456789");
    }
}
