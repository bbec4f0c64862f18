using System.Text;
using System.Text.RegularExpressions;

namespace Herd.Agent.Permissions;

/// <summary>
/// The specifier of a <c>Read(…)</c>/<c>Edit(…)</c> rule with gitignore semantics (spec §6.2): <c>//abs</c> from the
/// filesystem root, <c>~/p</c> from home, <c>/p</c> from the rule's source root, <c>./p</c> and <c>p/q</c> from the working
/// directory, and a bare name (<c>.env</c>) at any depth. <c>*</c> stays in one segment, <c>**</c> crosses directories, and
/// a pattern that matches a directory matches everything below it.
/// </summary>
internal sealed class PathPattern
{
    private readonly Regex _regex;

    private PathPattern(Regex regex, string? fixedBase)
    {
        _regex = regex;
        Base = fixedBase;
    }

    /// <summary>
    /// The folder (or file) every match lies in: the anchor plus the leading segments without wildcards; null for a
    /// pattern that matches at any depth.
    /// </summary>
    public string? Base { get; }

    /// <summary>Matches an absolute, normalized path.</summary>
    public bool Matches(string fullPath) => _regex.IsMatch(fullPath);

    /// <param name="forDeny">
    /// Deny and ask rules are read wider than allow rules: a relative pattern (<c>secrets/**</c>) matches at any depth
    /// and anywhere on disk, and case is ignored, so a rule meant to protect something never misses it by a detail.
    /// </param>
    public static PathPattern Compile(string specifier, string sourceRoot, string cwd, string home, bool forDeny)
    {
        string baseDir;
        string pattern;
        var floating = false;
        if (specifier.StartsWith("//", StringComparison.Ordinal))
            (baseDir, pattern) = ("/", specifier[2..]);
        else if (specifier == "~" || specifier.StartsWith("~/", StringComparison.Ordinal))
            (baseDir, pattern) = (home, specifier.Length > 2 ? specifier[2..] : "");
        else if (specifier.StartsWith('/'))
            (baseDir, pattern) = (sourceRoot, specifier[1..]);
        else if (specifier.StartsWith("./", StringComparison.Ordinal))
            (baseDir, pattern) = (cwd, specifier[2..]);
        else
        {
            (baseDir, pattern) = (cwd, specifier);
            var inner = specifier.TrimEnd('/');
            floating = forDeny || !inner.Contains('/');
            if (forDeny)
                baseDir = "/";
        }
        pattern = pattern.TrimEnd('/');
        string? fixedBase = null;
        if (!floating)
        {
            var fixedSegments = pattern.Split('/', StringSplitOptions.RemoveEmptyEntries).TakeWhile(seg => seg.IndexOfAny(['*', '?', '[']) < 0);
            fixedBase = string.Join('/', fixedSegments.Prepend(baseDir.TrimEnd('/')));
            if (fixedBase.Length == 0)
                fixedBase = "/";
        }
        var sb = new StringBuilder("^");
        sb.Append(Regex.Escape(baseDir.TrimEnd('/')));
        if (floating)
            sb.Append("(?:/.*)?");
        foreach (var segment in pattern.Split('/', StringSplitOptions.RemoveEmptyEntries))
        {
            if (segment == "**")
            {
                sb.Append("(?:/.*)?");
                continue;
            }
            sb.Append('/');
            foreach (var c in segment)
            {
                sb.Append(c switch
                {
                    '*' => "[^/]*",
                    '?' => "[^/]",
                    _ => Regex.Escape(c.ToString()),
                });
            }
        }
        sb.Append("(?:/.*)?$");
        var options = RegexOptions.NonBacktracking | RegexOptions.CultureInvariant | RegexOptions.Singleline;
        if (forDeny)
            options |= RegexOptions.IgnoreCase;
        return new PathPattern(new Regex(sb.ToString(), options), fixedBase);
    }
}
