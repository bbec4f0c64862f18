using Herd.Agent.Mcp;
using Herd.Agent.Tools;

namespace Herd.Agent.Loop;

/// <summary>
/// What the process running an agent adds to its stored <see cref="AgentProfile"/>: the MCP servers it started (their
/// tools and statuses) and the settings files' <c>env</c> it was given. Live objects and values of this host, so never
/// stored with a run; the hooks and the servers' configuration are the profile's (stored).
/// </summary>
public sealed record AgentAddOns(
    IReadOnlyDictionary<string, string> HookEnvironment,
    IReadOnlyList<ITool> McpTools,
    IReadOnlyList<McpServerStatus> McpServers)
{
    public static AgentAddOns None { get; } = new(new Dictionary<string, string>(), [], []);

    /// <summary>These add-ons with <paramref name="servers"/>' tools and statuses in place of any before.</summary>
    public AgentAddOns With(McpConnections servers) => this with { McpTools = servers.Tools, McpServers = servers.Statuses };
}
