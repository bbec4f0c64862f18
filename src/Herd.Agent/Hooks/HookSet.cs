using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;

namespace Herd.Agent.Hooks;

/// <summary>The hook events Herd runs (Claude Code's names; its other events have nothing to attach to in Herd).</summary>
public enum HookEventName
{
    PreToolUse,
    PostToolUse,
    UserPromptSubmit,
    Stop,
    SessionStart,
    SessionEnd,
}

/// <summary>One <c>{"type":"command","command":…,"timeout":…}</c> entry.</summary>
/// <param name="Command">Run with <c>bash -c</c> in the working directory.</param>
/// <param name="Timeout">Claude Code's default is 60 s; <c>timeout</c> is in seconds.</param>
public sealed record HookCommand(string Command, TimeSpan Timeout)
{
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(60);
}

/// <summary>A matcher and the commands it runs, as one element of an event's array in <c>hooks</c>.</summary>
/// <param name="Matcher">
/// Claude Code's matcher: empty, absent or <c>*</c> matches everything; a plain name or <c>A|B</c> list matches those
/// names exactly; anything else is a regular expression that must match the whole target.
/// </param>
public sealed partial record HookMatcher(string? Matcher, IReadOnlyList<HookCommand> Commands)
{
    private readonly Regex? _regex = Matcher is { Length: > 0 } m && m != "*" && !PlainList().IsMatch(m)
        ? new Regex("^(?:" + m + ")$", RegexOptions.NonBacktracking | RegexOptions.CultureInvariant)
        : null;

    /// <summary>Whether this group applies to <paramref name="target"/> (a tool name, a session source); null matches all.</summary>
    public bool Matches(string? target)
    {
        if (target is null || Matcher is null or "" or "*")
            return true;
        if (_regex is not null)
            return _regex.IsMatch(target);
        return Matcher.Split('|').Contains(target, StringComparer.Ordinal);
    }

    [GeneratedRegex(@"^[A-Za-z0-9_|]+$")]
    private static partial Regex PlainList();
}

/// <summary>
/// Every hook of a run, from all settings layers merged (Claude Code runs the hooks of every layer; none overrides
/// another). Immutable and shared by every session of a run, so <c>herd run</c> binds it once for all its tasks.
/// </summary>
public sealed record HookSet(IReadOnlyDictionary<HookEventName, IReadOnlyList<HookMatcher>> ByEvent)
{
    public static HookSet Empty { get; } = new(new Dictionary<HookEventName, IReadOnlyList<HookMatcher>>());

    [System.Text.Json.Serialization.JsonIgnore]
    public bool IsEmpty => ByEvent.Values.All(v => v.Count == 0);

    /// <summary>The distinct commands of <paramref name="name"/> whose matcher takes <paramref name="target"/>, in order.</summary>
    public IReadOnlyList<HookCommand> For(HookEventName name, string? target)
    {
        if (!ByEvent.TryGetValue(name, out var groups))
            return [];
        // Claude Code runs an identical command once even when several groups or layers name it.
        return groups.Where(g => g.Matches(target)).SelectMany(g => g.Commands).DistinctBy(c => c.Command).ToArray();
    }

    /// <summary>This set's groups followed by <paramref name="other"/>'s.</summary>
    public HookSet Merge(HookSet other)
    {
        var merged = new Dictionary<HookEventName, IReadOnlyList<HookMatcher>>();
        foreach (var name in Enum.GetValues<HookEventName>())
        {
            var groups = (ByEvent.GetValueOrDefault(name) ?? []).Concat(other.ByEvent.GetValueOrDefault(name) ?? []).ToArray();
            if (groups.Length > 0)
                merged[name] = groups;
        }
        return new HookSet(merged);
    }

    /// <summary>Reads a settings file's <c>hooks</c> object.</summary>
    /// <param name="label">Names the file in messages: <c>settings file '/x/.claude/settings.json'</c>.</param>
    /// <exception cref="HerdUsageException">The block is malformed; the message names the file and the entry.</exception>
    public static HookSet Parse(JsonNode? hooks, string label)
    {
        if (hooks is null)
            return Empty;
        if (hooks is not JsonObject events)
            throw new HerdUsageException($"Error: {label}: \"hooks\" must be an object like {{\"PreToolUse\":[{{\"matcher\":\"Bash\",\"hooks\":[{{\"type\":\"command\",\"command\":\"…\"}}]}}]}}.");
        var byEvent = new Dictionary<HookEventName, IReadOnlyList<HookMatcher>>();
        foreach (var (eventName, groupsNode) in events)
        {
            // Claude Code's other events (Notification, SubagentStop, PreCompact…) have nothing to attach to in Herd.
            if (!Enum.TryParse<HookEventName>(eventName, ignoreCase: false, out var name))
                continue;
            if (groupsNode is not JsonArray groups)
                throw new HerdUsageException($"Error: {label}: hooks.{eventName} must be an array of {{\"matcher\":…,\"hooks\":[…]}} objects.");
            var parsed = new List<HookMatcher>();
            foreach (var group in groups)
            {
                if (group is not JsonObject g || g["hooks"] is not JsonArray commands)
                    throw new HerdUsageException($"Error: {label}: each entry of hooks.{eventName} must be an object with a \"hooks\" array.");
                var matcher = g["matcher"] is { } m ? (m.GetValueKind() == JsonValueKind.String ? (string)m! : throw new HerdUsageException($"Error: {label}: hooks.{eventName} matcher must be a string.")) : null;
                var list = new List<HookCommand>();
                foreach (var command in commands)
                {
                    if (command is not JsonObject c || c["command"] is not JsonValue cv || !cv.TryGetValue<string>(out var text) || text.Length == 0)
                    {
                        // Claude Code's prompt and agent hooks ask a model; Herd runs command hooks only (docs/hooks.md).
                        if (command is JsonObject other && other["type"] is JsonValue t && t.TryGetValue<string>(out var type) && type != "command")
                            continue;
                        throw new HerdUsageException($"Error: {label}: each hook of hooks.{eventName} needs \"type\":\"command\" and a \"command\" string.");
                    }
                    var timeout = HookCommand.DefaultTimeout;
                    if (c["timeout"] is { } tn)
                    {
                        if (tn.GetValueKind() != JsonValueKind.Number || tn.GetValue<double>() <= 0)
                            throw new HerdUsageException($"Error: {label}: hooks.{eventName} timeout must be a positive number of seconds.");
                        timeout = TimeSpan.FromSeconds(tn.GetValue<double>());
                    }
                    list.Add(new HookCommand(text, timeout));
                }
                try
                {
                    parsed.Add(new HookMatcher(matcher, list));
                }
                catch (ArgumentException ex)
                {
                    throw new HerdUsageException($"Error: {label}: hooks.{eventName} matcher '{matcher}' is not a valid regular expression ({ex.Message}).");
                }
            }
            byEvent[name] = parsed;
        }
        return new HookSet(byEvent);
    }
}
