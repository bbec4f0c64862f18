using Herd.Agent.Hooks;
using Herd.Agent.Mcp;
using Herd.Agent.Tools;

namespace Herd.Agent.Loop;

/// <summary>
/// What the process running an agent adds to its stored <see cref="AgentProfile"/>: the hooks of its settings layers
/// and the MCP servers it started (their tools and statuses). Live objects of this host, so never stored with a run.
/// </summary>
public sealed record AgentAddOns(
    HookSet Hooks,
    IReadOnlyDictionary<string, string> HookEnvironment,
    bool IncludeHookEvents,
    IReadOnlyList<ITool> McpTools,
    IReadOnlyList<McpServerStatus> McpServers)
{
    public static AgentAddOns None { get; } = new(HookSet.Empty, new Dictionary<string, string>(), false, [], []);
}
