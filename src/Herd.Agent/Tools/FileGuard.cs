using Herd.Agent.IO;
using Herd.Agent.Sandbox;

namespace Herd.Agent.Tools;

/// <summary>
/// The checks every file tool makes on a path after the permission engine has allowed the call, so a bad or hostile
/// path ends as a tool error and never as a crash or a hang (issue #9, crashes) and so the file tools obey the sandbox's
/// filesystem policy in-process (issue #9: "whether or not they go through the kernel").
/// </summary>
internal static class FileGuard
{
    /// <summary>Read refuses larger files unless given offset/limit, as Claude Code does.</summary>
    public const long MaxReadBytes = 256 * 1024;

    /// <summary>Edit and Write load the old file whole; past this they refuse rather than hold hundreds of MB.</summary>
    public const long MaxEditBytes = 16L * 1024 * 1024;

    /// <summary>What Claude Code 2.1.332 appends to a successful Write or Edit (recorded side by side), so the model does not re-read.</summary>
    public const string StateIsCurrent = " (file state is current in your context — no need to Read it back)";

    public static string NulMessage(string parameter) => $"{parameter} contains a NUL byte, which no file name can hold.";

    /// <summary>An error when a confined run may not write <paramref name="path"/>; null when it may (or nothing is confined).</summary>
    public static string? CheckWrite(string path, ToolContext context)
    {
        // The run's own state is read-only to tools in every mode, sandbox or not (issue #19, class 10).
        if (context.RunStateCovering(path) is { } state)
            return $"{path} is part of {state.Why}, which tools may not change.";
        // The agent's own configuration, whether or not it exists yet (issue #19, class 3).
        if (SandboxFilesystem.IsProtectedConfiguration(path, context))
            return $"{path} is the agent's own configuration (.claude/, .herd/, .git/config, .git/hooks), which tools may not create or change.";
        return context.Sandbox is not null && !SandboxFilesystem.CanWrite(path, context)
            ? $"The sandbox does not allow writing {path}: writes are limited to the working directories and the session's temp folder, and .git/config, .git/hooks, .claude/ and .herd/ stay read-only."
            : null;
    }

    /// <summary>An error when a Read deny rule covers the path as written or as the kernel resolves it.</summary>
    public static string? CheckRead(string path, ToolContext context) =>
        context.IsReadDenied(path) || (KernelPath.Resolve(path) is { } real && real != path && context.IsReadDenied(real))
            ? $"Permission to read {path} has been denied."
            : null;

    /// <summary>An error for anything that is not a regular file (FIFO, device, socket): opening one could block forever.</summary>
    public static string? CheckRegular(string path, FileStatus status) =>
        status.Kind is FileKind.Regular or FileKind.Missing or FileKind.Directory
            ? null
            : $"{path} is {status.Describe()}, not a regular file. The file tools only read and write regular files.";

    /// <summary>
    /// Replaces the file at <paramref name="path"/> (its real path, if it is a symlink) with <paramref name="bytes"/>: written
    /// to a temporary file beside it, then renamed over it. A hard link elsewhere keeps the old content instead of
    /// being rewritten in place, and the file's permission bits are kept.
    /// </summary>
    public static async Task ReplaceAsync(string path, byte[] bytes, CancellationToken cancellationToken)
    {
        var real = KernelPath.Resolve(path) ?? path;
        var dir = Path.GetDirectoryName(real)!;
        var temp = Path.Combine(dir, $".{Path.GetFileName(real)}.herd-{Guid.NewGuid().ToString("N")[..8]}.tmp");
        UnixFileMode? mode = !OperatingSystem.IsWindows() && File.Exists(real) ? File.GetUnixFileMode(real) : null;
        try
        {
            await using (var stream = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None))
                await stream.WriteAsync(bytes, cancellationToken).ConfigureAwait(false);
            if (mode is { } m && !OperatingSystem.IsWindows())
                File.SetUnixFileMode(temp, m);
            File.Move(temp, real, overwrite: true);
        }
        catch
        {
            try
            {
                File.Delete(temp);
            }
            catch (IOException)
            {
            }
            throw;
        }
    }
}
