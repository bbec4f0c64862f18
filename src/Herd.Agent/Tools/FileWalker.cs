using System.IO.Enumeration;
using Microsoft.Extensions.FileSystemGlobbing;

namespace Herd.Agent.Tools;

/// <summary>
/// Lists files under a folder for Glob and Grep. Symlinks are not followed (a link inside the project must not lead a
/// search outside it) and version-control folders are skipped.
/// </summary>
internal static class FileWalker
{
    private static readonly HashSet<string> SkippedFolders = new(StringComparer.Ordinal) { ".git", ".hg", ".svn", ".jj" };

    /// <summary>
    /// Every file under <paramref name="root"/> with its write time, leaving out what a Read deny rule covers (a denied
    /// folder is not entered), so a search never returns or reads a denied file (issue #9, read denies).
    /// </summary>
    public static IEnumerable<(string Path, DateTime Modified)> Files(string root, ToolContext context)
    {
        var isDenied = context.IsReadDenied;
        var options = new EnumerationOptions
        {
            RecurseSubdirectories = true,
            IgnoreInaccessible = true,
            AttributesToSkip = FileAttributes.ReparsePoint,
            ReturnSpecialDirectories = false,
        };
        return new FileSystemEnumerable<(string, DateTime)>(root, static (ref FileSystemEntry e) => (e.ToFullPath(), e.LastWriteTimeUtc.UtcDateTime), options)
        {
            ShouldIncludePredicate = (ref FileSystemEntry e) => !e.IsDirectory && !isDenied(e.ToFullPath()),
            ShouldRecursePredicate = (ref FileSystemEntry e) => !SkippedFolders.Contains(e.FileName.ToString()) && !isDenied(e.ToFullPath()),
        };
    }

    /// <summary>A matcher for a glob with <c>{a,b}</c> alternatives (which FileSystemGlobbing lacks) expanded.</summary>
    public static Matcher Matcher(string glob)
    {
        var matcher = new Matcher(StringComparison.Ordinal);
        foreach (var pattern in ExpandBraces(glob))
            matcher.AddInclude(pattern);
        return matcher;
    }

    public static IEnumerable<string> ExpandBraces(string glob)
    {
        var open = glob.IndexOf('{');
        var close = open < 0 ? -1 : glob.IndexOf('}', open);
        if (open < 0 || close < 0)
        {
            yield return glob;
            yield break;
        }
        foreach (var alternative in glob[(open + 1)..close].Split(','))
        {
            foreach (var rest in ExpandBraces(glob[(close + 1)..]))
                yield return glob[..open] + alternative + rest;
        }
    }

    /// <summary>
    /// A path as Claude Code 2.1.332 shows it in Glob and Grep results: relative to the working directory when inside
    /// it (fewer tokens), absolute otherwise.
    /// </summary>
    public static string Display(string path, ToolContext context)
    {
        var cwd = context.WorkingDirectory.TrimEnd('/');
        return path.StartsWith(cwd + "/", StringComparison.Ordinal) ? path[(cwd.Length + 1)..] : path;
    }

    /// <summary>Relative path with forward slashes, as globs expect.</summary>
    public static string Relative(string root, string path) => Path.GetRelativePath(root, path).Replace('\\', '/');
}

