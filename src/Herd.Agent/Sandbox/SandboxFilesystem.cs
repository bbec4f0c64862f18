using Herd.Agent.IO;
using Herd.Agent.Tools;

namespace Herd.Agent.Sandbox;

/// <summary>
/// The filesystem policy of a confined run, in one place for both enforcers: the kernel sandbox (bubblewrap mounts) and
/// the in-process file tools (Read, Write, Edit, Glob, Grep, LS), which never pass through the kernel's checks of the
/// sandbox but must obey the same limits (issue #9). Writes: only inside the working directories, <c>--add-dir</c>
/// folders and the private temp folder, and never into git's config and hooks or the project's <c>.claude/</c> and
/// <c>.herd/</c> folders. Reads: everything except what a Read deny rule covers.
/// </summary>
public static class SandboxFilesystem
{
    /// <summary>Entries examined per command when looking for files a deny rule covers; past it the command is refused.</summary>
    public const int MaxWalkEntries = 300_000;

    /// <summary>Paths, relative to a writable folder, that stay read-only: they would widen what later commands may do.</summary>
    private static readonly string[] ProtectedRelative = [".git/config", ".git/hooks", ".claude", ".herd"];

    /// <summary>Sockets of local daemons that would run commands outside the sandbox (as Claude Code's sandbox also hides).</summary>
    internal static readonly string[] DaemonSockets =
    [
        "/run/docker.sock", "/var/run/docker.sock", "/run/containerd/containerd.sock", "/run/podman/podman.sock",
        "/run/buildkit/buildkitd.sock", "/run/dbus", "/run/user",
    ];

    /// <summary>Every writable folder, symlinks resolved, the working directories first.</summary>
    public static IReadOnlyList<string> WritableRoots(ToolContext context)
    {
        var roots = new List<string>();
        foreach (var dir in context.AllowedDirectories.Concat(context.Sandbox?.ExtraWritableDirectories ?? []).Append(context.ScratchDirectory))
        {
            var real = KernelPath.Resolve(Path.GetFullPath(dir)) ?? dir;
            if (!roots.Contains(real))
                roots.Add(real);
        }
        return roots;
    }

    /// <summary>Existing paths inside the writable folders that are mounted read-only, the run's own state included.</summary>
    public static IReadOnlyList<string> ReadOnlyPaths(ToolContext context) =>
        WritableRoots(context)
            .SelectMany(root => ProtectedRelative.Select(rel => Path.Combine(root, rel)))
            .Concat(context.ProtectedPaths.Select(p => KernelPath.Resolve(Path.GetFullPath(p.Path)) ?? p.Path))
            .Where(p => FileStatus.Of(p, followSymlinks: false).Kind != FileKind.Missing)
            .Distinct(StringComparer.Ordinal)
            .ToArray();

    /// <summary>
    /// The protected configuration folders (<c>.claude</c>, <c>.herd</c>; <c>.git/hooks</c> when <c>.git</c> is a folder)
    /// of the writable folders that do not exist yet: the sandbox mounts an empty read-only folder there for the
    /// command's lifetime (and removes the empty mount point after it), so a command cannot create them either.
    /// </summary>
    public static IReadOnlyList<string> MissingProtectedFolders(ToolContext context) =>
        ProtectedFolders(context).Where(IsMissing).ToArray();

    /// <summary>The protected folders of every writable root, whether they exist or not.</summary>
    public static IReadOnlyList<string> ProtectedFolders(ToolContext context) =>
        WritableRoots(context)
            .Where(root => root != (KernelPath.Resolve(context.ScratchDirectory) ?? context.ScratchDirectory) && Directory.Exists(root))
            .SelectMany(root => new[] { ".claude", ".herd" }
                .Concat(Directory.Exists(Path.Combine(root, ".git")) ? [".git/hooks"] : [])
                .Select(rel => Path.Combine(root, rel)))
            .Distinct(StringComparer.Ordinal)
            .ToArray();

    public static bool IsMissing(string path) => FileStatus.Of(path, followSymlinks: false).Kind == FileKind.Missing;

    /// <summary>
    /// Whether <paramref name="absolutePath"/> (symlinks resolved) is, or lies in, the protected configuration of a working
    /// directory (<c>.claude/</c>, <c>.herd/</c>, <c>.git/config</c>, <c>.git/hooks</c>), whether or not it exists yet.
    /// </summary>
    public static bool IsProtectedConfiguration(string absolutePath, ToolContext context)
    {
        var real = KernelPath.Resolve(absolutePath) ?? absolutePath;
        foreach (var root in context.AllowedDirectories.Select(d => KernelPath.Resolve(d) ?? d).Distinct(StringComparer.Ordinal))
        {
            foreach (var candidate in new[] { absolutePath, real })
            {
                if (!IsUnder(candidate, root) || candidate.Length == root.TrimEnd('/').Length)
                    continue;
                var relative = candidate[(root.TrimEnd('/').Length + 1)..];
                if (ProtectedRelative.Any(p => relative == p || relative.StartsWith(p + "/", StringComparison.Ordinal)))
                    return true;
            }
        }
        return false;
    }

    /// <summary>Whether a confined run may write <paramref name="absolutePath"/> (symlinks on the path followed, as the kernel does).</summary>
    public static bool CanWrite(string absolutePath, ToolContext context)
    {
        var real = KernelPath.Resolve(absolutePath);
        if (real is null)
            return false;
        foreach (var root in WritableRoots(context))
        {
            if (!IsUnder(real, root))
                continue;
            var relative = real.Length == root.Length ? "" : real[(root.TrimEnd('/').Length + 1)..];
            return !ProtectedRelative.Any(p => relative == p || relative.StartsWith(p + "/", StringComparison.Ordinal)) && context.RunStateCovering(real) is null;
        }
        return false;
    }

    /// <summary>
    /// Existing paths a Read deny rule covers, to be hidden from confined processes: found by walking the writable
    /// folders and each deny rule's fixed leading folder, without following symlinks. A covered folder is hidden whole.
    /// </summary>
    /// <exception cref="SandboxUnavailableException">More than <see cref="MaxWalkEntries"/> entries had to be examined.</exception>
    public static IReadOnlyList<string> HiddenPaths(ToolContext context, IEnumerable<string> denyBases)
    {
        var hidden = new List<string>();
        foreach (var socket in DaemonSockets)
        {
            if (FileStatus.Of(socket, followSymlinks: false).Kind != FileKind.Missing)
                hidden.Add(socket);
        }
        if (!context.HasReadDenyRules)
            return hidden;
        var budget = MaxWalkEntries;
        var roots = WritableRoots(context).Concat(denyBases).Distinct(StringComparer.Ordinal).ToList();
        // A base inside another walked folder is covered by that walk.
        roots = roots.Where(r => !roots.Any(o => o != r && IsUnder(r, o))).ToList();
        foreach (var root in roots)
            Walk(root, context, hidden, ref budget);
        return hidden.Distinct(StringComparer.Ordinal).ToArray();
    }

    private static void Walk(string root, ToolContext context, List<string> hidden, ref int budget)
    {
        if (FileStatus.Of(root, followSymlinks: false).Kind == FileKind.Missing)
            return;
        if (context.IsReadDenied(root))
        {
            hidden.Add(root);
            return;
        }
        var stack = new Stack<string>();
        stack.Push(root);
        while (stack.Count > 0)
        {
            var dir = stack.Pop();
            IEnumerable<FileSystemInfo> entries;
            try
            {
                entries = new DirectoryInfo(dir).EnumerateFileSystemInfos("*", new EnumerationOptions { IgnoreInaccessible = true, AttributesToSkip = 0 });
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                continue;
            }
            foreach (var entry in entries)
            {
                if (--budget < 0)
                {
                    throw new SandboxUnavailableException(
                        $"more than {MaxWalkEntries} files had to be checked against Read deny rules under {root}; anchor the deny rules (Read(./.env) instead of Read(.env)) or narrow the working directory");
                }
                var path = entry.FullName;
                if (context.IsReadDenied(path))
                {
                    hidden.Add(path);
                    continue;
                }
                if (entry is DirectoryInfo && entry.LinkTarget is null)
                    stack.Push(path);
            }
        }
    }

    internal static bool IsUnder(string path, string dir)
    {
        var d = dir.Length > 1 ? dir.TrimEnd('/') : dir;
        return path == d || path.StartsWith(d == "/" ? "/" : d + "/", StringComparison.Ordinal);
    }
}

/// <summary>The sandbox cannot confine a command here; the message says why and what to do.</summary>
public sealed class SandboxUnavailableException(string message) : HerdException(message)
{
    /// <value>The command was right; the machine could not confine it.</value>
    public override bool IsFatal => true;
}
