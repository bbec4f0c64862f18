using System.Text.Json;
using System.Text.Json.Nodes;
using Json.Schema;

namespace Herd.Agent.Loop;

/// <summary>A <c>--json-schema</c> checked up front and used to validate StructuredOutput calls (draft 2020-12).</summary>
public sealed class OutputSchema
{
    private readonly JsonSchema _schema;

    private OutputSchema(JsonObject node, JsonSchema schema)
    {
        Node = node;
        _schema = schema;
    }

    public JsonObject Node { get; }

    /// <summary>Parses and checks a schema; the messages are the spec's (§1.1), word for word.</summary>
    /// <exception cref="HerdUsageException">Not JSON, not an object, or not a valid JSON Schema.</exception>
    public static OutputSchema Parse(string text)
    {
        JsonNode? node;
        try
        {
            node = JsonNode.Parse(text);
        }
        catch (JsonException)
        {
            if (NestingDepth(text) is { } depth and > MaxDepth)
                throw new HerdUsageException($"Error: --json-schema is nested {depth} levels deep; the JSON parser allows at most {MaxDepth}. Flatten it with $defs and $ref.");
            throw new HerdUsageException("Error: --json-schema is not valid JSON");
        }
        if (node is not JsonObject obj)
            throw new HerdUsageException("Error: --json-schema must be a JSON object");
        if (RemoteReference(obj) is { } remote)
            throw new HerdUsageException($"Error: --json-schema refers to a schema outside itself ($ref \"{remote}\"); Herd does not fetch schemas. Put the referenced schema under $defs and refer to it as \"#/$defs/<name>\".");
        JsonSchema schema;
        try
        {
            // Each schema gets its own registry so an $id in one run never leaks into another in the same process.
            schema = JsonSchema.FromText(text, new BuildOptions { SchemaRegistry = new SchemaRegistry() });
        }
        catch (Exception ex) when (ex is JsonSchemaException or JsonException or ArgumentException or InvalidOperationException or FormatException or RefResolutionException)
        {
            throw new HerdUsageException($"Error: --json-schema is not a valid JSON Schema: {ex.Message}");
        }
        using (var doc = JsonDocument.Parse(text))
        {
            var meta = MetaSchemas.Draft202012.Evaluate(doc.RootElement, new EvaluationOptions { OutputFormat = OutputFormat.List });
            if (!meta.IsValid)
                throw new HerdUsageException($"Error: --json-schema is not a valid JSON Schema: {Describe(meta).FirstOrDefault() ?? "it does not validate against the draft 2020-12 meta-schema"}");
        }
        return new OutputSchema(obj, schema);
    }

    /// <summary>System.Text.Json's default maximum depth, which parsing the schema and validating values both use.</summary>
    public const int MaxDepth = 64;

    /// <summary>How deep valid JSON nests, or null when the text is not JSON at all.</summary>
    private static int? NestingDepth(string text)
    {
        var reader = new Utf8JsonReader(System.Text.Encoding.UTF8.GetBytes(text), new JsonReaderOptions { MaxDepth = 100_000, AllowTrailingCommas = false });
        var deepest = 0;
        try
        {
            while (reader.Read())
                deepest = Math.Max(deepest, reader.CurrentDepth + (reader.TokenType is JsonTokenType.StartObject or JsonTokenType.StartArray ? 1 : 0));
        }
        catch (JsonException)
        {
            return null;
        }
        return deepest;
    }

    /// <summary>
    /// The first <c>$ref</c>/<c>$dynamicRef</c> that points outside the schema (a URL, or a relative file name with no
    /// matching <c>$id</c> inside it). Such a reference would fail only when the model's answer is validated — after
    /// the run has spent money — so it is refused up front.
    /// </summary>
    private static string? RemoteReference(JsonObject schema)
    {
        var ids = new HashSet<string>(StringComparer.Ordinal);
        var refs = new List<string>();
        var stack = new Stack<JsonNode>([schema]);
        while (stack.Count > 0)
        {
            switch (stack.Pop())
            {
                case JsonObject o:
                    foreach (var (key, value) in o)
                    {
                        if (value is JsonValue v && v.TryGetValue<string>(out var str))
                        {
                            if (key == "$id")
                                ids.Add(str.Split('#')[0]);
                            else if (key is "$ref" or "$dynamicRef")
                                refs.Add(str);
                        }
                        else if (value is not null)
                            stack.Push(value);
                    }
                    break;
                case JsonArray a:
                    foreach (var item in a)
                    {
                        if (item is not null)
                            stack.Push(item);
                    }
                    break;
            }
        }
        return refs.FirstOrDefault(r => !r.StartsWith('#') && !ids.Contains(r.Split('#')[0]) && !ids.Any(id => id.Length > 0 && Uri.TryCreate(id, UriKind.Absolute, out var b) && Uri.TryCreate(b, r, out var target) && ids.Contains(target.GetLeftPart(UriPartial.Query))));
    }

    /// <summary>The validation errors of a value, each with its location; empty when the value is valid.</summary>
    public IReadOnlyList<string> Validate(JsonNode? value)
    {
        using var doc = JsonDocument.Parse(value?.ToJsonString() ?? "null");
        var results = _schema.Evaluate(doc.RootElement, new EvaluationOptions { OutputFormat = OutputFormat.List });
        return results.IsValid ? [] : Describe(results).DefaultIfEmpty("the value does not match the schema").ToList();
    }

    private static IEnumerable<string> Describe(EvaluationResults results)
    {
        var all = results.Details is { Count: > 0 } details ? details.Prepend(results) : [results];
        foreach (var r in all)
        {
            if (r.Errors is null)
                continue;
            foreach (var (keyword, message) in r.Errors)
            {
                var at = r.InstanceLocation.ToString();
                yield return $"{(string.IsNullOrEmpty(at) ? "/" : at)}: {message} ({keyword})";
            }
        }
    }
}
