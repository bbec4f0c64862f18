using System.Buffers;
using System.Text;
using System.Text.Json;
using Herd.Agent;
using Herd.Agent.Sessions;

namespace Herd.Cli;

/// <summary><c>herd sessions list|show</c>: find sessions to <c>--resume</c>.</summary>
public static class SessionsCommand
{
        public static readonly OptionSpec Json = new(["--json"], Arity.Flag, "Print JSON (one array for list, one object for show) instead of a table");
    public static readonly OptionSpec All = new(["--all"], Arity.Flag, "list: sessions of every directory, not just this one");
    public static readonly OptionSpec Help = new(["-h", "--help"], Arity.Flag, "Show this help");

    private static readonly IReadOnlyList<OptionSpec> Options =
    [
        Json,
        All,
        Help,
    ];

    public static int Run(string[] argv)
    {
        var args = CommandLineParser.Parse(argv, Options, ExitCodes.For(HerdCommand.Sessions));
        var verb = args.Positionals.FirstOrDefault();
        if (args.Has(SessionsCommand.Help) || verb is null)
        {
            Console.Out.Write(CommandLineParser.FormatHelp("herd sessions list [--all] [--json] | herd sessions show <session-id> [--json]",
                "Lists the stored print-mode sessions (newest first) or shows one conversation. Sessions live under\n$HERD_CONFIG_DIR/projects (default ~/.herd/projects).", Options));
            return verb is null && !args.Has(SessionsCommand.Help) ? ExitCodes.For(HerdCommand.Sessions).Usage : 0;
        }
        var store = SessionStore.FromEnvironment();
        var cwd = Directory.GetCurrentDirectory();
        switch (verb)
        {
            case "list":
                var sessions = store.List(args.Has(SessionsCommand.All) ? null : cwd);
                if (args.Has(SessionsCommand.Json))
                {
                    Console.Out.WriteLine(ToJson(w =>
                    {
                        w.WriteStartArray();
                        foreach (var s in sessions)
                            WriteInfo(w, s);
                        w.WriteEndArray();
                    }));
                    return 0;
                }
                if (sessions.Count == 0)
                {
                    Console.Out.WriteLine(args.Has(SessionsCommand.All) ? "No sessions stored." : "No sessions for this directory (try --all).");
                    return 0;
                }
                Console.Out.WriteLine($"{"SESSION ID",-36}  {"LAST ACTIVE (UTC)",-19}  {"MSGS",4}  FIRST PROMPT");
                foreach (var s in sessions)
                    Console.Out.WriteLine($"{s.SessionId,-36}  {s.LastWriteUtc:yyyy-MM-dd HH:mm:ss}  {s.MessageCount,4}  {Shorten(s.FirstPrompt, 60)}");
                return 0;
            case "show":
                if (args.Positionals.Count < 2)
                    throw new HerdUsageException("Error: missing session id. Usage: herd sessions show <session-id> (find ids with: herd sessions list --all)");
                var id = args.Positionals[1];
                var path = store.Find(cwd, id);
                if (path is null)
                {
                    Console.Error.WriteLine($"No conversation found with session ID: {id}");
                    return 1;
                }
                var info = SessionStore.Describe(path);
                var loaded = SessionStore.Load(path);
                if (args.Has(SessionsCommand.Json))
                {
                    Console.Out.WriteLine(ToJson(w =>
                    {
                        w.WriteStartObject();
                        w.WritePropertyName("session");
                        WriteInfo(w, info);
                        w.WriteStartArray("messages");
                        foreach (var m in loaded.Messages)
                            m.WriteTo(w);
                        w.WriteEndArray();
                        w.WriteEndObject();
                    }));
                    return 0;
                }
                Console.Out.WriteLine($"Session {info.SessionId}\n  cwd: {info.Cwd}\n  model: {info.Model}\n  file: {info.FilePath}\n  last active: {info.LastWriteUtc:yyyy-MM-dd HH:mm:ss} UTC\n");
                foreach (var m in loaded.Messages)
                {
                    var role = (string?)m["role"];
                    foreach (var block in m["content"] is System.Text.Json.Nodes.JsonArray a ? a.OfType<System.Text.Json.Nodes.JsonObject>() : [])
                    {
                        var text = (string?)block["type"] switch
                        {
                            "text" => (string?)block["text"],
                            "tool_use" => $"[tool_use {(string?)block["name"]}] {block["input"]?.ToJsonString()}",
                            "tool_result" => $"[tool_result] {Shorten(block["content"] is System.Text.Json.Nodes.JsonValue v ? v.ToString() : block["content"]?.ToJsonString(), 200)}",
                            var other => $"[{other}]",
                        };
                        Console.Out.WriteLine($"{role}: {text}");
                    }
                }
                return 0;
            default:
                throw new HerdUsageException($"Error: unknown sessions command '{verb}'. Use 'list' or 'show' (see `herd sessions --help`).");
        }
    }

    private static string Shorten(string? s, int max)
    {
        var oneLine = (s ?? "").ReplaceLineEndings(" ");
        return oneLine.Length <= max ? oneLine : oneLine[..(max - 1)] + "…";
    }

    private static void WriteInfo(Utf8JsonWriter w, SessionInfo s)
    {
        w.WriteStartObject();
        w.WriteString("session_id", s.SessionId);
        w.WriteString("cwd", s.Cwd);
        w.WriteString("file", s.FilePath);
        w.WriteString("last_active", s.LastWriteUtc.ToString("O", System.Globalization.CultureInfo.InvariantCulture));
        w.WriteNumber("messages", s.MessageCount);
        w.WriteString("first_prompt", s.FirstPrompt);
        w.WriteString("model", s.Model);
        w.WriteEndObject();
    }

    private static string ToJson(Action<Utf8JsonWriter> write)
    {
        var buffer = new ArrayBufferWriter<byte>();
        using (var w = new Utf8JsonWriter(buffer, new JsonWriterOptions { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
            write(w);
        return Encoding.UTF8.GetString(buffer.WrittenSpan);
    }
}
