using System.Text;
using System.Text.RegularExpressions;
using Herd.Agent.Tools;

namespace Herd.Agent.Permissions;

/// <summary>
/// Expands a word the way bash will before the command sees it (issue #9, unexpanded words): brace expansion, then
/// pathname expansion against the real filesystem — <c>*</c>, <c>?</c>, <c>[…]</c>, a leading dot matched only
/// explicitly, a pattern without matches left as written. Rules are then checked against every file the word names,
/// so <c>cat src/*/secret.txt</c> or <c>cat .e*</c> cannot slip past <c>Read(.env)</c>-style denies.
/// </summary>
internal static class ShellGlob
{
    /// <summary>More expansions than this and the word is treated as unknown (the caller denies where a rule depends on it).</summary>
    public const int MaxExpansions = 2000;

    /// <summary>Absolute paths the word may stand for (its literal reading included); null when there are too many.</summary>
    public static IReadOnlyList<string>? Expand(ShellWord word, string cwd, ToolContext context)
    {
        var results = new List<string>();
        var alternatives = word.Raw.IndexOfAny(['\'', '"', '\\']) < 0 && word.Value.Contains('{') ? FileSystemBraces(word.Value) : [word.Value];
        foreach (var alternative in alternatives)
        {
            var absolute = context.RawPath(alternative, cwd);
            results.Add(absolute);
            if (alternative.IndexOfAny(['*', '?', '[']) < 0)
                continue;
            var matches = Match(absolute);
            if (matches is null)
                return null;
            results.AddRange(matches);
            if (results.Count > MaxExpansions)
                return null;
        }
        return results;
    }

    /// <summary>Brace expansion of <c>a{b,c}d</c> (also several groups), as bash does before globbing.</summary>
    public static IReadOnlyList<string> FileSystemBraces(string value)
    {
        var list = FileWalker.ExpandBraces(value).ToList();
        return list.Count == 0 ? [value] : list;
    }

    private static List<string>? Match(string absolute)
    {
        var current = new List<string> { "/" };
        foreach (var segment in absolute.Split('/', StringSplitOptions.RemoveEmptyEntries))
        {
            var next = new List<string>();
            if (segment.IndexOfAny(['*', '?', '[']) < 0)
            {
                foreach (var dir in current)
                    next.Add(dir == "/" ? "/" + segment : dir + "/" + segment);
            }
            else
            {
                var regex = SegmentRegex(segment);
                foreach (var dir in current)
                {
                    if (!Directory.Exists(dir))
                        continue;
                    IEnumerable<string> names;
                    try
                    {
                        names = Directory.EnumerateFileSystemEntries(dir).Select(Path.GetFileName).OfType<string>().ToArray();
                    }
                    catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
                    {
                        continue;
                    }
                    // Bash before 5.2 (and with globskipdots off) lets `.*` match `.` and `..`: assume it does.
                    if (segment.StartsWith('.'))
                        names = names.Append(".").Append("..");
                    foreach (var name in names)
                    {
                        if (name.StartsWith('.') && !segment.StartsWith('.'))
                            continue;
                        if (regex.IsMatch(name))
                            next.Add(dir == "/" ? "/" + name : dir + "/" + name);
                        if (next.Count > MaxExpansions)
                            return null;
                    }
                }
            }
            current = next;
            if (current.Count == 0)
                return [];
        }
        return current;
    }

    private static Regex SegmentRegex(string segment)
    {
        var sb = new StringBuilder("^");
        for (var i = 0; i < segment.Length; i++)
        {
            var c = segment[i];
            switch (c)
            {
                case '*':
                    sb.Append(".*");
                    break;
                case '?':
                    sb.Append('.');
                    break;
                case '[':
                    var close = segment.IndexOf(']', i + 2);
                    if (close < 0)
                    {
                        sb.Append("\\[");
                        break;
                    }
                    var set = segment[(i + 1)..close];
                    if (set.StartsWith('!'))
                        set = "^" + set[1..];
                    sb.Append('[').Append(set.Replace("\\", "\\\\", StringComparison.Ordinal)).Append(']');
                    i = close;
                    break;
                default:
                    sb.Append(Regex.Escape(c.ToString()));
                    break;
            }
        }
        try
        {
            return new Regex(sb.Append('$').ToString(), RegexOptions.NonBacktracking | RegexOptions.CultureInvariant | RegexOptions.Singleline);
        }
        catch (ArgumentException)
        {
            // A bracket expression .NET cannot read: match everything, so every file is checked.
            return new Regex(".*", RegexOptions.NonBacktracking);
        }
    }
}
