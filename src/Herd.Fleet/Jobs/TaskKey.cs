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
    public static string Compute(string engine, string prompt, IReadOnlyList<string> values, IReadOnlyDictionary<string, string> named, JsonObject behaviour)
    {
        var doc = new JsonObject
        {
            ["engine"] = engine,
            ["prompt"] = prompt,
            ["v"] = new JsonArray(values.Select(v => (JsonNode?)JsonValue.Create(v)).ToArray()),
            ["inputs"] = new JsonObject(named.Select(kv => KeyValuePair.Create(kv.Key, (JsonNode?)JsonValue.Create(kv.Value)))),
            ["options"] = behaviour.DeepClone(),
        };
        return Hash(Canonical(doc));
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
