namespace Herd.Fleet.Store;

/// <summary>
/// Where the patches of a run's tasks are kept (<c>--isolate</c>): the run directory's <c>patches/</c> folder for a
/// run in SQLite, the shared store for a run in PostgreSQL — so whichever host ran a task (<c>herd run</c>,
/// <c>herd run --store</c>, any <c>herd worker</c>), <c>herd apply</c> finds its patch wherever it runs.
/// </summary>
/// <remarks>A role of a run store, apart from <see cref="IRunStore"/>: only hosts that isolate and readers that apply need it.</remarks>
public interface IPatchStore
{
    /// <summary>
    /// Keeps a task's patch, replacing the patch of an earlier attempt (never a later one: a worker that lost its lease
    /// cannot overwrite the patch of the attempt that replaced it).
    /// </summary>
    /// <returns>The patch's name in the record (<c>patches/KEY12.patch</c>).</returns>
    string SavePatch(string key, int attempt, byte[] patch);

    /// <summary>The task's patch as it was last saved; null when it has none.</summary>
    byte[]? ReadPatch(string key);
}

/// <summary>The name a task's patch has in its record: <c>patches/KEY12.patch</c>, the first 12 characters of its key.</summary>
public static class PatchNames
{
    public const string Folder = "patches";

    public static string Of(string key) => Folder + "/" + key[..Math.Min(12, key.Length)] + ".patch";
}
