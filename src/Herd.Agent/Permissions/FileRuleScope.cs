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
    /// A rule that does nothing in Claude Code 2.1.332 and so nothing in Herd either: an allow rule with a path for a
    /// tool other than Read and Edit (<c>Write(src/**)</c>), or such a deny for a tool that only reads
    /// (<c>Glob(secrets/**)</c>; Herd honours Write/NotebookEdit/MultiEdit path denies). The warning to print, or null.
    /// </summary>
    public static string? InertRuleWarning(PermissionRule rule)
    {
        if (rule.IsWholeTool || !InertPathRuleTools.Contains(rule.ToolName))
            return null;
        var reads = rule.ToolName is "Glob" or "Grep" or "LS" or "NotebookRead";
        if (rule.Behavior != RuleBehavior.Allow && !reads)
            return null;
        var instead = reads ? "Read" : "Edit";
        var covers = reads ? "Read, Glob, Grep and LS" : "Edit, Write and NotebookEdit";
        var effect = rule.Behavior == RuleBehavior.Allow ? "grants" : "blocks";
        var kind = rule.Behavior.ToString().ToLowerInvariant();
        return $"herd: warning: {kind} rule {rule.Text} ({rule.Source}) {effect} nothing: Claude Code reads path rules only for Read(...) and Edit(...); write {instead}({rule.Specifier}), which covers {covers}.";
    }
}
