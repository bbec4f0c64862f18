using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Herd.Testing;

namespace Herd.Cli.Tests.Print;

/// <summary>
/// One recorded Claude Code 2.1.332 run (Print/ClaudeCode/*.json, made by record.py against the scripted server) and
/// the same command run through herd in the same layout: a root holding <c>home/</c> (the user's config directory)
/// and <c>parent/proj/</c> (the working directory). Both outputs are normalised alike (ids, durations, paths) so a
/// test compares the fields a compatibility point is about.
/// </summary>
public sealed partial class ClaudeCodeRecording
{
    private readonly JsonObject _fixture;

    private ClaudeCodeRecording(string name, JsonObject fixture)
    {
        Name = name;
        _fixture = fixture;
    }

    public string Name { get; }

    public static ClaudeCodeRecording Load(string name)
    {
        var path = Path.Combine(AppContext.BaseDirectory, "Print", "ClaudeCode", name + ".json");
        return new ClaudeCodeRecording(name, (JsonObject)JsonNode.Parse(File.ReadAllText(path))!);
    }

    public IReadOnlyList<string> Argv => _fixture["argv"]!.AsArray().Select(a => (string)a!).ToArray();

    public int ExitCode => (int)_fixture["exit"]!;

    /// <summary>stdout as text (text output) — empty when it was JSON.</summary>
    public string StdoutText => _fixture["stdout"] is JsonValue v ? (string)v! : "";

    /// <summary>stdout as JSON lines (json and stream-json output).</summary>
    public IReadOnlyList<JsonObject> StdoutJson => _fixture["stdout"] is JsonArray a ? a.Select(n => (JsonObject)n!).ToArray() : [];

    public string Stderr => (string)_fixture["stderr"]!;

    /// <summary>What Claude Code sent, reduced by record.py: model, max_tokens, the first user message's texts.</summary>
    public IReadOnlyList<JsonObject> Requests => _fixture["requests"]!.AsArray().Select(n => (JsonObject)n!).ToArray();

    /// <summary>Runs the recorded command through herd against <paramref name="server"/>, in the recorded layout.</summary>
    public async Task<HerdComparison> RunHerdAsync(ScriptedModelServer server, TempDirectory root, string configDirectory)
    {
        var cwd = root.Combine("parent", "proj");
        var home = root.Combine("home");
        Directory.CreateDirectory(cwd);
        Directory.CreateDirectory(Path.Combine(home, ".claude"));
        File.WriteAllText(Path.Combine(cwd, "loop.txt"), "some text\n");
        if (_fixture["files"] is JsonObject files)
        {
            foreach (var (relative, text) in files)
                root.WriteFile(relative, (string)text!);
        }
        var scriptJson = _fixture["script"]!.ToJsonString().Replace("<cwd>", cwd, StringComparison.Ordinal);
        server.Reset(JsonSerializer.Deserialize(scriptJson, ScriptJsonContext.Default.ModelScript)!);
        var before = server.RequestCount;
        var herd = new HerdProcess(server.BaseUrl, cwd, configDirectory).WithEnvironment("CLAUDE_CONFIG_DIR", Path.Combine(home, ".claude"));
        // MCP cases (record.py): <mcp-server> is the test server's dll, <mcp-http> the URL of one started with --http.
        var argv = Argv.Select(a => a.Replace("<mcp-server>", McpTestServer.Dll, StringComparison.Ordinal)).ToArray();
        using var http = argv.Any(a => a.Contains("<mcp-http>", StringComparison.Ordinal))
            ? System.Diagnostics.Process.Start(new System.Diagnostics.ProcessStartInfo("dotnet") { ArgumentList = { McpTestServer.Dll, "--http" }, RedirectStandardOutput = true, UseShellExecute = false })
            : null;
        if (http is not null)
        {
            var url = await http.StandardOutput.ReadLineAsync();
            argv = argv.Select(a => a.Replace("<mcp-http>", url, StringComparison.Ordinal)).ToArray();
        }
        HerdRun run;
        try
        {
            // Generous: several engineers share two cores, and a starved herd start can take tens of seconds.
            run = await herd.RunAsync(argv, (string?)_fixture["stdin"], TimeSpan.FromMinutes(3));
        }
        finally
        {
            http?.Kill(entireProcessTree: true);
        }
        var paths = new[] { (Path.Combine(home), "<home>"), (cwd, "<cwd>"), (root.Path, "<root>") };
        return new HerdComparison(run, server.Requests.Skip(before).Select(r => r.Json).ToArray(), paths);
    }

    /// <summary>Replaces temp paths and uuids (except the fixed resume id) as record.py does.</summary>
    public static string Normalise(string text, IEnumerable<(string Path, string Name)> paths)
    {
        foreach (var (path, name) in paths)
            text = text.Replace(path, name, StringComparison.Ordinal);
        return Uuid().Replace(text, m => m.Value == "11111111-2222-3333-4444-555555555555" ? m.Value : "<uuid>");
    }

    [GeneratedRegex("[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")]
    private static partial Regex Uuid();
}

/// <summary>Herd's side of a comparison: its run, normalised like the recording, and the requests it sent.</summary>
public sealed class HerdComparison(HerdRun run, IReadOnlyList<JsonObject> requests, IReadOnlyList<(string Path, string Name)> paths)
{
    public HerdRun Run { get; } = run;

    public IReadOnlyList<JsonObject> Requests { get; } = requests;

    public string StdoutText => ClaudeCodeRecording.Normalise(Run.Stdout, paths);

    public string Stderr => ClaudeCodeRecording.Normalise(Run.Stderr, paths);

    public IReadOnlyList<JsonObject> StdoutJson => Run.Stdout.Split('\n').Where(l => l.StartsWith('{'))
        .Select(l => (JsonObject)JsonNode.Parse(ClaudeCodeRecording.Normalise(l, paths))!).ToArray();

    /// <summary>The text blocks of the first user message of request <paramref name="index"/>, as record.py keeps them.</summary>
    public IReadOnlyList<string> FirstUserTexts(int index = 0)
    {
        var first = Requests[index]["messages"]!.AsArray().First(m => (string?)m!["role"] == "user")!;
        var texts = first["content"] is JsonArray blocks
            ? blocks.Where(b => (string?)b!["type"] == "text").Select(b => (string)b!["text"]!)
            : [(string)first["content"]!];
        return texts.Select(t => ClaudeCodeRecording.Normalise(t, paths)).ToArray();
    }
}
