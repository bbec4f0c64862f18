using System.Diagnostics;
using Herd.Agent.Tools;

namespace Herd.Agent.Sandbox;

/// <summary>
/// Confines a command with bubblewrap (<c>bwrap</c>, Debian package <c>bubblewrap</c>) — see docs/security.md for why
/// bubblewrap rather than Landlock. The command sees the host's filesystem read-only, its writable folders bound
/// read-write, git config/hooks and the project's settings folders read-only again, every path a Read deny rule covers
/// masked, a private <c>/tmp</c>, a fresh <c>/dev</c>, and a new PID namespace with its own <c>/proc</c>, so the agent
/// process (whose memory holds the API key) cannot be seen, signalled or traced. All capabilities are dropped, which
/// matters when Herd runs as root: without that a root command could simply unmount a mask.
/// </summary>
public static class Bubblewrap
{
    private static readonly Lazy<(string? Path, string? Problem)> Availability = new(Probe, LazyThreadSafetyMode.ExecutionAndPublication);

    /// <summary>The <c>bwrap</c> executable, or null.</summary>
    public static string? ExecutablePath => Availability.Value.Path;

    /// <summary>Null when bubblewrap works here; otherwise why not, phrased to follow "the sandbox is unavailable: ".</summary>
    public static string? Problem => Availability.Value.Problem;

    /// <summary>The message for a run that must confine Bash but cannot.</summary>
    public static string UnavailableMessage(string problem) =>
        $"Error: the sandbox is unavailable: {problem}. Install bubblewrap (apt-get install bubblewrap) and allow user namespaces, or pass --sandbox off to run Bash unconfined.";

    /// <summary>The argument list that runs <c>bash -c command</c> confined (everything after the executable).</summary>
    /// <exception cref="SandboxUnavailableException">The paths to hide could not be determined.</exception>
    public static IReadOnlyList<string> Arguments(string command, ToolContext context)
    {
        var options = context.Sandbox ?? new SandboxOptions();
        var args = new List<string>
        {
            // --die-with-parent ties the sandbox's life to bwrap's parent (PR_SET_PDEATHSIG): when the command's shell
            // ends, bwrap exits and the namespace with everything it left running. The parent must therefore be a
            // process, not a .NET thread that may retire (the signal fires on thread exit): see BashTool's `setsid -f -w`.
            "--die-with-parent", "--new-session", "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try",
            "--cap-drop", "ALL",
            "--ro-bind", "/", "/",
            "--dev", "/dev",
            "--proc", "/proc",
            "--tmpfs", "/tmp",
            "--tmpfs", "/var/tmp",
        };
        if (options.Network == SandboxNetwork.Blocked)
            args.Add("--unshare-net");
        // A configured folder that does not exist (an allowWrite entry) has nothing to bind; bwrap would refuse to start.
        foreach (var root in SandboxFilesystem.WritableRoots(context).Where(Directory.Exists))
            args.AddRange(["--bind", root, root]);
        foreach (var path in SandboxFilesystem.ReadOnlyPaths(context))
            args.AddRange(["--ro-bind", path, path]);
        // Protected folders that do not exist yet get an empty read-only folder, so the command cannot create them
        // either; bwrap makes the mount point, which BashTool removes again once the command has ended.
        foreach (var path in SandboxFilesystem.MissingProtectedFolders(context))
            args.AddRange(["--tmpfs", path, "--remount-ro", path]);
        foreach (var path in SandboxFilesystem.HiddenPaths(context, context.ReadDenyBases))
        {
            // A folder becomes an empty read-only folder, anything else the unreadable, unwritable /dev/null.
            if (Directory.Exists(path) && new DirectoryInfo(path).LinkTarget is null)
                args.AddRange(["--tmpfs", path, "--remount-ro", path]);
            else
                args.AddRange(["--ro-bind", "/dev/null", path]);
        }
        args.AddRange(["--setenv", "TMPDIR", context.ScratchDirectory, "--chdir", context.WorkingDirectory, "--", "bash", "-c", command]);
        return args;
    }

    private static (string? Path, string? Problem) Probe()
    {
        if (!OperatingSystem.IsLinux())
            return (null, "bubblewrap needs Linux");
        // HERD_BWRAP names a specific bwrap (e.g. a newer build); then no other is looked for.
        var path = Environment.GetEnvironmentVariable("HERD_BWRAP") is { Length: > 0 } chosen
            ? (File.Exists(chosen) ? chosen : null)
            : FindExecutable("bwrap");
        if (path is null)
            return (null, Environment.GetEnvironmentVariable("HERD_BWRAP") is { Length: > 0 } missing ? $"HERD_BWRAP '{missing}' does not exist" : "bwrap was not found on PATH");
        try
        {
            var psi = new ProcessStartInfo(path)
            {
                RedirectStandardError = true,
                RedirectStandardOutput = true,
                UseShellExecute = false,
            };
            foreach (var a in new[] { "--unshare-pid", "--cap-drop", "ALL", "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--", "true" })
                psi.ArgumentList.Add(a);
            using var process = Process.Start(psi)!;
            var stderr = process.StandardError.ReadToEndAsync();
            if (!process.WaitForExit(10_000))
            {
                process.Kill(entireProcessTree: true);
                return (null, "bwrap did not finish a trial run within 10 s");
            }
            if (process.ExitCode != 0)
            {
                var why = stderr.Result.Trim().Split('\n')[0];
                return (null, $"bwrap cannot create namespaces here ({(why.Length > 0 ? why : "exit code " + process.ExitCode)})");
            }
            return (path, null);
        }
        catch (Exception ex) when (ex is System.ComponentModel.Win32Exception or InvalidOperationException or IOException)
        {
            return (null, $"bwrap could not be started ({ex.Message})");
        }
    }

    private static string? FindExecutable(string name)
    {
        var dirs = (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries).Concat(["/usr/bin", "/bin", "/usr/local/bin"]);
        return dirs.Select(d => Path.Combine(d, name)).FirstOrDefault(File.Exists);
    }
}
