using System.Runtime.CompilerServices;
using System.Text.Json.Nodes;
using Herd.Agent.Chat;
using Herd.Agent.Tools;

namespace Herd.Agent.Loop;

/// <summary>
/// The <c>tools</c> array of a session's requests, with its serialised bytes and names. A fan-out runs thousands of
/// sessions over one shared tool list; building every schema again per session, and walking those nodes again for
/// every request body, was per-task CPU for a result that never changes. So definitions are cached per tool list
/// instance (weakly: a list that is dropped takes its cache with it), per offered subset and output schema.
/// </summary>
/// <remarks>
/// Cached definitions are shared across concurrent sessions: nobody may modify the specs of <see cref="Set"/>. Request
/// bodies are written from the set's per-provider bytes, so concurrent sessions only ever read the nodes.
/// </remarks>
internal sealed class ToolDefinitions
{
    private const string StructuredOutputDescription =
        "Use this tool to return your final response in the requested structured format. You MUST call this tool exactly once at the end of your response to provide the structured output.";

    private static readonly ConditionalWeakTable<IReadOnlyList<ITool>, Cache> Caches = new();

    private ToolDefinitions(ToolSet set, string[] names)
    {
        Set = set;
        Names = names;
    }

    /// <summary>The tools as the requests offer them; each provider writes (and keeps) its wire form of them.</summary>
    public ToolSet Set { get; }

    public IReadOnlyList<string> Names { get; }

    /// <param name="all">The options' tool list (the cache's owner).</param>
    /// <param name="offered">The tools of <paramref name="all"/> the permissions list, in any order.</param>
    /// <param name="outputSchema">The --json-schema, offered as the StructuredOutput tool; compared by reference.</param>
    public static ToolDefinitions For(IReadOnlyList<ITool> all, IEnumerable<ITool> offered, JsonNode? outputSchema)
    {
        var sorted = offered.OrderBy(t => t.Name, StringComparer.Ordinal).ToArray();
        var cache = Caches.GetValue(all, static _ => new Cache());
        var key = string.Join('\n', sorted.Select(t => t.Name));
        lock (cache)
        {
            foreach (var entry in cache.Entries)
            {
                if (entry.Key == key && ReferenceEquals(entry.Schema, outputSchema) && entry.Tools.SequenceEqual(sorted, ReferenceEqualityComparer.Instance))
                    return entry.Value;
            }
            var built = Build(sorted, outputSchema);
            // A handful of variants at most (allow/deny lists differ per run, not per task); keep the cache bounded anyway.
            if (cache.Entries.Count < 16)
                cache.Entries.Add((key, outputSchema, sorted, built));
            return built;
        }
    }

    private static ToolDefinitions Build(ITool[] tools, JsonNode? outputSchema)
    {
        var specs = new List<ToolSpec>(tools.Length + 1);
        foreach (var tool in tools)
            specs.Add(new ToolSpec(tool.Name, tool.Description, tool.InputSchema()));
        if (outputSchema is not null)
            specs.Add(new ToolSpec(AgentSession.StructuredOutputToolName, StructuredOutputDescription, outputSchema.DeepClone()));
        return new ToolDefinitions(new ToolSet(specs), specs.Select(s => s.Name).ToArray());
    }

    private sealed class Cache
    {
        public List<(string Key, JsonNode? Schema, ITool[] Tools, ToolDefinitions Value)> Entries { get; } = [];
    }
}
