using Herd.Agent.Loop;
using Herd.Agent.Models;
using Herd.Agent.Tools;
using Shouldly;

namespace Herd.Agent.Tests.Loop;

/// <summary>One profile's sessions (a fan-out's tasks) share one tool list, so their tool definitions are built once.</summary>
public sealed class AgentProfileTests
{
    private static AgentProfile Profile() => new()
    {
        Cwd = "/repo",
        SystemPrompt = "You review code.",
        Tools = ["Bash", "Read", "Grep"],
        Catalog = ModelCatalog.BuiltIn,
        ReadMemoryFiles = false,
    };

    [Fact]
    public void Sessions_of_one_profile_share_one_tool_list_and_its_cached_definitions()
    {
        var profile = Profile();
        var first = profile.ToAgentOptions();
        var second = profile.ToAgentOptions(workingDirectory: "/repo/task-2");

        second.Tools.ShouldBeSameAs(first.Tools);
        first.Tools.Select(t => t.Name).ShouldBe(["Bash", "Grep", "Read"]);
        ToolDefinitions.For(second.Tools, second.Tools, null).ShouldBeSameAs(ToolDefinitions.For(first.Tools, first.Tools, null));
        // Each session still gets its own context.
        second.ToolContext.ShouldNotBeSameAs(first.ToolContext);
        second.ToolContext.WorkingDirectory.ShouldBe("/repo/task-2");
    }

    [Fact]
    public void A_copy_with_other_tools_or_mcp_tools_offers_its_own_list_not_the_original_one()
    {
        var profile = Profile();
        var original = profile.ToAgentOptions().Tools;

        var fewer = profile with { Tools = ["Read"] };
        fewer.ToAgentOptions().Tools.Select(t => t.Name).ShouldBe(["Read"]);

        var extra = new LsTool();
        var withMcp = profile with { AddOns = AgentAddOns.None with { McpTools = [extra] } };
        var tools = withMcp.ToAgentOptions().Tools;
        tools.ShouldNotBeSameAs(original);
        tools[^1].ShouldBeSameAs(extra);

        profile.ToAgentOptions().Tools.ShouldBeSameAs(original);
    }
}
