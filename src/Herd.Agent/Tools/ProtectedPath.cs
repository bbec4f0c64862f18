namespace Herd.Agent.Tools;

/// <summary>
/// A file or folder Herd writes for its own run (run directory, run store and its <c>-wal</c>/<c>-shm</c>, results,
/// audit log, joblog, transcripts): read-only to every tool process wherever it lies and in every mode (issue #19,
/// class 10), since a tool that could write it could rewrite the run's ledger, attempts or results. The sandbox binds
/// it read-only; the file tools and the permission engine refuse to write it.
/// </summary>
/// <param name="Path">Absolute path; a folder covers everything below it, including files created later.</param>
/// <param name="Why">What it is, for the refusal's message (<c>the run directory</c>, <c>the audit log</c>).</param>
public sealed record ProtectedPath(string Path, string Why)
{
    /// <summary>Whether <paramref name="absolutePath"/> (as written or resolved by the caller) is this path or lies below it.</summary>
    public bool Covers(string absolutePath)
    {
        var own = System.IO.Path.GetFullPath(Path).TrimEnd('/');
        var real = IO.KernelPath.Resolve(own) ?? own;
        return Under(absolutePath, own) || Under(absolutePath, real);
    }

    private static bool Under(string path, string dir) =>
        dir.Length > 0 && (path == dir || path.StartsWith(dir + "/", StringComparison.Ordinal));
}
