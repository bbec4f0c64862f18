using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;

namespace Herd.Agent.Mcp;

/// <summary>How Herd talks to an MCP server.</summary>
public enum McpTransportKind
{
    /// <summary>A child process speaking JSON-RPC on stdin/stdout.</summary>
    Stdio,

    /// <summary>Streamable HTTP (<c>"type": "http"</c>).</summary>
    Http,

    /// <summary>The older HTTP+SSE transport (<c>"type": "sse"</c>).</summary>
    Sse,
}

/// <summary>
/// One entry of an <c>mcpServers</c> object, parsed once (docs/mcp.md). Command, args, env, URL and headers are kept as
/// written, <c>${VAR}</c> references unexpanded: a run stores its servers this way, and each host expands them from its
/// own environment when it starts them (<see cref="Expanded"/>), so a token never has to be written into a run.
/// </summary>
/// <param name="Source">What <c>system/init</c> reports: <c>dynamic</c> (--mcp-config), <c>project</c> (.mcp.json), or the settings layer.</param>
public sealed record McpServerSpec(string Name, McpTransportKind Transport, string Source)
{
    public string? Command { get; init; }

    public IReadOnlyList<string> Args { get; init; } = [];

    public IReadOnlyDictionary<string, string> Env { get; init; } = new Dictionary<string, string>();

    /// <value>An http(s) URL, possibly with <c>${VAR}</c> references.</value>
    public string? Url { get; init; }

    public IReadOnlyDictionary<string, string> Headers { get; init; } = new Dictionary<string, string>();

    /// <value>
    /// Herd's <c>"trusted": true</c>: a stdio server that runs outside the Bash sandbox even when the sandbox is on
    /// (a server that needs the user's credentials or sockets). False by default: untrusted servers are confined.
    /// </value>
    public bool Trusted { get; init; }

    /// <summary>This spec with every <c>${VAR}</c> and <c>${VAR:-default}</c> expanded from this process's environment.</summary>
    public McpServerSpec Expanded() => this with
    {
        Command = Command is null ? null : McpConfig.Expand(Command),
        Args = Args.Select(McpConfig.Expand).ToArray(),
        Env = Env.ToDictionary(p => p.Key, p => McpConfig.Expand(p.Value), StringComparer.Ordinal),
        Url = Url is null ? null : McpConfig.Expand(Url),
        Headers = Headers.ToDictionary(p => p.Key, p => McpConfig.Expand(p.Value), StringComparer.Ordinal),
    };

    /// <summary>
    /// The <c>env</c> and <c>headers</c> entries written as plain values, without a <c>${VAR}</c> reference (e.g.
    /// <c>env.TOKEN</c>): what a shared run would have to store in clear, so a run for a shared store refuses them.
    /// </summary>
    public IEnumerable<string> LiteralValues() =>
        Env.Where(p => !McpConfig.HasReference(p.Value)).Select(p => "env." + p.Key)
            .Concat(Headers.Where(p => !McpConfig.HasReference(p.Value)).Select(p => "headers." + p.Key));
}

/// <summary>Reads <c>mcpServers</c> objects from <c>--mcp-config</c>, <c>.mcp.json</c> and settings files.</summary>
public static partial class McpConfig
{
    /// <summary>A <c>--mcp-config</c> value: a file path, or JSON text starting with <c>{</c>; either holds <c>mcpServers</c>.</summary>
    /// <exception cref="HerdUsageException">A missing or malformed file or JSON; the message names it.</exception>
    public static IReadOnlyList<McpServerSpec> FromFlag(string value, string cwd)
    {
        var text = value.TrimStart();
        if (text.StartsWith('{'))
            return FromJson(text, "dynamic", "--mcp-config JSON");
        var path = Path.GetFullPath(value, cwd);
        if (!File.Exists(path))
            throw new HerdUsageException($"Error: --mcp-config file '{path}' does not exist. Pass an MCP config file or a JSON string like {{\"mcpServers\":{{…}}}}.");
        return FromJson(File.ReadAllText(path), "dynamic", $"--mcp-config file '{path}'");
    }

    /// <summary>The project's <c>.mcp.json</c>, when there is one.</summary>
    public static IReadOnlyList<McpServerSpec> FromProject(string cwd)
    {
        var path = Path.Combine(cwd, ".mcp.json");
        return File.Exists(path) ? FromJson(File.ReadAllText(path), "project", $"MCP config file '{path}'") : [];
    }

    private static IReadOnlyList<McpServerSpec> FromJson(string json, string source, string label)
    {
        JsonNode? root;
        try
        {
            root = JsonNode.Parse(json, documentOptions: new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true });
        }
        catch (JsonException ex)
        {
            throw new HerdUsageException($"Error: {label} is not valid JSON: {ex.Message}");
        }
        if (root is not JsonObject obj || obj["mcpServers"] is not JsonObject)
            throw new HerdUsageException($"Error: {label} must hold an object like {{\"mcpServers\":{{\"name\":{{\"command\":\"…\"}}}}}}.");
        return Parse(obj["mcpServers"], source, label);
    }

    /// <summary>An <c>mcpServers</c> object.</summary>
    /// <exception cref="HerdUsageException">An entry is malformed; the message names the file and the server.</exception>
    public static IReadOnlyList<McpServerSpec> Parse(JsonNode? servers, string source, string label)
    {
        if (servers is null)
            return [];
        if (servers is not JsonObject entries)
            throw new HerdUsageException($"Error: {label}: \"mcpServers\" must be an object of server names.");
        var specs = new List<McpServerSpec>();
        foreach (var (name, node) in entries)
        {
            string Where(string what) => $"Error: {label}: mcpServers.{name} {what}";
            if (node is not JsonObject entry)
                throw new HerdUsageException(Where("must be an object with \"command\" or \"url\"."));
            if (!ValidName().IsMatch(name))
                throw new HerdUsageException(Where("has a name Claude Code cannot use in tool names: use letters, digits, '_' and '-'."));
            var type = Text(entry["type"]) ?? (entry["url"] is not null ? "http" : "stdio");
            var trusted = entry["trusted"] is JsonValue tv && tv.GetValueKind() == JsonValueKind.True;
            switch (type)
            {
                case "stdio":
                    var command = Text(entry["command"]) ?? throw new HerdUsageException(Where("needs a \"command\" string."));
                    specs.Add(new McpServerSpec(name, McpTransportKind.Stdio, source)
                    {
                        Command = command,
                        Args = Strings(entry["args"], Where("args must be an array of strings.")).ToArray(),
                        Env = Map(entry["env"], Where("env must be an object of strings.")),
                        Trusted = trusted,
                    });
                    break;
                case "http" or "sse":
                    var url = Text(entry["url"]) ?? throw new HerdUsageException(Where("needs a \"url\" string."));
                    if (!Uri.TryCreate(Expand(url), UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https"))
                        throw new HerdUsageException(Where($"url '{url}' is not an http(s) URL."));
                    specs.Add(new McpServerSpec(name, type == "sse" ? McpTransportKind.Sse : McpTransportKind.Http, source)
                    {
                        Url = url,
                        Headers = Map(entry["headers"], Where("headers must be an object of strings.")),
                        Trusted = trusted,
                    });
                    break;
                default:
                    throw new HerdUsageException(Where($"has type '{type}'; Herd supports stdio, http and sse."));
            }
        }
        return specs;
    }

    /// <summary>First definition of each name wins: pass sources highest first.</summary>
    public static IReadOnlyList<McpServerSpec> Merge(IEnumerable<IReadOnlyList<McpServerSpec>> sources) =>
        sources.SelectMany(s => s).DistinctBy(s => s.Name, StringComparer.Ordinal).ToArray();

    /// <summary>Claude Code's <c>${VAR}</c> and <c>${VAR:-default}</c> in commands, args, env, URLs and headers.</summary>
    internal static string Expand(string text) => Variable().Replace(text, m =>
        Environment.GetEnvironmentVariable(m.Groups[1].Value) is { } value ? value : m.Groups[3].Success ? m.Groups[3].Value : m.Value);

    internal static bool HasReference(string text) => Variable().IsMatch(text);

    private static string? Text(JsonNode? node) => node is JsonValue v && v.TryGetValue<string>(out var s) ? s : null;

    private static IEnumerable<string> Strings(JsonNode? node, string error)
    {
        if (node is null)
            return [];
        if (node is not JsonArray array || array.Any(i => Text(i) is null))
            throw new HerdUsageException(error);
        return array.Select(i => Text(i)!);
    }

    private static IReadOnlyDictionary<string, string> Map(JsonNode? node, string error)
    {
        if (node is null)
            return new Dictionary<string, string>();
        if (node is not JsonObject obj || obj.Any(p => Text(p.Value) is null))
            throw new HerdUsageException(error);
        return obj.ToDictionary(p => p.Key, p => Text(p.Value)!, StringComparer.Ordinal);
    }

    [GeneratedRegex(@"^[A-Za-z0-9_-]+$")]
    private static partial Regex ValidName();

    [GeneratedRegex(@"\$\{([A-Za-z_][A-Za-z0-9_]*)(:-([^}]*))?\}")]
    private static partial Regex Variable();
}
