using System.Text.Json;

namespace Herd.Agent.Models;

/// <summary>Token usage of one or more API calls, as the Messages API reports it.</summary>
public sealed record Usage(
    long InputTokens = 0,
    long OutputTokens = 0,
    long CacheCreationInputTokens = 0,
    long CacheReadInputTokens = 0,
    long CacheCreation1hTokens = 0,
    long CacheCreation5mTokens = 0,
    long WebSearchRequests = 0,
    long WebFetchRequests = 0,
    string? ServiceTier = null)
{
    public static Usage Zero { get; } = new();

    public long TotalInputTokens => InputTokens + CacheCreationInputTokens + CacheReadInputTokens;

    public Usage Add(Usage other) => new(
        InputTokens + other.InputTokens,
        OutputTokens + other.OutputTokens,
        CacheCreationInputTokens + other.CacheCreationInputTokens,
        CacheReadInputTokens + other.CacheReadInputTokens,
        CacheCreation1hTokens + other.CacheCreation1hTokens,
        CacheCreation5mTokens + other.CacheCreation5mTokens,
        WebSearchRequests + other.WebSearchRequests,
        WebFetchRequests + other.WebFetchRequests,
        other.ServiceTier ?? ServiceTier);

    /// <summary>Reads a Messages API <c>usage</c> object; fields it lacks keep the values of <paramref name="basis"/>.</summary>
    public static Usage Parse(JsonElement e, Usage? basis = null)
    {
        var b = basis ?? Zero;
        if (e.ValueKind != JsonValueKind.Object)
            return b;
        long Get(string name, long fallback) =>
            e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Number ? v.GetInt64() : fallback;
        long cw1h = b.CacheCreation1hTokens, cw5m = b.CacheCreation5mTokens;
        if (e.TryGetProperty("cache_creation", out var cc) && cc.ValueKind == JsonValueKind.Object)
        {
            cw1h = cc.TryGetProperty("ephemeral_1h_input_tokens", out var h) && h.ValueKind == JsonValueKind.Number ? h.GetInt64() : cw1h;
            cw5m = cc.TryGetProperty("ephemeral_5m_input_tokens", out var m) && m.ValueKind == JsonValueKind.Number ? m.GetInt64() : cw5m;
        }
        long ws = b.WebSearchRequests, wf = b.WebFetchRequests;
        if (e.TryGetProperty("server_tool_use", out var st) && st.ValueKind == JsonValueKind.Object)
        {
            ws = st.TryGetProperty("web_search_requests", out var s) && s.ValueKind == JsonValueKind.Number ? s.GetInt64() : ws;
            wf = st.TryGetProperty("web_fetch_requests", out var f) && f.ValueKind == JsonValueKind.Number ? f.GetInt64() : wf;
        }
        var tier = e.TryGetProperty("service_tier", out var t) && t.ValueKind == JsonValueKind.String ? t.GetString() : b.ServiceTier;
        return new Usage(
            Get("input_tokens", b.InputTokens),
            Get("output_tokens", b.OutputTokens),
            Get("cache_creation_input_tokens", b.CacheCreationInputTokens),
            Get("cache_read_input_tokens", b.CacheReadInputTokens),
            cw1h, cw5m, ws, wf, tier);
    }

    /// <summary>Writes the result object's <c>usage</c> shape (spec §3.3).</summary>
    public void WriteTo(Utf8JsonWriter w)
    {
        w.WriteStartObject();
        w.WriteNumber("input_tokens", InputTokens);
        w.WriteNumber("cache_creation_input_tokens", CacheCreationInputTokens);
        w.WriteNumber("cache_read_input_tokens", CacheReadInputTokens);
        w.WriteNumber("output_tokens", OutputTokens);
        w.WriteStartObject("server_tool_use");
        w.WriteNumber("web_search_requests", WebSearchRequests);
        w.WriteNumber("web_fetch_requests", WebFetchRequests);
        w.WriteEndObject();
        w.WriteString("service_tier", ServiceTier ?? "standard");
        w.WriteStartObject("cache_creation");
        w.WriteNumber("ephemeral_1h_input_tokens", CacheCreation1hTokens);
        w.WriteNumber("ephemeral_5m_input_tokens", CacheCreation5mTokens);
        w.WriteEndObject();
        w.WriteEndObject();
    }
}
