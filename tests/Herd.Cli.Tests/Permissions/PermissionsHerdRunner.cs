using System.Text.Json.Nodes;
using Herd.Testing;

namespace Herd.Cli.Tests.Permissions;

/// <summary>
/// Runs the built herd as a real process against a scripted model server, inside a throwaway project with its own
/// HOME and config folders, so no settings of the machine leak into a test. Private to these tests on purpose.
/// </summary>
internal sealed class PermissionsHerdRunner : IDisposable
{
    public PermissionsHerdRunner()
    {
        Root = Path.Combine(Path.GetTempPath(), "herd-e2e-" + Guid.NewGuid().ToString("N"));
        Cwd = Path.Combine(Root, "project");
        Home = Path.Combine(Root, "home");
        Directory.CreateDirectory(Cwd);
        Directory.CreateDirectory(Home);
    }

    public string Root { get; }

    public string Cwd { get; }

    public string Home { get; }

    public string WriteFile(string relative, string content)
    {
        var path = Path.Combine(Cwd, relative);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllText(path, content);
        return path;
    }

    /// <summary>Runs herd through the shared <see cref="HerdProcess"/>, with this project's private HOME and config folders.</summary>
    public Task<HerdRun> RunAsync(ScriptedModelServer server, params string[] args) => RunWithAsync(server, [], args);

    /// <summary>As <see cref="RunAsync"/>, with extra environment variables.</summary>
    public Task<HerdRun> RunWithAsync(ScriptedModelServer server, (string Name, string Value)[] environment, params string[] args)
    {
        var process = new HerdProcess(server.BaseUrl, Cwd, Path.Combine(Root, "herd-config"))
            .WithEnvironment("HOME", Home)
            .WithEnvironment("CLAUDE_CONFIG_DIR", Path.Combine(Root, "claude-config"));
        foreach (var (name, value) in environment)
            process = process.WithEnvironment(name, value);
        return process.RunAsync(args);
    }

    /// <summary>The tool_result blocks the agent sent back to the model, in order.</summary>
    public static List<JsonObject> ToolResults(ScriptedModelServer server) =>
        server.Requests
            .SelectMany(r => ((JsonArray)r.Json["messages"]!).OfType<JsonObject>())
            .Where(m => (string?)m["role"] == "user" && m["content"] is JsonArray)
            .SelectMany(m => ((JsonArray)m["content"]!).OfType<JsonObject>())
            .Where(b => (string?)b["type"] == "tool_result")
            .GroupBy(b => (string?)b["tool_use_id"])
            .Select(g => g.First())
            .ToList();

    public static string Text(JsonObject toolResult) => toolResult["content"] switch
    {
        JsonValue v => (string)v!,
        JsonArray a => string.Concat(a.OfType<JsonObject>().Select(b => (string?)b["text"])),
        _ => "",
    };

    public void Dispose()
    {
        try
        {
            Directory.Delete(Root, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
