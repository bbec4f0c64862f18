using System.Text.Json;

namespace Herd.Testing;

/// <summary>
/// <c>herd-model-server [--script FILE] [--port N] [--latency-ms N]</c>: the scripted model server as a process, so
/// shell pipelines, benchmarks and the real <c>claude</c> CLI can be pointed at it with ANTHROPIC_BASE_URL.
/// </summary>
public static class Program
{
    /// <summary>The port the README's "try it without an API key" exports; another is taken (and printed) if it is busy.</summary>
    public const int DefaultPort = 40123;

    public static async Task<int> Main(string[] args)
    {
        string? scriptPath = null;
        int? port = null;
        int? latency = null;
        string? requestLog = null;
        string? usageLog = null;
        for (var i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--script" when i + 1 < args.Length:
                    scriptPath = args[++i];
                    break;
                case "--port" when i + 1 < args.Length:
                    port = int.Parse(args[++i], System.Globalization.CultureInfo.InvariantCulture);
                    break;
                case "--requests" when i + 1 < args.Length:
                    requestLog = args[++i];
                    break;
                case "--usage" when i + 1 < args.Length:
                    usageLog = args[++i];
                    break;
                case "--latency-ms" when i + 1 < args.Length:
                    latency = int.Parse(args[++i], System.Globalization.CultureInfo.InvariantCulture);
                    break;
                case "-h" or "--help":
                    Console.WriteLine("""
                        Usage: herd-model-server [--script FILE] [--port N] [--latency-ms N] [--requests FILE] [--usage FILE]

                        A scripted Anthropic Messages API server on 127.0.0.1 for trying Herd without an API key.
                        Listens on --port, by default 40123 (a free port when 40123 is taken; --port 0 always picks a
                        free one). Prints its base URL on the first line of stdout, and on stderr the export line to
                        copy, then serves until interrupted. Without a script
                        every request gets the reply "Done.". --requests appends each request received (path, headers,
                        body) to FILE as one JSON line; --usage appends each answer it completed (batch or live,
                        model, token counts, request bytes) to FILE as one JSON line. Script format: docs/scripted-server.md.
                        """);
                    return 0;
                default:
                    Console.Error.WriteLine($"Error: unknown argument '{args[i]}'. See --help.");
                    return 1;
            }
        }
        ModelScript script;
        try
        {
            script = scriptPath is null ? new ModelScript() : JsonSerializer.Deserialize(File.ReadAllText(scriptPath), ScriptJsonContext.Default.ModelScript) ?? new ModelScript();
        }
        catch (Exception ex) when (ex is IOException or JsonException)
        {
            Console.Error.WriteLine($"Error: cannot load script '{scriptPath}': {ex.Message}");
            return 1;
        }
        if (latency is { } l)
            script = script with { LatencyMs = l };
        await using var server = await StartAsync(script, port).ConfigureAwait(false);
        await using var log = requestLog is null ? null : new StreamWriter(requestLog, append: true);
        server.RequestLog = log;
        await using var usage = usageLog is null ? null : new StreamWriter(usageLog, append: true);
        server.UsageLog = usage;
        server.KeepHistory = false;
        var url = server.BaseUrl.ToString().TrimEnd('/');
        Console.WriteLine(url);
        Console.Error.WriteLine($"herd-model-server: listening; point herd at it with: export ANTHROPIC_BASE_URL={url} ANTHROPIC_API_KEY=sk-anything");
        // The web host owns SIGTERM and Ctrl-C: it stops itself, and this returns.
        await server.WaitForShutdownAsync().ConfigureAwait(false);
        return 0;
    }

    private static async Task<ScriptedModelServer> StartAsync(ModelScript script, int? port)
    {
        if (port is { } chosen)
            return await ScriptedModelServer.StartAsync(script, chosen).ConfigureAwait(false);
        try
        {
            return await ScriptedModelServer.StartAsync(script, DefaultPort).ConfigureAwait(false);
        }
        catch (IOException)
        {
            Console.Error.WriteLine($"herd-model-server: port {DefaultPort} is taken; listening on a free port instead (the URL below).");
            return await ScriptedModelServer.StartAsync(script, 0).ConfigureAwait(false);
        }
    }
}
