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
            throw new HerdUsageException("Error: --json-schema is not valid JSON");
        }
        if (node is not JsonObject obj)
            throw new HerdUsageException("Error: --json-schema must be a JSON object");
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
