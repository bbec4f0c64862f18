using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Herd.Fleet.Jobs;

/// <summary>
/// Task identity (spec §3): SHA-256 hex of canonical JSON — engine, rendered prompt, inputs and the options that change
/// the agent's behaviour. Retries, timeouts, budgets, concurrency and output options are left out on purpose, so
/// changing them does not invalidate finished tasks on resume.
/// </summary>
public static class TaskKey
{
    public static string Compute(string engine, string prompt, IReadOnlyList<string> values, IReadOnlyDictionary<string, string> named, JsonObject behaviour) =>
        Compute(engine, prompt, values, named, Canonical(behaviour));

    /// <summary>
    /// The same key, with the options already in canonical form: a plan shares one behaviour across all its tasks, so it
    /// is canonicalised once instead of deep-cloned and re-sorted 10 000 times. The document is written directly in
    /// canonical order (engine, inputs, options, prompt, v), giving exactly the bytes of <see cref="Canonical"/>.
    /// </summary>
    public static string Compute(string engine, string prompt, IReadOnlyList<string> values, IReadOnlyDictionary<string, string> named, byte[] canonicalBehaviour)
    {
        var buffer = new System.Buffers.ArrayBufferWriter<byte>(256 + canonicalBehaviour.Length + prompt.Length);
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            w.WriteString("engine", engine);
            w.WriteStartObject("inputs");
            foreach (var (k, v) in named.OrderBy(p => p.Key, StringComparer.Ordinal))
                w.WriteString(k, v);
            w.WriteEndObject();
            w.WritePropertyName("options");
            w.WriteRawValue(canonicalBehaviour, skipInputValidation: true);
            w.WriteString("prompt", prompt);
            w.WriteStartArray("v");
            foreach (var v in values)
                w.WriteStringValue(v);
            w.WriteEndArray();
            w.WriteEndObject();
        }
        return Convert.ToHexStringLower(SHA256.HashData(buffer.WrittenSpan));
    }

    /// <summary>Object keys sorted ordinally at every level, no whitespace: the same content always gives the same bytes.</summary>
    public static byte[] Canonical(JsonNode? node)
    {
        using var buffer = new MemoryStream();
        using (var writer = new Utf8JsonWriter(buffer))
            Write(writer, node);
        return buffer.ToArray();
    }

    public static string Hash(byte[] bytes) => Convert.ToHexStringLower(SHA256.HashData(bytes));

    private static void Write(Utf8JsonWriter w, JsonNode? node)
    {
        switch (node)
        {
            case null:
                w.WriteNullValue();
                break;
            case JsonObject o:
                w.WriteStartObject();
                foreach (var (k, v) in o.OrderBy(p => p.Key, StringComparer.Ordinal))
                {
                    w.WritePropertyName(k);
                    Write(w, v);
                }
                w.WriteEndObject();
                break;
            case JsonArray a:
                w.WriteStartArray();
                foreach (var item in a)
                    Write(w, item);
                w.WriteEndArray();
                break;
            default:
                node.WriteTo(w);
                break;
        }
    }

    internal static string Utf8(byte[] bytes) => Encoding.UTF8.GetString(bytes);
}
