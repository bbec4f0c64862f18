using System.Collections.Concurrent;
using System.Text.Json;
using Herd.Agent.IO;
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

/// <summary>The text of a decision at the audit-log and telemetry edges.</summary>
public static class PermissionBehaviors
{
    public static string Name(this PermissionBehavior b) => b == PermissionBehavior.Allow ? "allow" : "deny";
}

/// <summary>The verdict on one tool call: what decided it and, on denial, the text the model receives.</summary>
/// <param name="Reason">Why, for the audit log: the rule and its source, the mode, or what could not be checked.</param>
/// <param name="Rule">The text of the rule(s) that decided, or null when no rule did.</param>
public sealed record PermissionDecision(PermissionBehavior Behavior, string Reason, string? Rule = null, string? Message = null)
{
    public bool IsAllowed => Behavior == PermissionBehavior.Allow;
}

/// <summary>The rules in force: flags and settings files merged.</summary>
/// <param name="Allow">Allow rules from <c>--allowedTools</c>.</param>
/// <param name="Deny">Deny rules from <c>--disallowedTools</c>.</param>
/// <param name="Ask">Ask rules from flags (none today; ask = deny in print mode).</param>
public sealed record PermissionPolicy(
    PermissionMode Mode,
    IReadOnlyList<string> Allow,
    IReadOnlyList<string> Deny,
    IReadOnlyList<string> Ask)
{
    public static PermissionPolicy Default { get; } = new(PermissionMode.Default, [], [], []);

    /// <value>Rules from settings files and <c>--settings</c>, with their sources. Empty by default.</value>
    public IReadOnlyList<PermissionRule> Rules { get; init; } = [];

    /// <value><c>additionalDirectories</c> from settings: working directories beside the cwd and <c>--add-dir</c>.</value>
    public IReadOnlyList<string> AdditionalDirectories { get; init; } = [];

    /// <summary>The mode as Claude Code spells it (init event, transcripts).</summary>
    public string ModeName => Mode switch
    {
        PermissionMode.AcceptEdits => "acceptEdits",
        PermissionMode.Plan => "plan",
        PermissionMode.BypassPermissions => "bypassPermissions",
        PermissionMode.DontAsk => "dontAsk",
        _ => "default",
    };

    /// <summary>Every rule: flags first (source <c>cli</c>), then settings.</summary>
    /// <exception cref="FormatException">A rule text in <see cref="Allow"/>, <see cref="Deny"/> or <see cref="Ask"/> is not a rule.</exception>
    public IEnumerable<PermissionRule> AllRules()
    {
        foreach (var (texts, behavior) in new[] { (Deny, RuleBehavior.Deny), (Ask, RuleBehavior.Ask), (Allow, RuleBehavior.Allow) })
        {
            // Never skip a rule that does not parse: a dropped deny protects nothing (issue #9). The CLI parses flags into
            // Rules up front with messages naming the flag; texts here come from code and tests.
            foreach (var text in texts)
                yield return PermissionRule.Parse(text, behavior, RuleSource.Cli);
        }
        foreach (var rule in Rules)
            yield return rule;
    }
}

/// <summary>
/// Decides every tool call (spec §6.3): deny rules, then ask rules (= deny in print mode), then the tool's own check
/// (read-only inside the working directories), then the mode, then allow rules; anything else is denied because print
/// mode has nobody to ask. Stateless apart from caches, so one engine may serve concurrent sessions.
/// </summary>
public sealed partial class PermissionEngine
{
    private static readonly HashSet<string> EditToolNames = new(StringComparer.Ordinal) { "Edit", "Write", "MultiEdit", "NotebookEdit" };
    private static readonly HashSet<string> ReadToolNames = new(StringComparer.Ordinal) { "Read", "Glob", "Grep", "LS", "NotebookRead" };

    private readonly PermissionRule[] _rules;
    private readonly PermissionRule[] _readDenies;
    private readonly ConcurrentDictionary<(PermissionRule Rule, string Cwd), PathPattern> _pathPatterns = new();
    private readonly ConcurrentDictionary<PermissionRule, BashPattern> _bashPatterns = new();

    /// <exception cref="FormatException">A rule text of the policy is not a rule.</exception>
    public PermissionEngine(PermissionPolicy policy)
    {
        Policy = policy;
        _rules = policy.AllRules().ToArray();
        _readDenies = _rules.Where(r => r.Behavior != RuleBehavior.Allow && r.ToolName == "Read" && r.Specifier is not null).ToArray();
    }

    public PermissionPolicy Policy { get; }

    private PermissionMode Mode => Policy.Mode;

    /// <summary>A bare-name deny rule (or <c>*</c>, <c>mcp__*</c>) removes the tool from the model's list (spec §2.2).</summary>
    public bool IsToolListed(string toolName) =>
        !_rules.Any(r => r.Behavior == RuleBehavior.Deny && r.Specifier is null && (r.NamesTool(toolName) || (r.ToolName == "Edit" && toolName == "Write")));

    public PermissionDecision Evaluate(ITool tool, JsonElement input, ToolContext context)
    {
        var name = tool.Name;
        if (FindWholeTool(name, RuleBehavior.Deny) is { } deny)
            return Denied(deny.Describe(), deny, $"Permission to use {name} has been denied.");
        if (FindWholeTool(name, RuleBehavior.Ask) is { } ask)
            return Denied(ask.Describe() + " (no approver in print mode)", ask, NotGranted(name));

        // A NUL byte cannot be in a path or a command; refuse before anything tries to resolve it (issue #9, crashes).
        foreach (var key in new[] { "command", "file_path", "notebook_path", "path", "pattern", "glob" })
        {
            if (ToolContext.HasNul(StringProperty(input, key)))
                return Denied($"{key} contains a NUL byte", null, $"The {key} contains a NUL byte, which no path or command can hold.");
        }

        if (name == "Bash")
            return EvaluateBash(StringProperty(input, "command") ?? "", context);
        if (EditToolNames.Contains(name))
        {
            var path = StringProperty(input, "file_path") ?? StringProperty(input, "notebook_path");
            return path is null
                ? new(PermissionBehavior.Allow, "no path given; the tool rejects the input")
                : EvaluatePath(PathAccess.Edit, context.ResolvePath(path), context, name, context.RawPath(path));
        }
        if (ReadToolNames.Contains(name))
        {
            string? path = name switch
            {
                "Read" or "NotebookRead" => StringProperty(input, "file_path") ?? StringProperty(input, "notebook_path"),
                "Glob" => GlobTool.BaseDirectory(StringProperty(input, "pattern") ?? "", StringProperty(input, "path"), context),
                _ => StringProperty(input, "path") ?? context.WorkingDirectory,
            };
            return path is null
                ? new(PermissionBehavior.Allow, "no path given; the tool rejects the input")
                : EvaluatePath(PathAccess.Read, context.ResolvePath(path), context, name, context.RawPath(path));
        }

        // Tools without paths or commands: only whole-tool rules and the mode decide.
        if (tool.IsReadOnly)
            return new(PermissionBehavior.Allow, "read-only tool");
        if (Mode == PermissionMode.Plan)
            return Denied("plan mode allows read-only tools only", null, NotGranted(name));
        if (Mode == PermissionMode.BypassPermissions)
            return new(PermissionBehavior.Allow, "mode bypassPermissions");
        if (FindWholeTool(name, RuleBehavior.Allow) is { } allow)
            return new(PermissionBehavior.Allow, allow.Describe(), allow.Text);
        return Denied("no rule allows it", null, NotGranted(name));
    }

    internal enum PathAccess
    {
        Read,
        Edit,
    }

    /// <summary>
    /// A file access: deny rules on the path (Read denies also block edits), ask rules, the working directories and the
    /// mode, then allow rules. The path is checked as written and with symlinks resolved: a deny fires if either
    /// matches, an allow needs both (spec §6.2).
    /// </summary>
    /// <param name="rawPath">The absolute path before <c>..</c> was collapsed, as the kernel will walk it; checked too.</param>
    internal PermissionDecision EvaluatePath(PathAccess access, string fullPath, ToolContext context, string toolName, string? rawPath = null)
    {
        var candidates = PathCandidates(fullPath, rawPath);
        if (candidates is null)
            return Denied("the path could not be resolved (symlink loop)", null, NotGrantedPath(access, fullPath));
        // Reading /dev/null reads nothing (`git diff --no-index /dev/null file`).
        if (access == PathAccess.Read && candidates.All(p => p == "/dev/null"))
            return new(PermissionBehavior.Allow, "reading /dev/null");
        var cwd = context.WorkingDirectory;
        var denyTools = access == PathAccess.Read ? ReadRuleTools : EditDenyRuleTools;

        foreach (var behavior in new[] { RuleBehavior.Deny, RuleBehavior.Ask })
        {
            foreach (var rule in _rules.Where(r => r.Behavior == behavior && denyTools.Contains(r.ToolName)))
            {
                var hit = rule.IsWholeTool || candidates.Any(p => PathPatternFor(rule, cwd).Matches(p));
                if (!hit)
                    continue;
                if (behavior == RuleBehavior.Ask)
                    return Denied(rule.Describe() + " (no approver in print mode)", rule, NotGrantedPath(access, fullPath));
                var message = access == PathAccess.Read
                    ? $"Permission to read {fullPath} has been denied."
                    : $"Permission to edit {fullPath} has been denied.";
                return Denied(rule.Describe(), rule, message);
            }
        }

        // The run's own state and the agent's own configuration: no tool writes them, in any mode, whatever the rules
        // (issue #19, classes 3 and 10).
        if (access == PathAccess.Edit && candidates.Select(context.RunStateCovering).FirstOrDefault(p => p is not null) is { } state)
            return Denied($"{fullPath} is part of {state.Why}", null, $"Permission to edit {fullPath} has been denied: it is part of {state.Why}, which tools may not change.");
        if (access == PathAccess.Edit && candidates.Any(p => Sandbox.SandboxFilesystem.IsProtectedConfiguration(p, context)))
            return Denied("the agent's own configuration (.claude/, .herd/, .git/config, .git/hooks)", null,
                $"Permission to edit {fullPath} has been denied: it is the agent's own configuration (.claude/, .herd/, .git/config, .git/hooks), which tools may not create or change.");

        var inside = candidates.All(p => IsInsideWorkingDirectories(p, context));
        var isProtected = access == PathAccess.Edit && candidates.Any(IsProtectedPath);
        if (access == PathAccess.Read && inside)
            return new(PermissionBehavior.Allow, "read inside the working directories");
        // The conversation's own scratch folder holds Bash output saved for the model to read back (Claude Code's
        // persisted output); reading it reads nothing the model did not already produce.
        if (access == PathAccess.Read && context.HasScratchDirectory && candidates.All(p => IsUnder(p, context.ScratchDirectory)))
            return new(PermissionBehavior.Allow, "read inside the session's scratch folder");
        if (access == PathAccess.Edit && Mode == PermissionMode.Plan)
            return Denied("plan mode allows no edits", null, NotGrantedPath(access, fullPath));
        if (access == PathAccess.Edit && inside && !isProtected && Mode == PermissionMode.AcceptEdits)
            return new(PermissionBehavior.Allow, "mode acceptEdits, inside the working directories");
        if (Mode == PermissionMode.BypassPermissions && !isProtected)
            return new(PermissionBehavior.Allow, "mode bypassPermissions");

        // Every form of the path (as written, symlinks resolved) must be covered, each by a rule or by being a read
        // inside the working directories. Which allow rules grant which tool follows Claude Code 2.1.332 as measured
        // (docs/permissions.md, "Which rule governs which tool").
        var allowRules = _rules.Where(r => r.Behavior == RuleBehavior.Allow && FileRuleScope.Grants(r, toolName, access == PathAccess.Read)).ToArray();
        PermissionRule? decidingRule = null;
        var covered = candidates.All(p =>
        {
            var within = IsInsideWorkingDirectories(p, context);
            var rule = allowRules.FirstOrDefault(r => FileRuleScope.Reach(r) switch
            {
                FileRuleReach.Anywhere => access == PathAccess.Read || !IsProtectedPath(p),
                FileRuleReach.WorkingDirectories => within && !IsProtectedPath(p),
                _ => PathPatternFor(r, cwd).Matches(p),
            });
            decidingRule ??= rule;
            return rule is not null || (access == PathAccess.Read && within);
        });
        if (covered && decidingRule is not null)
            return new(PermissionBehavior.Allow, decidingRule.Describe(), decidingRule.Text);
        var why = isProtected ? "protected path (.git, settings files)" : inside ? "edits need acceptEdits or an Edit rule" : "outside the working directories";
        return Denied(why, null, NotGrantedPath(access, fullPath));
    }

    // Deny rules are read wider than Claude Code reads them: a Write(...), MultiEdit(...) or NotebookEdit(...) deny,
    // which 2.1.332 never matches, blocks every editing tool here, because a deny that silently does nothing is the
    // worse failure.
    private static readonly HashSet<string> ReadRuleTools = new(StringComparer.Ordinal) { "Read" };
    private static readonly HashSet<string> EditDenyRuleTools = new(StringComparer.Ordinal) { "Read", "Edit", "Write", "MultiEdit", "NotebookEdit" };

    private PermissionRule? FindWholeTool(string toolName, RuleBehavior behavior) =>
        _rules.FirstOrDefault(r => r.Behavior == behavior && r.Specifier is null && (r.NamesTool(toolName) || (r.ToolName == "Edit" && toolName == "Write")))
        ?? _rules.FirstOrDefault(r => r.Behavior == behavior && r.Specifier == "*" && r.NamesTool(toolName) && toolName != "Bash");

    private PathPattern PathPatternFor(PermissionRule rule, string cwd) =>
        _pathPatterns.GetOrAdd((rule, cwd), static key =>
            PathPattern.Compile(key.Rule.Specifier ?? "**", key.Rule.Source.Root ?? key.Cwd, key.Cwd, ToolContext.Home, key.Rule.Behavior != RuleBehavior.Allow));

    private bool IsInsideWorkingDirectories(string path, ToolContext context)
    {
        foreach (var dir in context.AllowedDirectories.Concat(Policy.AdditionalDirectories))
        {
            if (IsUnder(path, dir) || (KernelPath.Resolve(dir) is { } real && IsUnder(path, real)))
                return true;
        }
        return false;
    }

    internal static bool IsUnder(string path, string dir)
    {
        var d = dir.Length > 1 ? dir.TrimEnd('/') : dir;
        return path == d || path.StartsWith(d == "/" ? "/" : d + "/", StringComparison.Ordinal);
    }

    /// <summary>
    /// Files whose change would widen the agent's powers in a later step: git metadata (hooks, config with
    /// <c>core.fsmonitor</c> or aliases run by the read-only git commands) and permission settings files. No mode
    /// writes them on its own; only an Edit rule naming the path does.
    /// </summary>
    internal static bool IsProtectedPath(string path)
    {
        var segments = path.Split('/', StringSplitOptions.RemoveEmptyEntries);
        for (var i = 0; i < segments.Length; i++)
        {
            if (segments[i] == ".git")
                return true;
            if (segments[i] is ".herd" or ".claude" && i + 1 < segments.Length && segments[i + 1].StartsWith("settings", StringComparison.Ordinal))
                return true;
        }
        return false;
    }

    /// <summary>
    /// Every form of a path a rule must see: as written with <c>..</c> collapsed, that form with symlinks resolved, and
    /// the raw form resolved the way the kernel walks it (symlink first, then <c>..</c>); null on a symlink loop.
    /// </summary>
    internal static IReadOnlyList<string>? PathCandidates(string fullPath, string? rawPath = null)
    {
        var real = KernelPath.Resolve(fullPath);
        if (real is null)
            return null;
        var list = new List<string>(3) { fullPath };
        if (real != fullPath)
            list.Add(real);
        if (rawPath is not null && rawPath != fullPath)
        {
            var kernel = KernelPath.Resolve(rawPath);
            if (kernel is null)
                return null;
            if (!list.Contains(kernel))
                list.Add(kernel);
        }
        return list;
    }

    /// <summary>
    /// Whether a Read deny rule (with a specifier) covers <paramref name="path"/> as written or with symlinks resolved.
    /// The file tools' folder walks and the sandbox's masks use this, so the three agree on what is denied.
    /// </summary>
    public bool IsReadDenied(string path, string cwd)
    {
        if (_readDenies.Length == 0)
            return false;
        if (_readDenies.Any(r => PathPatternFor(r, cwd).Matches(path)))
            return true;
        return KernelPath.Resolve(path) is { } real && real != path && _readDenies.Any(r => PathPatternFor(r, cwd).Matches(real));
    }

    /// <summary>The fixed leading folders of the Read deny rules that are anchored (not <c>.env</c>-style, any depth).</summary>
    public IReadOnlyList<string> ReadDenyBases(string cwd) =>
        _readDenies.Select(r => PathPatternFor(r, cwd).Base).OfType<string>().Distinct(StringComparer.Ordinal).ToArray();

    /// <summary>Whether any Read deny rule with a path exists: then values the engine cannot know are refused.</summary>
    public bool HasReadDenies => _readDenies.Length > 0;

    private static PermissionDecision Denied(string reason, PermissionRule? rule, string message) =>
        new(PermissionBehavior.Deny, reason, rule?.Text, message);

    private static string? StringProperty(JsonElement input, string name) =>
        input.ValueKind == JsonValueKind.Object && input.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;

    internal static string NotGranted(string toolName) =>
        $"Claude requested permissions to use {toolName}, but you haven't granted it yet.";

    private static string NotGrantedPath(PathAccess access, string path) => access == PathAccess.Read
        ? $"Claude requested permissions to read from {path}, but you haven't granted it yet."
        : $"Claude requested permissions to write to {path}, but you haven't granted it yet.";
}
