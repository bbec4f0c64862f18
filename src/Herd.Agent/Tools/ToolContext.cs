using System.Collections.Concurrent;
using Herd.Agent.Sandbox;

namespace Herd.Agent.Tools;

/// <summary>Where and for whom a tool runs. One per agent session.</summary>
public sealed class ToolContext
{
    private readonly Lazy<string> _scratch;

    public ToolContext(string workingDirectory, IReadOnlyList<string>? additionalDirectories = null)
    {
        WorkingDirectory = Path.GetFullPath(workingDirectory);
        AdditionalDirectories = (additionalDirectories ?? []).Select(Path.GetFullPath).ToArray();
        _scratch = new Lazy<string>(CreateScratchDirectory, LazyThreadSafetyMode.ExecutionAndPublication);
    }

    public string WorkingDirectory { get; }

    public IReadOnlyList<string> AdditionalDirectories { get; }

    /// <summary>The working directory and every <c>--add-dir</c> folder.</summary>
    public IEnumerable<string> AllowedDirectories => AdditionalDirectories.Prepend(WorkingDirectory);

    /// <summary>
    /// How tool processes are confined (issue #9). Null: Bash runs unconfined (print mode's default, for parity with
    /// Claude Code). When set, Bash runs inside the kernel sandbox and the file tools apply the same filesystem policy
    /// in-process, so both ways of touching a file obey one set of limits.
    /// </summary>
    public SandboxOptions? Sandbox { get; init; }

    /// <summary>The clock tools time out on (Bash's <c>timeout</c>); a fake one in tests.</summary>
    /// <value>Default <see cref="TimeProvider.System"/>.</value>
    public TimeProvider Time { get; init; } = TimeProvider.System;

    /// <summary>
    /// Whether a Read deny rule covers an absolute path. Tools that walk folders (Glob, Grep, LS) skip such paths and the
    /// sandbox hides them; set from the permission engine (<c>PermissionEngine.IsReadDenied</c>). Default: nothing denied.
    /// </summary>
    public Func<string, bool> IsReadDenied { get; init; } = static _ => false;

    /// <summary>The run's own state (issue #19, class 10): no tool may write it. Filled by the CLI; empty by default.</summary>
    public IReadOnlyList<ProtectedPath> ProtectedPaths { get; init; } = [];

    /// <summary>The protected run path covering <paramref name="absolutePath"/> as written or as the kernel resolves it, or null.</summary>
    public ProtectedPath? RunStateCovering(string absolutePath)
    {
        if (ProtectedPaths.Count == 0)
            return null;
        var real = IO.KernelPath.Resolve(absolutePath);
        return ProtectedPaths.FirstOrDefault(p => p.Covers(absolutePath) || (real is not null && p.Covers(real)));
    }

    /// <summary>Whether any Read deny rule exists; when none does, the sandbox need not look for paths to hide.</summary>
    public bool HasReadDenyRules { get; init; }

    /// <summary>
    /// The fixed leading folders of anchored Read deny rules (<c>~/.ssh</c> for <c>Read(~/.ssh/**)</c>): besides the
    /// working directories, where the sandbox looks for paths to hide. Empty by default.
    /// </summary>
    public IReadOnlyList<string> ReadDenyBases { get; init; } = [];

    /// <summary>
    /// A private folder (mode 0700) for this conversation: the sandbox's writable temp directory (<c>TMPDIR</c>) and where
    /// Bash output too large to send inline is saved. Created on first use.
    /// </summary>
    public string ScratchDirectory => _scratch.Value;

    /// <summary>Whether the scratch folder exists yet (so the permission engine does not create it just to check a path).</summary>
    public bool HasScratchDirectory => _scratch.IsValueCreated;

    /// <summary>
    /// Files read in this conversation with the write time seen then. Edit and Write refuse a file that was not read,
    /// or that changed since it was read (spec §10.3).
    /// </summary>
    public ConcurrentDictionary<string, DateTime> ReadFiles { get; } = new(StringComparer.Ordinal);

    /// <summary>
    /// Command lines the permission engine approved as read-only git (issue #19, class 4). The Bash tool runs them with
    /// git's code-running settings overridden (<see cref="SafeGitEnvironment"/>), so "read-only" git runs no code the
    /// repository chooses.
    /// </summary>
    public ConcurrentDictionary<string, byte> ReadOnlyGitCommands { get; } = new(StringComparer.Ordinal);

    /// <summary>The user's home directory, for <c>~</c> in paths and rules.</summary>
    public static string Home =>
        Environment.GetEnvironmentVariable("HOME") is { Length: > 0 } home ? home : Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);

    /// <summary>
    /// Resolves a path the model gave against <paramref name="baseDirectory"/> (default: the working directory),
    /// expanding a leading <c>~/</c>. The permission engine and the tools use this one function, so the path a rule
    /// was checked against is the path the tool touches.
    /// </summary>
    /// <exception cref="ArgumentException">The path holds a NUL byte (callers check <see cref="HasNul"/> first).</exception>
    public string ResolvePath(string path, string? baseDirectory = null) => Path.GetFullPath(RawPath(path, baseDirectory));

    /// <summary>
    /// The absolute path as the kernel will walk it: <c>~/</c> expanded and joined to the base, but with <c>.</c> and
    /// <c>..</c> left in place (see <see cref="IO.KernelPath"/>).
    /// </summary>
    public string RawPath(string path, string? baseDirectory = null)
    {
        if (path == "~")
            return Home;
        if (path.StartsWith("~/", StringComparison.Ordinal))
            return Home.TrimEnd('/') + "/" + path[2..];
        if (path.StartsWith('/'))
            return path;
        var baseDir = baseDirectory ?? WorkingDirectory;
        return (baseDir == "/" ? "" : baseDir.TrimEnd('/')) + "/" + path;
    }

    /// <summary>A NUL byte cannot be part of a path on Unix; a tool input that holds one is refused before any check.</summary>
    public static bool HasNul(string? text) => text is not null && text.Contains('\0');

    private static string CreateScratchDirectory()
    {
        var path = Path.Combine(Path.GetTempPath(), $"herd-{Environment.ProcessId}-{Guid.NewGuid().ToString("N")[..12]}");
        if (OperatingSystem.IsWindows())
            Directory.CreateDirectory(path);
        else
            Directory.CreateDirectory(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        return path;
    }
}
