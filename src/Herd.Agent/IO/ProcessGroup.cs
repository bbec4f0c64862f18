using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;

namespace Herd.Agent.IO;

/// <summary>
/// A command Herd runs for the agent (Bash, a hook, a confined MCP server) started in a session and process group of
/// its own, and killed with everything it started — background children (<c>cmd &amp;</c>) included, so nothing
/// outlives the call or holds its pipes open. Under bubblewrap the command runs below <c>setsid -f -w</c>: a
/// single-threaded parent that waits for bwrap, so bwrap's <c>--die-with-parent</c> fires when that parent is killed,
/// never because the .NET thread that started it retired.
/// </summary>
public static partial class ProcessGroup
{
    private static readonly string? SetsidPath = new[] { "/usr/bin/setsid", "/bin/setsid" }.FirstOrDefault(File.Exists);

    /// <summary>The program and arguments that start <paramref name="command"/> in its own session.</summary>
    /// <param name="command">The program and its arguments (<c>bash -c …</c>, or bwrap and its arguments).</param>
    /// <param name="sandboxed">The command is bubblewrap: start it under <c>setsid -f -w</c>.</param>
    public static (string File, IReadOnlyList<string> Arguments) Command(IReadOnlyList<string> command, bool sandboxed)
    {
        if (SetsidPath is null)
            return (command[0], command.Skip(1).ToArray());
        return (SetsidPath, sandboxed ? ["-f", "-w", .. command] : command);
    }

    /// <summary>Kills <paramref name="process"/> (started by <see cref="Command"/>) and every process it started.</summary>
    public static void KillTree(Process process, bool sandboxed)
    {
        // Collected before anything dies (orphans are re-parented at once): a sandboxed command's processes live in
        // their own session below bwrap, out of reach of a group kill; killing bwrap ends its namespace.
        var descendants = sandboxed && OperatingSystem.IsLinux() ? Descendants(process.Id) : [];
        // Without the sandbox, setsid makes the command lead its own group: signal the group, which reaches background
        // children too. (Under `setsid -f -w` the waiting parent leads no group of its own.)
        if (SetsidPath is not null && !OperatingSystem.IsWindows())
        {
            try
            {
                if (!sandboxed)
                    _ = Kill(-process.Id, 9);
                foreach (var pid in descendants)
                    _ = Kill(pid, 9);
            }
            catch (Exception ex) when (ex is DllNotFoundException or EntryPointNotFoundException)
            {
                // fall through to the managed kill
            }
        }
        try
        {
            if (!process.HasExited)
                process.Kill(entireProcessTree: true);
        }
        catch (InvalidOperationException)
        {
            // exited meanwhile
        }
    }

    /// <summary>Every process below <paramref name="root"/>, found from the parent ids in <c>/proc/*/stat</c>.</summary>
    public static IReadOnlyList<int> Descendants(int root)
    {
        var parents = new Dictionary<int, List<int>>();
        IEnumerable<string> dirs;
        try
        {
            dirs = Directory.EnumerateDirectories("/proc");
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return [];
        }
        foreach (var dir in dirs)
        {
            if (!int.TryParse(Path.GetFileName(dir), NumberStyles.None, CultureInfo.InvariantCulture, out var pid))
                continue;
            if (ParentOf(dir) is { } parent)
            {
                if (!parents.TryGetValue(parent, out var children))
                    parents[parent] = children = [];
                children.Add(pid);
            }
        }
        var found = new List<int>();
        var queue = new Queue<int>([root]);
        while (queue.Count > 0)
        {
            foreach (var child in parents.GetValueOrDefault(queue.Dequeue()) ?? [])
            {
                found.Add(child);
                queue.Enqueue(child);
            }
        }
        return found;
    }

    private static int? ParentOf(string procDir)
    {
        try
        {
            // "pid (comm) state ppid …": comm may hold spaces and parentheses, so read after the last ')'.
            var stat = File.ReadAllText(Path.Combine(procDir, "stat"));
            var close = stat.LastIndexOf(')');
            var fields = stat[(close + 2)..].Split(' ', 3);
            return int.TryParse(fields[1], NumberStyles.None, CultureInfo.InvariantCulture, out var ppid) ? ppid : null;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or IndexOutOfRangeException or ArgumentOutOfRangeException)
        {
            return null;
        }
    }


    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static partial int Kill(int pid, int signal);
}
