using System.Collections.Concurrent;

namespace Herd.Agent.Tools;

/// <summary>Where and for whom a tool runs. One per agent session.</summary>
public sealed class ToolContext
{
    public ToolContext(string workingDirectory, IReadOnlyList<string>? additionalDirectories = null)
    {
        WorkingDirectory = Path.GetFullPath(workingDirectory);
        AdditionalDirectories = (additionalDirectories ?? []).Select(Path.GetFullPath).ToArray();
    }

    public string WorkingDirectory { get; }

    public IReadOnlyList<string> AdditionalDirectories { get; }

    /// <summary>The working directory and every <c>--add-dir</c> folder.</summary>
    public IEnumerable<string> AllowedDirectories => AdditionalDirectories.Prepend(WorkingDirectory);

    /// <summary>
    /// Files read in this conversation with the write time seen then. Edit and Write refuse a file that was not read,
    /// or that changed since it was read (spec §10.3).
    /// </summary>
    public ConcurrentDictionary<string, DateTime> ReadFiles { get; } = new(StringComparer.Ordinal);

    /// <summary>The user's home directory, for <c>~</c> in paths and rules.</summary>
    public static string Home =>
        Environment.GetEnvironmentVariable("HOME") is { Length: > 0 } home ? home : Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);

    /// <summary>
    /// Resolves a path the model gave against <paramref name="baseDirectory"/> (default: the working directory),
    /// expanding a leading <c>~/</c>. The permission engine and the tools use this one function, so the path a rule
    /// was checked against is the path the tool touches.
    /// </summary>
    public string ResolvePath(string path, string? baseDirectory = null)
    {
        if (path == "~")
            return Path.GetFullPath(Home);
        if (path.StartsWith("~/", StringComparison.Ordinal))
            return Path.GetFullPath(Path.Combine(Home, path[2..]));
        return Path.GetFullPath(Path.IsPathRooted(path) ? path : Path.Combine(baseDirectory ?? WorkingDirectory, path));
    }
}
