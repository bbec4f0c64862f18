using Herd.Agent.Permissions;

namespace Herd.Agent.Tests.Permissions;

/// <summary>Issue #9, rule parsing: a rule that does not parse stops the run; it is never silently dropped.</summary>
public sealed class RuleParsingTests
{
    [Theory]
    [InlineData("bash(rm *)", "write Bash")]
    [InlineData("read(./.env)", "write Read")]
    [InlineData("Shell(rm *)", "does not exist")]
    [InlineData("Bahs(rm *)", "did you mean Bash?")]
    [InlineData("Raed(./.env)", "did you mean Read?")]
    [InlineData("WebFecth(domain:x.com)", "did you mean WebFetch?")]
    [InlineData("Grpe", "did you mean Grep?")]
    [InlineData("BASH(rm *)", "write Bash")]
    [InlineData("Edits(src/**)", "did you mean Edit?")]
    [InlineData("Bash(git", "must end with ')'")]
    public void A_rule_for_a_tool_that_does_not_exist_fails_with_a_reason(string text, string reason)
    {
        var ex = Should.Throw<FormatException>(() => PermissionRule.Parse(text, RuleBehavior.Deny, RuleSource.Cli));

        ex.Message.ShouldContain(reason);
    }

    [Fact]
    public void A_name_far_from_every_tool_suggests_none() =>
        Should.Throw<FormatException>(() => PermissionRule.Parse("Kubernetes(apply)", RuleBehavior.Deny, RuleSource.Cli)).Message.ShouldNotContain("did you mean");

    [Fact]
    public void A_space_inside_the_parentheses_is_trimmed_as_claude_code_does()
    {
        var rule = PermissionRule.Parse("Bash( rm * )", RuleBehavior.Deny, RuleSource.Cli);

        rule.Specifier.ShouldBe("rm *");
        new PermissionEngine(new PermissionPolicy(PermissionMode.BypassPermissions, [], ["Bash( rm *)"], []))
            .EvaluateBash("rm -rf x", new Herd.Agent.Tools.ToolContext(Path.GetTempPath())).IsAllowed.ShouldBeFalse();
    }

    [Fact]
    public void A_policy_with_an_unparseable_rule_cannot_build_an_engine() =>
        Should.Throw<FormatException>(() => new PermissionEngine(new PermissionPolicy(PermissionMode.Default, [], ["bash(rm *)"], [])));

    [Theory]
    [InlineData("mcp__server__tool")]
    [InlineData("WebFetch(domain:example.com)")]
    [InlineData("*")]
    public void Rules_for_tools_herd_lacks_but_claude_code_knows_still_parse(string text) =>
        PermissionRule.Parse(text, RuleBehavior.Allow, RuleSource.Cli).Text.ShouldBe(text);
}
