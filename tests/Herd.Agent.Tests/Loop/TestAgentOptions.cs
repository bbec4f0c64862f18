using Herd.Agent.Loop;
using Herd.Agent.Models;
using Herd.Agent.Permissions;
using Herd.Agent.Tools;

namespace Herd.Agent.Tests.Loop;

/// <summary>The agent options the loop tests share: a known model, the built-in tools and rules, a working directory.</summary>
internal static class TestAgentOptions
{
    public static AgentOptions In(string workingDirectory) => new()
    {
        Model = "claude-sonnet-4-5",
        Catalog = ModelCatalog.BuiltIn,
        SystemPrompt = "test",
        Tools = ToolRegistry.BuiltIns(),
        Permissions = new PermissionEngine(PermissionPolicy.Default),
        ToolContext = new ToolContext(workingDirectory),
    };
}
