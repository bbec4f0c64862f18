using System.Text.Json;
using Herd.Agent.Tools;

namespace Herd.Agent.Permissions;

/// <summary>Permission modes (spec §6.1).</summary>
public enum PermissionMode
{
    Default,
    AcceptEdits,
    Plan,
    BypassPermissions,
    DontAsk,
}

public enum PermissionBehavior
{
    Allow,
    Deny,
}

/// <summary>The verdict on one tool call: what decided it and, on denial, the text the model receives.</summary>
public sealed record PermissionDecision(PermissionBehavior Behavior, string Reason, string? Rule = null, string? Message = null)
{
    public bool IsAllowed => Behavior == PermissionBehavior.Allow;
}

/// <summary>The rules in force: flags and settings files merged.</summary>
public sealed record PermissionPolicy(
    PermissionMode Mode,
    IReadOnlyList<string> Allow,
    IReadOnlyList<string> Deny,
    IReadOnlyList<string> Ask)
{
    public static PermissionPolicy Default { get; } = new(PermissionMode.Default, [], [], []);
}

/// <summary>Decides every tool call: deny, then ask (= deny in print mode), then allow (spec §6.3).</summary>
public sealed class PermissionEngine(PermissionPolicy policy)
{
    public PermissionPolicy Policy { get; } = policy;

    /// <summary>A bare-name deny rule removes the tool from the model's list (spec §2.2).</summary>
    public bool IsToolListed(string toolName) =>
        !Policy.Deny.Any(r => r == toolName || r == "*");

    public PermissionDecision Evaluate(ITool tool, JsonElement input, ToolContext context)
    {
        if (Policy.Deny.FirstOrDefault(r => r == tool.Name) is { } deny)
            return new(PermissionBehavior.Deny, "deny rule", deny, $"Permission to use {tool.Name} has been denied.");
        if (Policy.Ask.FirstOrDefault(r => r == tool.Name) is { } ask)
            return new(PermissionBehavior.Deny, "ask rule (no approver in print mode)", ask, NotGranted(tool.Name));
        if (tool.IsReadOnly)
            return new(PermissionBehavior.Allow, "read-only tool");
        if (Policy.Mode == PermissionMode.BypassPermissions)
            return new(PermissionBehavior.Allow, "mode bypassPermissions");
        if (Policy.Allow.FirstOrDefault(r => r == tool.Name || r == tool.Name + "(*)") is { } allow)
            return new(PermissionBehavior.Allow, "allow rule", allow);
        return new(PermissionBehavior.Deny, "no rule allows it", null, NotGranted(tool.Name));
    }

    internal static string NotGranted(string toolName) =>
        $"Claude requested permissions to use {toolName}, but you haven't granted it yet.";
}
