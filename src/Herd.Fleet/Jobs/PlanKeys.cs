using System.Buffers.Binary;
using System.Security.Cryptography;
using Herd.Agent.IO;

namespace Herd.Fleet.Jobs;

/// <summary>
/// The distinct task keys of a plan as it streams past (issue #23), for the duplicate check and the plan's identity,
/// in memory that does not grow with the plan. The newest keys (up to <see cref="BatchSize"/>) are held in memory;
/// a full batch is sorted and appended to a temporary file, written once and sequentially, 36 bytes a key. A key is
/// looked up in the batch, then in each spilled run that its Bloom filter (2 bytes a key) says may hold it, by one
/// read of the 256 keys around it (every 256th key of a run is kept in memory). The identity hash merges the sorted
/// runs in one sequential pass.
/// </summary>
public sealed class PlanKeys : IDisposable
{
    /// <summary>Keys held in memory before a batch is spilled: about 3.5 MB, whatever the plan's length.</summary>
    public const int BatchSize = 1 << 16;

    private const int EntryBytes = 36;
    private const int FenceEvery = 256;

    private readonly int _batchSize;
    private readonly Dictionary<KeyBits, int> _batch;
    private readonly List<SpilledRun> _runs = [];
    private FileStream? _file;

    /// <summary>
    /// The batch copied out to be sorted, one array for every spill: a fresh 2.6 MB array a spill was garbage on the large
    /// object heap, which only a full collection frees, so the heap grew by one for every 65 536 keys of the plan.
    /// </summary>
    private KeyValuePair<KeyBits, int>[]? _sorting;

    public PlanKeys(int batchSize = BatchSize)
    {
        _batchSize = batchSize;
        _batch = new Dictionary<KeyBits, int>(batchSize);
    }

    /// <value>Distinct keys added.</value>
    public int Count { get; private set; }

    /// <summary>Adds <paramref name="key"/> first seen as task <paramref name="seq"/>; returns null, or the seq of the task that had it first.</summary>
    public int? TryAdd(KeyBits key, int seq)
    {
        if (_batch.TryGetValue(key, out var first))
            return first;
        foreach (var run in _runs)
        {
            if (run.MayHold(key) && Find(run, key) is { } earlier)
                return earlier;
        }
        _batch.Add(key, seq);
        Count++;
        if (_batch.Count >= _batchSize)
            Spill();
        return null;
    }

    /// <summary>The plan's identity: SHA-256 over the header, the shared options and every key in order, as hex lines.</summary>
    public string IdentityHash(ReadOnlySpan<byte> canonicalBehaviour)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        hash.AppendData("herd-plan-v1\n"u8);
        hash.AppendData(canonicalBehaviour);
        Span<byte> text = stackalloc byte[65];
        text[0] = (byte)'\n';
        foreach (var k in Sorted())
        {
            k.WriteHex(text[1..]);
            hash.AppendData(text);
        }
        return Convert.ToHexStringLower(hash.GetHashAndReset());
    }

    /// <summary>Every key, in order: the spilled runs and the batch merged.</summary>
    private IEnumerable<KeyBits> Sorted()
    {
        var sources = new List<IEnumerator<KeyBits>>();
        var batch = _batch.Keys.ToArray();
        Array.Sort(batch);
        sources.Add(((IEnumerable<KeyBits>)batch).GetEnumerator());
        foreach (var run in _runs)
            sources.Add(ReadRun(run).GetEnumerator());
        var heads = new PriorityQueue<int, KeyBits>();
        for (var i = 0; i < sources.Count; i++)
        {
            if (sources[i].MoveNext())
                heads.Enqueue(i, sources[i].Current);
        }
        while (heads.TryDequeue(out var i, out var key))
        {
            yield return key;
            if (sources[i].MoveNext())
                heads.Enqueue(i, sources[i].Current);
        }
        foreach (var source in sources)
            source.Dispose();
    }

    private IEnumerable<KeyBits> ReadRun(SpilledRun run)
    {
        var buffer = new byte[FenceEvery * EntryBytes];
        for (long done = 0; done < run.Count; done += FenceEvery)
        {
            var n = (int)Math.Min(FenceEvery, run.Count - done);
            RandomAccess.Read(_file!.SafeFileHandle, buffer.AsSpan(0, n * EntryBytes), run.Offset + done * EntryBytes);
            for (var i = 0; i < n; i++)
                yield return KeyBits.Read(buffer.AsSpan(i * EntryBytes));
        }
    }

    private void Spill()
    {
        _file ??= PrivateTempFile.Create("plan-keys");
        _sorting ??= new KeyValuePair<KeyBits, int>[_batchSize];
        ((ICollection<KeyValuePair<KeyBits, int>>)_batch).CopyTo(_sorting, 0);
        var entries = _sorting.AsSpan(0, _batch.Count);
        entries.Sort(static (a, b) => a.Key.CompareTo(b.Key));
        var run = new SpilledRun(_file.Length, entries.Length);
        _file.Seek(0, SeekOrigin.End);
        var entry = new byte[EntryBytes];
        for (var i = 0; i < entries.Length; i++)
        {
            entries[i].Key.Write(entry);
            BinaryPrimitives.WriteInt32LittleEndian(entry.AsSpan(32), entries[i].Value);
            _file.Write(entry);
            run.Add(entries[i].Key, i);
        }
        _file.Flush();
        _runs.Add(run);
        _batch.Clear();
    }

    /// <summary>The seq stored with <paramref name="key"/> in <paramref name="run"/>, or null: one read of the block its fences point at.</summary>
    private int? Find(SpilledRun run, KeyBits key)
    {
        var block = run.BlockOf(key);
        if (block < 0)
            return null;
        var start = (long)block * FenceEvery;
        var n = (int)Math.Min(FenceEvery, run.Count - start);
        var buffer = new byte[n * EntryBytes];
        RandomAccess.Read(_file!.SafeFileHandle, buffer, run.Offset + start * EntryBytes);
        int lo = 0, hi = n - 1;
        while (lo <= hi)
        {
            var mid = (lo + hi) >>> 1;
            var c = KeyBits.Read(buffer.AsSpan(mid * EntryBytes)).CompareTo(key);
            if (c == 0)
                return BinaryPrimitives.ReadInt32LittleEndian(buffer.AsSpan(mid * EntryBytes + 32));
            if (c < 0)
                lo = mid + 1;
            else
                hi = mid - 1;
        }
        return null;
    }

    public void Dispose() => _file?.Dispose();

    /// <summary>One sorted batch in the file: where it starts, its fences (every 256th key) and its Bloom filter.</summary>
    private sealed class SpilledRun(long offset, int count)
    {
        /// <summary>16 bits a key and 8 probes: about one false "may hold" in 2 000 lookups.</summary>
        private readonly ulong[] _bloom = new ulong[Math.Max(1, count / 4)];
        private readonly List<KeyBits> _fences = new(count / FenceEvery + 1);

        public long Offset => offset;
        public int Count => count;

        public void Add(KeyBits key, int index)
        {
            if (index % FenceEvery == 0)
                _fences.Add(key);
            var size = (ulong)_bloom.Length * 64;
            for (ulong i = 0; i < Probes; i++)
            {
                var bit = Probe(key, i, size);
                _bloom[bit >>> 6] |= 1UL << (int)(bit & 63);
            }
        }

        public bool MayHold(KeyBits key)
        {
            var size = (ulong)_bloom.Length * 64;
            for (ulong i = 0; i < Probes; i++)
            {
                var bit = Probe(key, i, size);
                if ((_bloom[bit >>> 6] & (1UL << (int)(bit & 63))) == 0)
                    return false;
            }
            return true;
        }

        /// <summary>The block whose first key is the last one not above <paramref name="key"/>; -1 if every key is above it.</summary>
        public int BlockOf(KeyBits key)
        {
            int lo = 0, hi = _fences.Count - 1, found = -1;
            while (lo <= hi)
            {
                var mid = (lo + hi) >>> 1;
                if (_fences[mid].CompareTo(key) <= 0)
                {
                    found = mid;
                    lo = mid + 1;
                }
                else
                {
                    hi = mid - 1;
                }
            }
            return found;
        }

        /// <summary>A key is a SHA-256, so its words are already uniform: the probes are double hashing over two of them.</summary>
        private const ulong Probes = 8;

        private static ulong Probe(KeyBits key, ulong i, ulong size) => (key.C + i * (key.D | 1)) % size;
    }
}

/// <summary>A task key (64 hex digits, a SHA-256) as its 32 bytes; ordered as the keys' text sorts.</summary>
public readonly record struct KeyBits(ulong A, ulong B, ulong C, ulong D) : IComparable<KeyBits>
{
    /// <exception cref="ArgumentException">Not 64 hex digits.</exception>
    public static KeyBits Of(string key)
    {
        Span<byte> bytes = stackalloc byte[32];
        if (key.Length != 64 || Convert.FromHexString(key, bytes, out _, out var written) != System.Buffers.OperationStatus.Done || written != 32)
            throw new ArgumentException($"'{key}' is not a task key", nameof(key));
        return Read(bytes);
    }

    public static KeyBits Read(ReadOnlySpan<byte> bytes) =>
        new(BinaryPrimitives.ReadUInt64BigEndian(bytes), BinaryPrimitives.ReadUInt64BigEndian(bytes[8..]),
            BinaryPrimitives.ReadUInt64BigEndian(bytes[16..]), BinaryPrimitives.ReadUInt64BigEndian(bytes[24..]));

    public void Write(Span<byte> into)
    {
        BinaryPrimitives.WriteUInt64BigEndian(into, A);
        BinaryPrimitives.WriteUInt64BigEndian(into[8..], B);
        BinaryPrimitives.WriteUInt64BigEndian(into[16..], C);
        BinaryPrimitives.WriteUInt64BigEndian(into[24..], D);
    }

    public void WriteHex(Span<byte> into)
    {
        Hex(A, into);
        Hex(B, into[16..]);
        Hex(C, into[32..]);
        Hex(D, into[48..]);
    }

    private static void Hex(ulong value, Span<byte> into)
    {
        for (var i = 15; i >= 0; i--, value >>= 4)
            into[i] = (byte)"0123456789abcdef"[(int)(value & 0xF)];
    }

    public int CompareTo(KeyBits other)
    {
        var c = A.CompareTo(other.A);
        if (c == 0)
            c = B.CompareTo(other.B);
        if (c == 0)
            c = C.CompareTo(other.C);
        return c != 0 ? c : D.CompareTo(other.D);
    }
}
