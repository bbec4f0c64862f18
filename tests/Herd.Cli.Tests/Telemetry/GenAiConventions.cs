using Herd.Testing;

namespace Herd.Cli.Tests.Telemetry;

/// <summary>
/// The OpenTelemetry GenAI semantic conventions (gen-ai-spans.md and gen-ai-agent-spans.md, as of v1.38), as far as
/// Herd's spans use them: each span's name, its required attributes, and every <c>gen_ai.*</c>, <c>server.*</c> and
/// <c>error.*</c> attribute it may carry. Herd's own attributes live under <c>herd.*</c>.
/// </summary>
public static class GenAiConventions
{
    /// <summary>Every gen_ai.* attribute the conventions define that Herd emits.</summary>
    private static readonly HashSet<string> Known =
    [
        "gen_ai.operation.name", "gen_ai.provider.name", "gen_ai.agent.name", "gen_ai.agent.id", "gen_ai.conversation.id",
        "gen_ai.request.model", "gen_ai.response.model", "gen_ai.response.id", "gen_ai.response.finish_reasons",
        "gen_ai.usage.input_tokens", "gen_ai.usage.output_tokens", "gen_ai.usage.cache_read.input_tokens",
        "gen_ai.usage.cache_creation.input_tokens", "gen_ai.input.messages", "gen_ai.output.messages",
        "gen_ai.system_instructions", "gen_ai.tool.name", "gen_ai.tool.call.id", "gen_ai.tool.type",
        "gen_ai.tool.call.arguments", "gen_ai.tool.call.result", "gen_ai.request.max_tokens",
        "server.address", "server.port", "error.type", "http.response.status_code", "process.exit.code",
    ];

    public static void ShouldFollow(IReadOnlyList<ReceivedSpan> spans)
    {
        foreach (var span in spans)
        {
            var operation = (string?)span["gen_ai.operation.name"];
            switch (operation)
            {
                case "invoke_agent":
                    span.Name.ShouldBe($"invoke_agent {span["gen_ai.agent.name"]}");
                    span["gen_ai.provider.name"].ShouldNotBeNull($"{span.Name}: gen_ai.provider.name is required");
                    break;
                case "chat":
                    span.Name.ShouldBe($"chat {span["gen_ai.request.model"]}");
                    span["gen_ai.provider.name"].ShouldNotBeNull($"{span.Name}: gen_ai.provider.name is required");
                    span["server.address"].ShouldNotBeNull($"{span.Name}: server.address is recommended and known");
                    span["server.port"].ShouldNotBeNull($"{span.Name}: server.port is required with server.address");
                    break;
                case "execute_tool":
                    span.Name.ShouldBe($"execute_tool {span["gen_ai.tool.name"]}");
                    break;
                case null:
                    span.Name.ShouldStartWith("herd.", customMessage: "a span outside the conventions is Herd's own");
                    break;
                default:
                    throw new ShouldAssertException($"{span.Name}: gen_ai.operation.name '{operation}' is not one Herd emits");
            }
            var unknown = span.Attributes.Keys.Where(k => !k.StartsWith("herd.", StringComparison.Ordinal) && !Known.Contains(k)).ToArray();
            unknown.ShouldBeEmpty($"{span.Name}: attributes outside the conventions and the herd.* namespace");
            if (span["error.type"] is string error)
                error.ShouldNotBe("finished", $"{span.Name}: error.type names a failure class");
        }
    }
}
