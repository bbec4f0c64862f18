using System.Text.Json.Nodes;

namespace Herd.Cli.Tests.Print;

/// <summary>
/// Tests that run herd on a recorded Claude Code 2.1.332 case (Print/ClaudeCode/*.json, made by record.py) and compare
/// the outputs field by field.
/// </summary>
public abstract class ClaudeCodeComparisonTestBase : HerdTestBase
{
    /// <summary>The recording <paramref name="name"/>, and herd run on the same command, replies and files.</summary>
    protected async Task<(ClaudeCodeRecording Claude, HerdComparison Herd)> CompareAsync(string name)
    {
        var recording = ClaudeCodeRecording.Load(name);
        return (recording, await recording.RunHerdAsync(Server, Work, Config.Path));
    }

    /// <summary>The named fields of <paramref name="o"/> (null when absent), as JSON text in the order given.</summary>
    protected static string Pick(JsonObject o, params string[] keys) =>
        new JsonObject(keys.Select(k => KeyValuePair.Create(k, o[k]?.DeepClone()))).ToJsonString();

    protected static JsonObject Result(IReadOnlyList<JsonObject> lines) => lines.Last(l => (string?)l["type"] == "result");

    /// <summary>Type/subtype of each line but status lines, which Herd prints and 2.1.332 does not.</summary>
    protected static IEnumerable<string> Shape(IReadOnlyList<JsonObject> lines) => lines
        .Where(l => (string?)l["subtype"] != "status")
        .Select(l => (string?)l["type"] + "/" + (string?)l["subtype"]);
}
