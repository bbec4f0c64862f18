using Herd.Fleet.Jobs;

namespace Herd.Fleet.Isolation;

/// <summary>Where a task's patch is kept; the run directory's <c>patches/</c> folder, or a shared store.</summary>
public interface IPatchSink
{
    /// <summary>Keeps the task's patch (replacing an earlier attempt's); returns the location the record names.</summary>
    string Save(FleetTask task, byte[] patch);
}

/// <summary><c>RUN/patches/KEY12.patch</c>: one file per task, named by the first 12 characters of its key.</summary>
public sealed class PatchFiles(string runDirectory) : IPatchSink
{
    public const string Folder = "patches";

    public static string RelativePath(string key) => Folder + "/" + key[..Math.Min(12, key.Length)] + ".patch";

    public string Save(FleetTask task, byte[] patch)
    {
        var relative = RelativePath(task.Key);
        var path = Path.Combine(runDirectory, relative);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        // Written whole, then renamed: a kill -9 leaves the old patch or the new one, never half of one.
        File.WriteAllBytes(path + ".tmp", patch);
        File.Move(path + ".tmp", path, overwrite: true);
        return relative;
    }
}
