using Herd.Fleet.Store;

namespace Herd.Fleet.Isolation;

/// <summary>
/// The patches of a run in SQLite: <c>RUN/patches/KEY12.patch</c>, one file per task, named by the first 12 characters
/// of its key — files a person can read and <c>git apply</c> directly.
/// </summary>
public sealed class PatchFiles(string runDirectory) : IPatchStore
{
    public const string Folder = PatchNames.Folder;

    public static string RelativePath(string key) => PatchNames.Of(key);

    public string SavePatch(string key, int attempt, byte[] patch)
    {
        var relative = RelativePath(key);
        var path = Path.Combine(runDirectory, relative);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        // Written whole, then renamed: a kill -9 leaves the old patch or the new one, never half of one. One process
        // works a SQLite run, so a later attempt always writes after an earlier one.
        File.WriteAllBytes(path + ".tmp", patch);
        File.Move(path + ".tmp", path, overwrite: true);
        return relative;
    }

    public byte[]? ReadPatch(string key)
    {
        var path = Path.Combine(runDirectory, RelativePath(key));
        try
        {
            return File.ReadAllBytes(path);
        }
        catch (Exception ex) when (ex is FileNotFoundException or DirectoryNotFoundException)
        {
            return null;
        }
    }
}
