using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Herd.Agent;
using Herd.Fleet.Jobs;

namespace Herd.Fleet.Runs;

/// <summary>A task of the full plan, as a manifest names it: enough to say which task is missing from a merge.</summary>
public sealed record PlanEntry(string Key, string Name);

/// <summary>
/// The identity of a whole plan, before sharding or sampling: a hash over every task key (sorted, so the order inputs
/// were listed in does not matter) and the options every task shares. Shards of one CI pipeline compute the same
/// hash from the same inputs and options; <c>herd merge</c> refuses run directories whose hashes differ.
/// </summary>
public sealed record PlanIdentity(string Hash, IReadOnlyList<PlanEntry> Tasks)
{
    /// <param name="sharedOptions">Canonical JSON of the options that change what every task does (already part of each key; hashed again so the plan names them).</param>
    public static PlanIdentity Of(IReadOnlyList<FleetTask> plan, ReadOnlySpan<byte> sharedOptions)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        hash.AppendData("herd-plan-v1\n"u8);
        hash.AppendData(sharedOptions);
        foreach (var key in plan.Select(t => t.Key).Order(StringComparer.Ordinal))
        {
            hash.AppendData("\n"u8);
            hash.AppendData(Encoding.UTF8.GetBytes(key));
        }
        return new PlanIdentity(Convert.ToHexStringLower(hash.GetHashAndReset()), plan.Select(t => new PlanEntry(t.Key, t.Name)).ToArray());
    }
}

/// <summary>
/// <c>plan.json</c> in a run directory: the full plan's identity and which shards of it the directory holds. Written
/// once when a run is created (a shard run holds one shard; <c>herd merge</c> output holds several), read by
/// <c>herd merge</c> and by a resumed shard. Kept beside run.db rather than in it, so every <see cref="Store.IRunStore"/>
/// stays as it is.
/// </summary>
/// <param name="ShardTotal">n of k/n; 1 for a run that was not sharded.</param>
/// <param name="Shards">The shard indexes (1-based) this directory holds.</param>
/// <param name="Sharded">Whether the run was started with --shard (records then carry "shard":"k/n").</param>
/// <param name="Merged">Written by herd merge.</param>
public sealed record PlanManifest(string PlanHash, int ShardTotal, IReadOnlyList<int> Shards, bool Sharded, bool Merged, IReadOnlyList<PlanEntry> Tasks)
{
    public const string FileName = "plan.json";

    public static string PathIn(string runDirectory) => Path.Combine(runDirectory, FileName);

    public void Write(string runDirectory)
    {
        using var buffer = new MemoryStream();
        using (var w = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = false }))
        {
            w.WriteStartObject();
            w.WriteNumber("format", 1);
            w.WriteString("plan_hash", PlanHash);
            w.WriteNumber("shard_total", ShardTotal);
            w.WriteStartArray("shards");
            foreach (var k in Shards)
                w.WriteNumberValue(k);
            w.WriteEndArray();
            w.WriteBoolean("sharded", Sharded);
            w.WriteBoolean("merged", Merged);
            w.WriteNumber("plan_tasks", Tasks.Count);
            w.WriteStartArray("tasks");
            foreach (var t in Tasks)
            {
                w.WriteStartArray();
                w.WriteStringValue(t.Key);
                w.WriteStringValue(t.Name);
                w.WriteEndArray();
            }
            w.WriteEndArray();
            w.WriteEndObject();
        }
        Directory.CreateDirectory(runDirectory); // a store other than SQLite may not have made it
        var path = PathIn(runDirectory);
        var tmp = path + ".tmp";
        File.WriteAllBytes(tmp, buffer.ToArray());
        File.Move(tmp, path, overwrite: true);
    }

    /// <summary>The manifest in <paramref name="runDirectory"/>; null when there is none (a run made before shards existed).</summary>
    /// <exception cref="HerdFatalException">The file is there but damaged.</exception>
    public static PlanManifest? Read(string runDirectory)
    {
        var path = PathIn(runDirectory);
        if (!File.Exists(path))
            return null;
        try
        {
            using var doc = JsonDocument.Parse(File.ReadAllBytes(path));
            var root = doc.RootElement;
            var total = root.GetProperty("shard_total").GetInt32();
            var shards = root.GetProperty("shards").EnumerateArray().Select(e => e.GetInt32()).ToArray();
            CheckShards(total, shards);
            var tasks = root.GetProperty("tasks").EnumerateArray()
                .Select(e => new PlanEntry(e[0].GetString() ?? throw new FormatException("a task key is null"), e[1].GetString() ?? ""))
                .ToArray();
            return new PlanManifest(root.GetProperty("plan_hash").GetString() ?? throw new FormatException("plan_hash is null"), total, shards,
                root.GetProperty("sharded").GetBoolean(), root.GetProperty("merged").GetBoolean(), tasks);
        }
        catch (Exception ex) when (ex is JsonException or FormatException or InvalidOperationException or KeyNotFoundException or IndexOutOfRangeException)
        {
            throw Damaged(path, ex);
        }
    }

    /// <exception cref="FormatException">The shard numbers do not fit the total.</exception>
    internal static void CheckShards(int total, IReadOnlyList<int> shards)
    {
        if (total < 1 || total > Shard.MaxTotal || shards.Count == 0 || shards.Any(k => k < 1 || k > total))
            throw new FormatException($"shards {string.Join(",", shards)} of {total} are out of range");
    }

    internal static HerdFatalException Damaged(string path, Exception ex) =>
        new($"Error: '{path}' is damaged ({ex.Message}). Re-download the shard's run directory, or rerun that shard.", ex);
}

/// <summary>
/// What a resumed run and <c>herd merge</c> need of plan.json: everything but the task list, which is counted, not
/// loaded, or handed to the caller one task at a time (issue #23).
/// </summary>
public sealed record PlanManifestHeader(string PlanHash, int ShardTotal, IReadOnlyList<int> Shards, bool Sharded, bool Merged, int TaskCount)
{
    /// <summary>The header of the manifest in <paramref name="runDirectory"/>, read in one streaming pass; null when there is none.</summary>
    /// <param name="onTask">Called with each task of the plan as it is read (<c>herd merge</c>), in the file's order.</param>
    /// <exception cref="HerdFatalException">The file is there but damaged.</exception>
    public static PlanManifestHeader? Read(string runDirectory, Action<PlanEntry>? onTask = null)
    {
        var path = PlanManifest.PathIn(runDirectory);
        if (!File.Exists(path))
            return null;
        try
        {
            using var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 0);
            string? hash = null, property = null;
            int? total = null;
            bool? sharded = null, merged = null;
            var shards = new List<int>();
            var tasks = 0;
            string? taskKey = null, taskName = null;
            var taskField = 0;
            var buffer = new byte[1 << 16];
            var length = 0;
            var state = new JsonReaderState();
            var end = false;
            while (!end)
            {
                if (length == buffer.Length)
                    Array.Resize(ref buffer, buffer.Length * 2); // one token longer than the buffer (a very long name)
                var read = file.Read(buffer, length, buffer.Length - length);
                end = read == 0;
                length += read;
                var reader = new Utf8JsonReader(buffer.AsSpan(0, length), end, state);
                while (reader.Read())
                {
                    switch (reader.CurrentDepth, reader.TokenType)
                    {
                        case (1, JsonTokenType.PropertyName):
                            property = reader.GetString();
                            break;
                        case (1, _) when property == "plan_hash":
                            hash = reader.GetString();
                            break;
                        case (1, _) when property == "shard_total":
                            total = reader.GetInt32();
                            break;
                        case (1, _) when property == "sharded":
                            sharded = reader.GetBoolean();
                            break;
                        case (1, _) when property == "merged":
                            merged = reader.GetBoolean();
                            break;
                        case (2, JsonTokenType.Number) when property == "shards":
                            shards.Add(reader.GetInt32());
                            break;
                        case (2, JsonTokenType.StartArray) when property == "tasks":
                            tasks++;
                            (taskKey, taskName, taskField) = (null, null, 0);
                            break;
                        case (3, JsonTokenType.String) when property == "tasks" && onTask is not null:
                            if (taskField++ == 0)
                                taskKey = reader.GetString();
                            else if (taskField == 2)
                                taskName = reader.GetString();
                            break;
                        case (2, JsonTokenType.EndArray) when property == "tasks" && onTask is not null:
                            onTask(new PlanEntry(taskKey ?? throw new FormatException($"task {tasks} has no key"), taskName ?? ""));
                            break;
                    }
                }
                state = reader.CurrentState;
                var consumed = (int)reader.BytesConsumed;
                buffer.AsSpan(consumed, length - consumed).CopyTo(buffer);
                length -= consumed;
            }
            if (total is not { } t || hash is null || sharded is null || merged is null)
                throw new FormatException("plan_hash, shard_total, sharded or merged is missing");
            PlanManifest.CheckShards(t, shards);
            return new PlanManifestHeader(hash, t, shards, sharded.Value, merged.Value, tasks);
        }
        catch (Exception ex) when (ex is JsonException or FormatException or InvalidOperationException)
        {
            throw PlanManifest.Damaged(path, ex);
        }
    }
}

/// <summary>
/// <c>plan.json</c> written while the plan is stored (issue #23): each task's key and name go out as the task passes,
/// and the plan's hash, known once every task was seen, comes after them. Readers look fields up by name, so the
/// file reads as <see cref="PlanManifest.Write"/>'s. Until <see cref="Finish"/> the file is a temporary one; disposed
/// unfinished, it is removed.
/// </summary>
public sealed class PlanManifestWriter : IDisposable
{
    private readonly string _path;
    private readonly FileStream _file;
    private readonly Utf8JsonWriter _json;
    private bool _finished;

    public PlanManifestWriter(string runDirectory)
    {
        Directory.CreateDirectory(runDirectory); // a store other than SQLite may not have made it
        _path = PlanManifest.PathIn(runDirectory);
        _file = new FileStream(_path + ".tmp", FileMode.Create, FileAccess.Write, FileShare.None, 1 << 16);
        _json = new Utf8JsonWriter(_file);
        _json.WriteStartObject();
        _json.WriteNumber("format", 1);
        _json.WriteStartArray("tasks");
    }

    /// <value>Tasks written so far.</value>
    public int Count { get; private set; }

    public void Add(FleetTask task) => Add(task.Key, task.Name);

    public void Add(PlanEntry entry) => Add(entry.Key, entry.Name);

    private void Add(string key, string name)
    {
        _json.WriteStartArray();
        _json.WriteStringValue(key);
        _json.WriteStringValue(name);
        _json.WriteEndArray();
        Count++;
        if (_json.BytesPending > 1 << 16)
            _json.Flush();
    }

    /// <summary>Writes the hash and the shard after the tasks and moves the file into place.</summary>
    public void Finish(string planHash, Shard? shard) =>
        Finish(planHash, shard?.Total ?? 1, [shard?.Index ?? 1], sharded: shard is not null, merged: false);

    /// <summary>Writes the hash and the shards held after the tasks and moves the file into place (<c>herd merge</c>).</summary>
    public void Finish(string planHash, int shardTotal, IReadOnlyList<int> shards, bool sharded, bool merged)
    {
        _json.WriteEndArray();
        _json.WriteString("plan_hash", planHash);
        _json.WriteNumber("shard_total", shardTotal);
        _json.WriteStartArray("shards");
        foreach (var k in shards)
            _json.WriteNumberValue(k);
        _json.WriteEndArray();
        _json.WriteBoolean("sharded", sharded);
        _json.WriteBoolean("merged", merged);
        _json.WriteNumber("plan_tasks", Count);
        _json.WriteEndObject();
        _json.Flush();
        _json.Dispose();
        _file.Dispose();
        File.Move(_path + ".tmp", _path, overwrite: true);
        _finished = true;
    }

    public void Dispose()
    {
        if (_finished)
            return;
        _json.Dispose();
        _file.Dispose();
        File.Delete(_path + ".tmp");
    }
}
