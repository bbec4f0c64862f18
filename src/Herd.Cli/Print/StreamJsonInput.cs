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
            if (message is null)
            {
                Console.Error.WriteLine("herd: warning: skipped a stdin line that is not a JSON object.");
                continue;
            }
            if (StringOf(message["type"]) is not { } type)
            {
                Console.Error.WriteLine("herd: warning: skipped a stdin line without a string \"type\" field.");
                continue;
            }
            if (type != "user")
                continue; // control messages and unknown types are ignored (spec §4.1)
            if (ContentOf(message) is not { } content)
            {
                Console.Error.WriteLine("herd: warning: skipped a user message whose message.content is missing or not a string or an array of content blocks.");
                continue;
            }
            var uuid = StringOf(message["uuid"]);
            if (message["shouldQuery"] is JsonValue q && q.TryGetValue<bool>(out var shouldQuery) && !shouldQuery)
            {
                if (replay)
                    sink.OnEvent(new UserMessageEvent(new JsonObject { ["role"] = "user", ["content"] = content.DeepClone() }, null, IsReplay: true));
                continue;
            }
            if (IsBlank(content))
            {
                if (replay)
                    sink.OnEvent(new UserMessageEvent(new JsonObject { ["role"] = "user", ["content"] = content.DeepClone() }, null, IsReplay: true));
                continue;
            }
            last = await session.RunAsync(content.DeepClone(), new UserUuidStamp(sink, uuid), cancellationToken, replay).ConfigureAwait(false);
        }
        return last;
    }

    private static string? StringOf(JsonNode? node) => node is JsonValue v && v.TryGetValue<string>(out var s) ? s : null;

    /// <summary><c>message.content</c> when it is a string or an array of content blocks (objects with a string type).</summary>
    private static JsonNode? ContentOf(JsonObject line)
    {
        if (line["message"] is not JsonObject message)
            return null;
        return message["content"] switch
        {
            JsonValue v when v.TryGetValue<string>(out _) => v,
            JsonArray blocks when blocks.Count > 0 && blocks.All(b => b is JsonObject o && StringOf(o["type"]) is not null) => blocks,
            _ => null,
        };
    }

    private static bool IsBlank(JsonNode content) => content switch
    {
        JsonValue v when v.TryGetValue<string>(out var s) => string.IsNullOrWhiteSpace(s),
        JsonArray a => a.OfType<JsonObject>().All(b => StringOf(b["type"]) == "text" && string.IsNullOrWhiteSpace(StringOf(b["text"]))),
        _ => false,
    };

    /// <summary>Echoes the input message's uuid as <c>result.user_message_uuid</c>.</summary>
    private sealed class UserUuidStamp(IAgentEventSink inner, string? uuid) : IAgentEventSink
    {
        public void OnEvent(AgentEvent agentEvent) =>
            inner.OnEvent(agentEvent is ResultEvent r && uuid is not null ? new ResultEvent(r.Result with { UserMessageUuid = uuid }) : agentEvent);
    }
}
