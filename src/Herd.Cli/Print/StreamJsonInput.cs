using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Herd.Agent.Loop;

namespace Herd.Cli.Print;

/// <summary>
/// <c>--input-format stream-json</c>: NDJSON user messages on stdin, one query and one <c>result</c> each, costs
/// accumulating across them (spec §5). The process lives until stdin ends.
/// </summary>
public static class StreamJsonInput
{
    public static async Task<AgentResult?> RunAsync(AgentSession session, IAgentEventSink sink, bool replay, CancellationToken cancellationToken)
    {
        using var reader = new StreamReader(Console.OpenStandardInput(), Encoding.UTF8);
        AgentResult? last = null;
        while (!cancellationToken.IsCancellationRequested && await reader.ReadLineAsync(cancellationToken).ConfigureAwait(false) is { } line)
        {
            line = line.Trim();
            if (line.Length == 0)
                continue;
            JsonObject? message;
            try
            {
                message = JsonNode.Parse(line) as JsonObject;
            }
            catch (JsonException ex)
            {
                Console.Error.WriteLine($"herd: warning: skipped a stdin line that is not JSON ({ex.Message}).");
                continue;
            }
            if (message is null || (string?)message["type"] != "user")
                continue; // control messages and unknown types are ignored (spec §4.1)
            var content = message["message"]?["content"];
            if (content is null)
            {
                Console.Error.WriteLine("herd: warning: skipped a user message without message.content.");
                continue;
            }
            if (replay)
                sink.OnEvent(new UserMessageEvent(new JsonObject { ["role"] = "user", ["content"] = content.DeepClone() }, null, IsReplay: true));
            if (message["shouldQuery"] is JsonValue q && q.TryGetValue<bool>(out var shouldQuery) && !shouldQuery)
                continue;
            if (IsBlank(content))
                continue;
            last = await session.RunAsync(content.DeepClone(), new UserUuidStamp(sink, (string?)message["uuid"]), cancellationToken).ConfigureAwait(false);
        }
        return last;
    }

    private static bool IsBlank(JsonNode content) => content switch
    {
        JsonValue v when v.TryGetValue<string>(out var s) => string.IsNullOrWhiteSpace(s),
        JsonArray a => a.OfType<JsonObject>().All(b => (string?)b["type"] == "text" && string.IsNullOrWhiteSpace((string?)b["text"])),
        _ => false,
    };

    /// <summary>Echoes the input message's uuid as <c>result.user_message_uuid</c>.</summary>
    private sealed class UserUuidStamp(IAgentEventSink inner, string? uuid) : IAgentEventSink
    {
        public void OnEvent(AgentEvent agentEvent) =>
            inner.OnEvent(agentEvent is ResultEvent r && uuid is not null ? new ResultEvent(r.Result with { UserMessageUuid = uuid }) : agentEvent);
    }
}
