using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Herd.Agent.Sessions;

/// <summary>A stored session: its id, file and what a listing shows.</summary>
public sealed record SessionInfo(string SessionId, string FilePath, string? Cwd, DateTime LastWriteUtc, int MessageCount, string? FirstPrompt, string? Model);

/// <summary>
/// Session transcripts as JSONL under <c>{root}/projects/{encoded cwd}/{session id}.jsonl</c> (spec §7.1). Lines are
/// only ever appended, one write per line, so many processes can share a directory; a torn last line is skipped.
/// </summary>
public sealed class SessionStore(string root)
{
    public string Root { get; } = root;

    /// <summary><c>$HERD_CONFIG_DIR</c>, else <c>~/.herd</c>.</summary>
    public static SessionStore FromEnvironment()
    {
        var configured = Environment.GetEnvironmentVariable("HERD_CONFIG_DIR");
        var root = string.IsNullOrWhiteSpace(configured)
            ? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".herd")
            : configured;
        return new SessionStore(root);
    }

    public string ProjectsDirectory => Path.Combine(Root, "projects");

    /// <summary>
    /// Every character outside [A-Za-z0-9] becomes '-' (<c>/home/u/proj</c> → <c>-home-u-proj</c>); names over 200
    /// characters are cut to 200 plus <c>-</c> and a hash, as Claude Code does (spec §7.1).
    /// </summary>
    public static string EncodeProjectPath(string cwd)
    {
        var normalized = Path.GetFullPath(cwd).Normalize(NormalizationForm.FormC);
        var sb = new StringBuilder(normalized.Length);
        foreach (var c in normalized)
            sb.Append(char.IsAsciiLetterOrDigit(c) ? c : '-');
        var name = sb.ToString();
        if (name.Length <= 200)
            return name;
        var h = 0;
        foreach (var c in normalized)
            h = unchecked((h << 5) - h + c);
        return name[..200] + "-" + ToBase36(Math.Abs((long)h));
    }

    private static string ToBase36(long value)
    {
        const string digits = "0123456789abcdefghijklmnopqrstuvwxyz";
        if (value == 0)
            return "0";
        var sb = new StringBuilder();
        while (value > 0)
        {
            sb.Insert(0, digits[(int)(value % 36)]);
            value /= 36;
        }
        return sb.ToString();
    }

    public string ProjectDirectory(string cwd) => Path.Combine(ProjectsDirectory, EncodeProjectPath(cwd));

    public string PathFor(string cwd, string sessionId) => Path.Combine(ProjectDirectory(cwd), sessionId + ".jsonl");

    /// <summary>Finds a session by id: this project first, then every project (spec §7.3).</summary>
    public string? Find(string cwd, string sessionId)
    {
        var local = PathFor(cwd, sessionId);
        if (File.Exists(local))
            return local;
        if (!Directory.Exists(ProjectsDirectory))
            return null;
        var matches = Directory.EnumerateFiles(ProjectsDirectory, sessionId + ".jsonl", SearchOption.AllDirectories).Take(2).ToList();
        return matches.Count == 1 ? matches[0] : null;
    }

    /// <summary>The newest session of this directory by write time whose recorded cwd matches (the encoding is lossy).</summary>
    public string? FindLatest(string cwd)
    {
        var dir = ProjectDirectory(cwd);
        if (!Directory.Exists(dir))
            return null;
        var full = Path.GetFullPath(cwd);
        foreach (var file in new DirectoryInfo(dir).EnumerateFiles("*.jsonl").OrderByDescending(f => f.LastWriteTimeUtc))
        {
            var recorded = ReadLines(file.FullName).Select(l => (string?)l["cwd"]).FirstOrDefault(c => c is not null);
            if (recorded is null || recorded == full)
                return file.FullName;
        }
        return null;
    }

    /// <summary>Every parseable line of a transcript; a torn or corrupt line is skipped, never fatal.</summary>
    public static IEnumerable<JsonObject> ReadLines(string path)
    {
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        using var reader = new StreamReader(stream, Encoding.UTF8);
        while (reader.ReadLine() is { } line)
        {
            if (line.Length == 0 || line[0] != '{')
                continue;
            JsonObject? node;
            try
            {
                node = JsonNode.Parse(line) as JsonObject;
            }
            catch (JsonException)
            {
                continue;
            }
            if (node is not null && IsWellFormed(node))
                yield return node;
        }
    }

    private static readonly string[] StringFields = ["type", "uuid", "parentUuid", "sessionId", "cwd", "timestamp"];
    private static readonly string[] MessageStringFields = ["role", "id", "model"];

    /// <summary>
    /// A line whose known fields have the wrong type (a number for a uuid, a string for isSidechain, a message that is
    /// not an object) is damage like a torn line: skipped, so one bad line never ends a listing or a resume.
    /// </summary>
    private static bool IsWellFormed(JsonObject line)
    {
        foreach (var name in StringFields)
        {
            if (line[name] is { } v && !(v is JsonValue s && s.GetValueKind() == JsonValueKind.String))
                return false;
        }
        foreach (var name in (string[])["isSidechain", "isMeta"])
        {
            if (line[name] is { } v && v.GetValueKind() is not (JsonValueKind.True or JsonValueKind.False))
                return false;
        }
        if (!line.TryGetPropertyValue("message", out var message) || message is null)
            return true;
        if (message is not JsonObject m)
            return false;
        foreach (var name in MessageStringFields)
        {
            if (m[name] is { } v && v.GetValueKind() != JsonValueKind.String)
                return false;
        }
        return m["content"] switch
        {
            null => true,
            JsonValue c => c.GetValueKind() == JsonValueKind.String,
            JsonArray blocks => blocks.All(b => b is JsonObject o && (o["type"] is null || o["type"]!.GetValueKind() == JsonValueKind.String)
                && (o["text"] is null || o["text"]!.GetValueKind() == JsonValueKind.String)),
            _ => false,
        };
    }

    /// <summary>
    /// The conversation as Messages API messages, rebuilt from the leaf back along <c>parentUuid</c> (spec §7.2).
    /// Assistant lines sharing a message id form one message; consecutive user lines merge.
    /// </summary>
    public static LoadedSession Load(string path)
    {
        var lines = ReadLines(path).ToList();
        var byUuid = new Dictionary<string, JsonObject>(StringComparer.Ordinal);
        JsonObject? leaf = null;
        foreach (var line in lines)
        {
            var type = (string?)line["type"];
            if (type is not ("user" or "assistant") || line["isSidechain"]?.GetValue<bool>() == true || line["isMeta"]?.GetValue<bool>() == true)
                continue;
            if ((string?)line["uuid"] is { } uuid)
            {
                byUuid[uuid] = line;
                leaf = line;
            }
        }
        var chain = new List<JsonObject>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        for (var node = leaf; node is not null;)
        {
            var uuid = (string)node["uuid"]!;
            if (!seen.Add(uuid))
                break;
            chain.Add(node);
            node = (string?)node["parentUuid"] is { } parent && byUuid.TryGetValue(parent, out var p) ? p : null;
        }
        chain.Reverse();

        var messages = new List<JsonObject>();
        string? currentAssistantId = null;
        string? model = null;
        foreach (var line in chain)
        {
            if (line["message"] is not JsonObject message)
                continue;
            var role = (string?)message["role"] ?? (string?)line["type"];
            if (role == "assistant")
            {
                var id = (string?)message["id"];
                model = (string?)message["model"] ?? model;
                var blocks = message["content"] is JsonArray a ? a : [];
                if (messages.Count > 0 && (string?)messages[^1]["role"] == "assistant" && id == currentAssistantId)
                {
                    foreach (var b in blocks)
                        ((JsonArray)messages[^1]["content"]!).Add(b?.DeepClone());
                }
                else if (messages.Count > 0 && (string?)messages[^1]["role"] == "assistant")
                {
                    // A new message right after another assistant message: the earlier one was a failed attempt.
                    messages[^1] = new JsonObject { ["role"] = "assistant", ["content"] = blocks.DeepClone() };
                }
                else
                {
                    messages.Add(new JsonObject { ["role"] = "assistant", ["content"] = blocks.DeepClone() });
                }
                currentAssistantId = id;
            }
            else
            {
                var content = message["content"] switch
                {
                    JsonArray arr => (JsonArray)arr.DeepClone(),
                    JsonValue v when v.TryGetValue<string>(out var s) => new JsonArray((JsonNode)new JsonObject { ["type"] = "text", ["text"] = s }),
                    _ => new JsonArray(),
                };
                if (messages.Count > 0 && (string?)messages[^1]["role"] == "user")
                {
                    foreach (var b in content)
                        ((JsonArray)messages[^1]["content"]!).Add(b?.DeepClone());
                }
                else
                {
                    messages.Add(new JsonObject { ["role"] = "user", ["content"] = content });
                }
                currentAssistantId = null;
            }
        }
        return new LoadedSession(messages, (string?)leaf?["uuid"], model, lines);
    }

    /// <summary>Sessions of every project, newest first.</summary>
    public IReadOnlyList<SessionInfo> List(string? cwd = null)
    {
        var dir = cwd is null ? ProjectsDirectory : ProjectDirectory(cwd);
        if (!Directory.Exists(dir))
            return [];
        var result = new List<SessionInfo>();
        foreach (var file in Directory.EnumerateFiles(dir, "*.jsonl", cwd is null ? SearchOption.AllDirectories : SearchOption.TopDirectoryOnly))
            result.Add(Describe(file));
        return result.OrderByDescending(s => s.LastWriteUtc).ToList();
    }

    public static SessionInfo Describe(string file)
    {
        string? cwd = null, prompt = null, model = null;
        var count = 0;
        foreach (var line in ReadLines(file))
        {
            cwd ??= (string?)line["cwd"];
            var type = (string?)line["type"];
            if (type is "user" or "assistant")
                count++;
            if (type == "assistant")
                model ??= (string?)line["message"]?["model"];
            if (prompt is null && type == "user" && line["toolUseResult"] is null)
            {
                prompt = line["message"]?["content"] switch
                {
                    JsonValue v when v.TryGetValue<string>(out var s) => s,
                    JsonArray a => a.OfType<JsonObject>().Select(b => (string?)b["text"]).FirstOrDefault(t => t is not null),
                    _ => null,
                };
            }
        }
        return new SessionInfo(Path.GetFileNameWithoutExtension(file), file, cwd, File.GetLastWriteTimeUtc(file), count, prompt, model);
    }
}

/// <summary>A transcript read back: the messages to continue from and the uuid to chain new lines to.</summary>
public sealed record LoadedSession(IReadOnlyList<JsonObject> Messages, string? LeafUuid, string? Model, IReadOnlyList<JsonObject> Lines);
