namespace Herd.Fleet.Store.Postgres;

/// <summary>
/// A shared run keeps its patches in the store (<c>herd_patches</c>, migration 4), written by whichever host ran the
/// task, so <c>herd apply RUN --store URL</c> works from any machine.
/// </summary>
public sealed partial class PostgresRunStore
{
    public string SavePatch(string key, int attempt, byte[] patch)
    {
        using var db = _source.OpenConnection();
        // A later attempt replaces an earlier one's patch, never the reverse: a worker that lost its lease and ends late
        // must not overwrite the patch of the attempt that took the task over.
        using var cmd = Cmd(db, null, """
            INSERT INTO herd_patches(run_id, key, attempt, patch, written) VALUES ($1, $2, $3, $4, $5)
            ON CONFLICT (run_id, key) DO UPDATE SET attempt = excluded.attempt, patch = excluded.patch, written = excluded.written
            WHERE herd_patches.attempt <= excluded.attempt
            """, RunId, key, attempt, patch, Utc(_time.GetUtcNow()));
        cmd.ExecuteNonQuery();
        return PatchNames.Of(key);
    }

    public byte[]? ReadPatch(string key)
    {
        using var db = _source.OpenConnection();
        using var cmd = Cmd(db, null, "SELECT patch FROM herd_patches WHERE run_id = $1 AND key = $2", RunId, key);
        return cmd.ExecuteScalar() as byte[];
    }
}
