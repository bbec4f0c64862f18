using System.Text;
using System.Text.Json;
using Herd.Fleet.Engines;
using Herd.Fleet.Jobs;

namespace Herd.Fleet.Store;

/// <summary>Small JSON columns written and read without reflection (Native AOT).</summary>
internal static class StoreJson
{
    public static string Strings(IReadOnlyList<string> values) => Write(w =>
    {
        w.WriteStartArray();
        foreach (var v in values)
            w.WriteStringValue(v);
        w.WriteEndArray();
    });

    public static string Map(IReadOnlyDictionary<string, string> map) => Write(w =>
    {
        w.WriteStartObject();
        foreach (var (k, v) in map)
            w.WriteString(k, v);
        w.WriteEndObject();
    });

    public static string Caps(TaskCaps caps) => Write(w =>
    {
        w.WriteStartObject();
        if (caps.MaxTurns is { } t)
            w.WriteNumber("max_turns", t);
        if (caps.MaxBudgetUsd is { } b)
            w.WriteNumber("max_budget_usd", b);
        if (caps.Timeout is { } to)
            w.WriteNumber("timeout_s", to.TotalSeconds);
        if (caps.IdleTimeout is { } it)
            w.WriteNumber("idle_timeout_s", it.TotalSeconds);
        if (caps.Engine is { } engine)
            w.WriteString("engine", engine.Name());
        w.WriteEndObject();
    });

    public static IReadOnlyList<string> ReadStrings(string json)
    {
        using var doc = JsonDocument.Parse(json);
        return doc.RootElement.EnumerateArray().Select(e => e.GetString() ?? "").ToArray();
    }

    public static IReadOnlyDictionary<string, string> ReadMap(string json)
    {
        using var doc = JsonDocument.Parse(json);
        var map = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var p in doc.RootElement.EnumerateObject())
            map[p.Name] = p.Value.GetString() ?? "";
        return map;
    }

    public static TaskCaps ReadCaps(string json)
    {
        using var doc = JsonDocument.Parse(json);
        var e = doc.RootElement;
        double? Get(string name) => e.TryGetProperty(name, out var v) ? v.GetDouble() : null;
        return new TaskCaps(
            Get("max_turns") is { } t ? (int)t : null,
            Get("max_budget_usd"),
            Get("timeout_s") is { } to ? TimeSpan.FromSeconds(to) : null,
            Get("idle_timeout_s") is { } it ? TimeSpan.FromSeconds(it) : null,
            e.TryGetProperty("engine", out var engine) ? EngineKinds.Parse(engine.GetString()) : null);
    }

    /// <summary>A final record's <c>key</c>; "" when the record is not a JSON object with one (the reader then reports it damaged).</summary>
    public static string KeyOf(string record)
    {
        try
        {
            using var doc = JsonDocument.Parse(record);
            return doc.RootElement.ValueKind == JsonValueKind.Object && doc.RootElement.TryGetProperty("key", out var k) && k.ValueKind == JsonValueKind.String ? k.GetString()! : "";
        }
        catch (JsonException)
        {
            return "";
        }
    }

    public static string Write(Action<Utf8JsonWriter> body)
    {
        using var buffer = new MemoryStream();
        using (var w = new Utf8JsonWriter(buffer))
            body(w);
        return Encoding.UTF8.GetString(buffer.ToArray());
    }
}
