using System.Buffers;
using System.Text;
using System.Text.Json;

namespace Herd.Agent.Json;

/// <summary>
/// A JSON document written into a buffer the calling thread keeps for its next document. What a fan-out writes per task
/// (each model request body, each results.ndjson record) is a few KiB to a few tens of KiB: a fresh buffer grown by
/// doubling, then copied out, per document was a visible share of <c>herd run</c>'s per-task CPU and garbage.
/// </summary>
/// <remarks>
/// Use from synchronous code only: <see cref="Start"/>, the writes, then <see cref="ToArray"/> or <see cref="ToUtf16"/>
/// on the same thread, with no await in between and no nested document on the same instance.
/// </remarks>
public sealed class ReusableJsonWriter(JsonWriterOptions options = default)
{
    /// <summary>A buffer that grew past this (a record with a long stdout) is dropped rather than kept for the thread.</summary>
    private const int MaxKeptBytes = 256 * 1024;

    private readonly ThreadLocal<Kept?> _kept = new();

    /// <summary>An empty writer on this thread's buffer.</summary>
    public Utf8JsonWriter Start()
    {
        if (_kept.Value is not { } kept)
        {
            var buffer = new ArrayBufferWriter<byte>(4096);
            kept = new Kept(buffer, new Utf8JsonWriter(buffer, options));
            _kept.Value = kept;
        }
        kept.Buffer.ResetWrittenCount();
        kept.Writer.Reset(kept.Buffer);
        return kept.Writer;
    }

    /// <summary>The document written since <see cref="Start"/>, as UTF-8 bytes.</summary>
    public byte[] ToArray() => Finish().ToArray();

    /// <summary>The document written since <see cref="Start"/>, as a string.</summary>
    public string ToUtf16() => Encoding.UTF8.GetString(Finish());

    private ReadOnlySpan<byte> Finish()
    {
        var kept = _kept.Value ?? throw new InvalidOperationException("Start was not called on this thread.");
        kept.Writer.Flush();
        if (kept.Buffer.Capacity > MaxKeptBytes)
            _kept.Value = null; // the span stays valid: the dropped buffer is collected only after the caller copies it
        return kept.Buffer.WrittenSpan;
    }

    private sealed record Kept(ArrayBufferWriter<byte> Buffer, Utf8JsonWriter Writer);
}
