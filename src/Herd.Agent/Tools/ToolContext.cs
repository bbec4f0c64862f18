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

    /// <summary>Resolves a path the model gave against the working directory.</summary>
    public string ResolvePath(string path) =>
        Path.GetFullPath(Path.IsPathRooted(path) ? path : Path.Combine(WorkingDirectory, path));
}
