using System.Text.Json;
using System.Text.Json.Nodes;

namespace Herd.Agent.Tools;

/// <summary>Reads tool input leniently (models send numbers as strings now and then) and builds schema fragments.</summary>
internal static class ToolInput
{
    public static string? String(JsonElement input, string name) =>
        input.ValueKind == JsonValueKind.Object && input.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;

    public static double? Number(JsonElement input, string name)
    {
        if (input.ValueKind != JsonValueKind.Object || !input.TryGetProperty(name, out var v))
            return null;
        if (v.ValueKind == JsonValueKind.Number)
            return v.GetDouble();
        if (v.ValueKind == JsonValueKind.String && double.TryParse(v.GetString(), System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out var d))
            return d;
        return null;
    }

    public static bool? Bool(JsonElement input, string name)
    {
        if (input.ValueKind != JsonValueKind.Object || !input.TryGetProperty(name, out var v))
            return null;
        return v.ValueKind switch
        {
            JsonValueKind.True => true,
            JsonValueKind.False => false,
            JsonValueKind.String when bool.TryParse(v.GetString(), out var b) => b,
            _ => null,
        };
    }

    public static ToolResult Missing(string tool, string parameter) =>
        ToolResult.Error($"InputValidationError: {tool} failed due to the following issue: The required parameter `{parameter}` is missing");

    public static JsonObject Prop(string type, string description) => new() { ["type"] = type, ["description"] = description };

    public static JsonObject Schema(JsonObject properties, params string[] required)
    {
        var req = new JsonArray();
        foreach (var r in required)
            req.Add((JsonNode)JsonValue.Create(r));
        return new JsonObject { ["type"] = "object", ["properties"] = properties, ["required"] = req, ["additionalProperties"] = false };
    }
}
