namespace Herd.Agent.Sandbox;

/// <summary>
/// The empty folders bwrap makes as mount points for protected folders that did not exist (<c>.claude/</c>,
/// <c>.herd/</c>, <c>.git/hooks</c>), shared by the concurrent commands of this process: a command that starts while
/// another's mount point stands takes a lease on it too, and the folder is removed when the last lease ends. Without
/// this, the first command to end could not remove a folder still mounted by the second, and the second never knew it
/// was a mount point, so an empty <c>.claude/</c> stayed behind in the tree.
/// </summary>
public static class MountPointLeases
{
    private static readonly Dictionary<string, int> Leases = new(StringComparer.Ordinal);

    /// <summary>Leases the protected folders of <paramref name="context"/> that are missing or are another command's mount point.</summary>
    public static IReadOnlyList<string> Acquire(Tools.ToolContext context)
    {
        lock (Leases)
        {
            var leased = new List<string>();
            foreach (var path in SandboxFilesystem.ProtectedFolders(context))
            {
                if (!Leases.ContainsKey(path) && !SandboxFilesystem.IsMissing(path))
                    continue;
                Leases[path] = Leases.GetValueOrDefault(path) + 1;
                leased.Add(path);
            }
            return leased;
        }
    }

    /// <summary>Ends the leases; a folder whose last lease ended is removed when it is still empty.</summary>
    public static void Release(IReadOnlyList<string> leased)
    {
        lock (Leases)
        {
            foreach (var path in leased)
            {
                if (!Leases.TryGetValue(path, out var count))
                    continue;
                if (count > 1)
                {
                    Leases[path] = count - 1;
                    continue;
                }
                Leases.Remove(path);
                try
                {
                    if (Directory.Exists(path) && !Directory.EnumerateFileSystemEntries(path).Any())
                        Directory.Delete(path);
                }
                catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
                {
                    // Made by someone else meanwhile, or another process's sandbox still holds it: leave it.
                }
            }
        }
    }
}
