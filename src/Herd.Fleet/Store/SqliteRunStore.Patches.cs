using Herd.Fleet.Isolation;

namespace Herd.Fleet.Store;

/// <summary>A SQLite run keeps its patches as files beside run.db (<c>patches/</c>), where a person can read them.</summary>
public sealed partial class SqliteRunStore
{
    public string SavePatch(string key, int attempt, byte[] patch) => new PatchFiles(Directory).SavePatch(key, attempt, patch);

    public byte[]? ReadPatch(string key) => new PatchFiles(Directory).ReadPatch(key);
}
