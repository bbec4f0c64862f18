namespace Herd.Agent.Permissions;

/// <summary>How far an allow rule reaches for the tool it grants.</summary>
public enum FileRuleReach
{
    /// <summary>A bare rule (<c>Write</c>): the tool on any path.</summary>
    Anywhere,

    /// <summary><c>Tool(*)</c>: the tool inside the working directories.</summary>
    WorkingDirectories,

    /// <summary><c>Read(path)</c>, <c>Edit(path)</c>: the paths the pattern matches.</summary>
    Pattern,
}

/// <summary>
/// Which allow rule grants which file access, as Claude Code 2.1.332 decides it, measured by running the real
/// <c>claude</c> on scripted tool calls under each rule (docs/permissions.md, "Which rule governs which tool";
/// <c>RuleScopeTests</c> runs the two side by side). Following it exactly matters most where Herd would grant more: a
/// rule Herd honours and Claude Code ignores would widen what the user's tested command line allows.
/// </summary>
public static class FileRuleScope
{
    /// <summary>The accessor name of a path a Bash command reads or writes (redirections, operands).</summary>
    public const string BashCommand = "Bash";

    /// <summary>Tools whose path-specifier rules 2.1.332 accepts but never matches.</summary>
    private static readonly HashSet<string> InertPathRuleTools = new(StringComparer.Ordinal)
    {
        "Write", "MultiEdit", "NotebookEdit", "NotebookRead", "Glob", "Grep", "LS",
    };

    /// <summary>
    /// Whether allow <paramref name="rule"/> can approve a file access by <paramref name="accessor"/> (a tool name, or
    /// <see cref="BashCommand"/>): a bare or <c>Tool(*)</c> rule only for the tool it names and never for a Bash
    /// command's paths; <c>Edit(path)</c> for every editing tool, for the file tools' reads and for a Bash command's
    /// writes; <c>Read(path)</c> for every read; a path rule for any other tool never.
    /// </summary>
    public static bool Grants(PermissionRule rule, string accessor, bool isRead)
    {
        if (rule.IsWholeTool)
            return accessor != BashCommand && rule.ToolName == accessor;
        return rule.ToolName switch
        {
            "Edit" => !(isRead && accessor == BashCommand),
            "Read" => isRead,
            _ => false,
        };
    }

    public static FileRuleReach Reach(PermissionRule rule) => rule.Specifier switch
    {
        null => FileRuleReach.Anywhere,
        "*" => FileRuleReach.WorkingDirectories,
        _ => FileRuleReach.Pattern,
    };

    /// <summary>
    /// An allow rule that grants nothing in Claude Code 2.1.332 (<c>Write(src/**)</c>: path rules are read only for Read
    /// and Edit), so none in Herd either; the text to warn with, or null when the rule does something.
    /// </summary>
    public static string? InertAllowWarning(PermissionRule rule)
    {
        if (rule.Behavior != RuleBehavior.Allow || rule.IsWholeTool || !InertPathRuleTools.Contains(rule.ToolName))
            return null;
        var instead = rule.ToolName is "Glob" or "Grep" or "LS" or "NotebookRead" ? "Read" : "Edit";
        var covers = instead == "Edit" ? "Edit, Write and NotebookEdit" : "Read, Glob, Grep and LS";
        return $"herd: warning: allow rule {rule.Text} ({rule.Source}) grants nothing: Claude Code reads path rules only for Read(...) and Edit(...); write {instead}({rule.Specifier}), which covers {covers}.";
    }
}
