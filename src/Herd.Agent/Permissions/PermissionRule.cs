using System.Text;

namespace Herd.Agent.Permissions;

public enum RuleBehavior
{
    Allow,
    Deny,
    Ask,
}

/// <summary>Where a rule came from, for the audit log and for the <c>/path</c> anchor (spec §6.2).</summary>
/// <param name="Name"><c>cli</c>, <c>settings flag</c>, <c>local settings</c>, <c>project settings</c>, <c>user settings</c>.</param>
/// <param name="File">The settings file, or null for flags and inline JSON.</param>
/// <param name="Root">What a <c>/path</c> pattern is anchored at; null = the working directory of the run.</param>
public sealed record RuleSource(string Name, string? File = null, string? Root = null)
{
    public static RuleSource Cli { get; } = new("cli");

    public override string ToString() => File is null ? Name : $"{Name} {File}";
}

/// <summary>
/// A permission rule: <c>Tool</c> or <c>Tool(specifier)</c>. The tool name runs up to the first <c>(</c>, the specifier
/// up to the final <c>)</c>, and <c>\(</c> / <c>\)</c> are literal parentheses (spec §6.2).
/// </summary>
public sealed record PermissionRule(string Text, string ToolName, string? Specifier, RuleBehavior Behavior, RuleSource Source)
{
    /// <summary>Bare <c>Tool</c>, <c>Tool(*)</c>: the rule covers every call of the tool.</summary>
    public bool IsWholeTool => Specifier is null || Specifier == "*";

    /// <exception cref="FormatException">The text is not a rule; the message says why.</exception>
    public static PermissionRule Parse(string text, RuleBehavior behavior, RuleSource source)
    {
        var trimmed = text.Trim();
        if (trimmed.Length == 0)
            throw new FormatException("an empty rule");
        var open = trimmed.IndexOf('(');
        if (open < 0)
        {
            if (trimmed.Contains(')'))
                throw new FormatException($"'{text}' has ')' without '('");
            CheckToolName(trimmed, text);
            return new PermissionRule(trimmed, trimmed, null, behavior, source);
        }
        if (trimmed[^1] != ')')
            throw new FormatException($"'{text}' must end with ')' (write Tool(specifier))");
        var name = trimmed[..open].Trim();
        if (name.Length == 0)
            throw new FormatException($"'{text}' has no tool name before '('");
        CheckToolName(name, text);
        // Claude Code trims the specifier: `Bash( rm *)` is `Bash(rm *)`, never a rule that silently matches nothing.
        var spec = Unescape(trimmed[(open + 1)..^1]).Trim();
        if (spec.Length == 0)
            throw new FormatException($"'{text}' has an empty specifier; write {name} for the whole tool");
        return new PermissionRule(trimmed, name, spec, behavior, source);
    }

    /// <summary>
    /// A rule for a tool no Claude Code version has (<c>bash(rm *)</c>: names are case-sensitive; <c>Bahs(rm *)</c>: a typo)
    /// would never match, so a deny written that way would protect nothing; it fails the run instead, naming the nearest
    /// valid tool name (issue #9, rule parsing).
    /// </summary>
    private static void CheckToolName(string name, string text)
    {
        if (name == "*" || name.StartsWith("mcp__", StringComparison.Ordinal) || Tools.ToolRegistry.KnownNames.Contains(name))
            return;
        var near = NearestToolName(name);
        throw new FormatException(near is null
            ? $"'{text}' names the tool '{name}', which does not exist"
            : string.Equals(near, name, StringComparison.OrdinalIgnoreCase)
                ? $"'{text}' names the tool '{name}', which does not exist; tool names are case-sensitive: write {near}"
                : $"'{text}' names the tool '{name}', which does not exist; did you mean {near}?");
    }

    /// <summary>The known tool name closest to <paramref name="name"/> (case-insensitive edit distance), if it is close enough to be a slip.</summary>
    internal static string? NearestToolName(string name)
    {
        var best = Tools.ToolRegistry.KnownNames
            .Select(k => (Name: k, Distance: EditDistance(k.ToLowerInvariant(), name.ToLowerInvariant())))
            .OrderBy(x => x.Distance).ThenBy(x => x.Name, StringComparer.Ordinal)
            .First();
        return best.Distance <= Math.Max(2, name.Length / 3) ? best.Name : null;
    }

    /// <summary>Edits (insert, delete, substitute, swap two neighbours) from one name to the other.</summary>
    private static int EditDistance(string a, string b)
    {
        var d = new int[a.Length + 1, b.Length + 1];
        for (var i = 0; i <= a.Length; i++)
            d[i, 0] = i;
        for (var j = 0; j <= b.Length; j++)
            d[0, j] = j;
        for (var i = 1; i <= a.Length; i++)
        {
            for (var j = 1; j <= b.Length; j++)
            {
                d[i, j] = Math.Min(Math.Min(d[i - 1, j] + 1, d[i, j - 1] + 1), d[i - 1, j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1));
                if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
                    d[i, j] = Math.Min(d[i, j], d[i - 2, j - 2] + 1);
            }
        }
        return d[a.Length, b.Length];
    }

    private static string Unescape(string s)
    {
        if (!s.Contains('\\'))
            return s;
        var sb = new StringBuilder(s.Length);
        for (var i = 0; i < s.Length; i++)
        {
            if (s[i] == '\\' && i + 1 < s.Length && s[i + 1] is '(' or ')')
            {
                sb.Append(s[++i]);
                continue;
            }
            sb.Append(s[i]);
        }
        return sb.ToString();
    }

    /// <summary>Whether the rule names this tool: exact, <c>*</c>, <c>mcp__server</c> for its tools, or a <c>*</c> pattern.</summary>
    public bool NamesTool(string toolName)
    {
        if (ToolName == toolName || ToolName == "*")
            return true;
        if (ToolName.StartsWith("mcp__", StringComparison.Ordinal))
        {
            if (ToolName.EndsWith('*'))
                return toolName.StartsWith(ToolName[..^1], StringComparison.Ordinal);
            return ToolName.Split("__").Length == 2 && toolName.StartsWith(ToolName + "__", StringComparison.Ordinal);
        }
        return false;
    }

    public string Describe() => $"{Behavior.ToString().ToLowerInvariant()} rule {Text} from {Source}";
}
