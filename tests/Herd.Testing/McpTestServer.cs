using System.Text.Json.Nodes;

namespace Herd.Testing;

/// <summary>
/// The MCP server written for the tests (tests/Herd.McpTestServer, the official SDK's server side) and the
/// <c>mcpServers</c> configs that start it. A test project that uses it references that project with
/// <c>ReferenceOutputAssembly="false"</c>, so it is built first.
/// </summary>
public static class McpTestServer
{
    /// <summary>The test server's dll, built beside this repository's other projects.</summary>
    public static string Dll
    {
        get
        {
            var dir = new DirectoryInfo(AppContext.BaseDirectory);
            while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Herd.slnx")))
                dir = dir.Parent;
            var path = Path.Combine(dir!.FullName, "tests", "Herd.McpTestServer", "bin", "Debug", "net10.0", "herd-mcp-test-server.dll");
            if (!File.Exists(path))
                throw new InvalidOperationException($"build tests/Herd.McpTestServer first ({path})");
            return path;
        }
    }

    /// <summary>A stdio server entry that runs the test server where it was built (outside any sandbox's view of /tmp).</summary>
    public static JsonObject Stdio(params string[] extra) => StdioAt(Dll, extra);

    /// <summary>
    /// A copy of the test server inside <paramref name="directory"/>: a confined server sees only what the sandbox
    /// binds (the project, not a private /tmp's other folders), so the test must not depend on where the repository lies.
    /// </summary>
    public static JsonObject StdioIn(string directory, params string[] extra)
    {
        var source = Path.GetDirectoryName(Dll)!;
        var target = Path.Combine(directory, "mcp-server");
        foreach (var file in Directory.EnumerateFiles(source, "*", SearchOption.AllDirectories))
        {
            var copy = Path.Combine(target, Path.GetRelativePath(source, file));
            Directory.CreateDirectory(Path.GetDirectoryName(copy)!);
            File.Copy(file, copy, overwrite: true);
        }
        return StdioAt(Path.Combine(target, Path.GetFileName(Dll)), extra);
    }

    private static JsonObject StdioAt(string dll, params string[] extra) => new()
    {
        ["command"] = "dotnet",
        ["args"] = new JsonArray([dll, .. extra.Select(e => (JsonNode)e)]),
        // A reference with a default, not a value in clear: a run for a shared store refuses values in clear.
        ["env"] = new JsonObject { ["MCP_TEST_VALUE"] = "${MCP_TEST_VALUE:-v1}" },
    };

    /// <summary>An <c>{"mcpServers":{…}}</c> config as JSON text, for <c>--mcp-config</c>.</summary>
    public static string Config(params (string Name, JsonObject Server)[] servers) =>
        new JsonObject { ["mcpServers"] = new JsonObject(servers.Select(s => KeyValuePair.Create(s.Name, (JsonNode?)s.Server))) }.ToJsonString();
}
