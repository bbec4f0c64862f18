using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text.Json.Nodes;
using Herd.Fleet.Engines;

namespace Herd.Fleet.Jobs;

/// <summary>
/// A plan produced one task at a time as its inputs are read (issue #23): each input is rendered, keyed and handed on,
/// so a run stores its plan in one pass without a list of tasks in memory. Identical keys collapse into the first task
/// with a warning (spec §3); for that, and for the plan's identity, the stream keeps each key as 32 bytes rather than the
/// task. Read <see cref="Tasks"/> once.
/// </summary>
/// <param name="behaviour">The options that change the agent's behaviour (model, system prompt, tools, rules, schema, max turns).</param>
/// <param name="warn">Receives one message per collapsed duplicate.</param>
public sealed class PlanStream(IEnumerable<TaskInput> inputs, string? template, string engine, JsonObject behaviour, Action<string> warn)
{
    private readonly byte[] _canonicalBehaviour = TaskKey.Canonical(behaviour);
    private Dictionary<KeyBits, int>? _firstSeq = [];
    private bool _read;

    /// <value>Distinct tasks produced so far.</value>
    public int Count { get; private set; }

    /// <summary>The plan's tasks in input order, duplicates left out.</summary>
    /// <exception cref="InvalidOperationException">Read a second time.</exception>
    public IEnumerable<FleetTask> Tasks()
    {
        if (_read)
            throw new InvalidOperationException("a plan stream is read once");
        _read = true;
        return Produce();
    }

    private IEnumerable<FleetTask> Produce()
    {
        var seq = 0;
        foreach (var input in inputs)
        {
            seq++;
            var prompt = Template.Render(input.PromptTemplate ?? template ?? "{}", input, seq, slot: null);
            var options = _canonicalBehaviour;
            if (input.Caps.MaxTurns is { } turns)
            {
                var own = (JsonObject)behaviour.DeepClone();
                own["max_turns"] = turns;
                options = TaskKey.Canonical(own);
            }
            var key = TaskKey.Compute(input.Caps.Engine?.Name() ?? engine, prompt, input.Values, input.Named, options);
            var name = input.Name ?? (input.Values.Count > 0 ? Template.InputText(input) : $"task-{seq}");
            if (!_firstSeq!.TryAdd(KeyBits.Of(key), seq))
            {
                warn($"herd: warning: task {seq} ({input.Name ?? Template.InputText(input)}) is identical to task {_firstSeq[KeyBits.Of(key)]}; it runs once.");
                continue;
            }
            Count++;
            yield return new FleetTask(seq, key, name, prompt, input.Values, input.Named, input.Caps);
        }
    }

    /// <summary>
    /// The whole plan's identity once <see cref="Tasks"/> has been read to its end: the same hash as
    /// <see cref="Runs.PlanIdentity.Of"/> over the same tasks (sorted keys and the shared options). Frees the keys.
    /// </summary>
    public string IdentityHash()
    {
        var keys = _firstSeq?.Keys.ToArray() ?? throw new InvalidOperationException("the identity is taken once");
        _firstSeq = null;
        Array.Sort(keys);
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        hash.AppendData("herd-plan-v1\n"u8);
        hash.AppendData(_canonicalBehaviour);
        Span<byte> text = stackalloc byte[65];
        text[0] = (byte)'\n';
        foreach (var k in keys)
        {
            k.WriteHex(text[1..]);
            hash.AppendData(text);
        }
        return Convert.ToHexStringLower(hash.GetHashAndReset());
    }

    /// <summary>A task key (64 hex digits, a SHA-256) as its 32 bytes; ordered as the keys' text sorts.</summary>
    private readonly record struct KeyBits(ulong A, ulong B, ulong C, ulong D) : IComparable<KeyBits>
    {
        public static KeyBits Of(string key)
        {
            Span<byte> bytes = stackalloc byte[32];
            if (key.Length != 64 || Convert.FromHexString(key, bytes, out _, out var written) != System.Buffers.OperationStatus.Done || written != 32)
                throw new ArgumentException($"'{key}' is not a task key", nameof(key));
            return new KeyBits(BinaryPrimitives.ReadUInt64BigEndian(bytes), BinaryPrimitives.ReadUInt64BigEndian(bytes[8..]),
                BinaryPrimitives.ReadUInt64BigEndian(bytes[16..]), BinaryPrimitives.ReadUInt64BigEndian(bytes[24..]));
        }

        public void WriteHex(Span<byte> into)
        {
            Write(A, into);
            Write(B, into[16..]);
            Write(C, into[32..]);
            Write(D, into[48..]);
        }

        private static void Write(ulong value, Span<byte> into)
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
}
