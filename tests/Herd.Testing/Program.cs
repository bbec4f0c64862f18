using System.Text.Json;

namespace Herd.Testing;

/// <summary>
/// <c>herd-model-server [--script FILE] [--port N] [--latency-ms N]</c>: the scripted model server as a process, so
/// shell pipelines, benchmarks and the real <c>claude</c> CLI can be pointed at it with ANTHROPIC_BASE_URL.
/// </summary>
public static class Program
{
    public static async Task<int> Main(string[] args)
    {
        string? scriptPath = null;
        var port = 0;
        int? latency = null;
        string? requestLog = null;
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
                case "--latency-ms" when i + 1 < args.Length:
                    latency = int.Parse(args[++i], System.Globalization.CultureInfo.InvariantCulture);
                    break;
                case "-h" or "--help":
                    Console.WriteLine("""
                        Usage: herd-model-server [--script FILE] [--port N] [--latency-ms N] [--requests FILE]

                        A scripted Anthropic Messages API server on 127.0.0.1 for trying Herd without an API key.
                        Prints its base URL on the first line of stdout, then serves until interrupted. Without a script
                        every request gets the reply "Done.". --requests appends each request received (path, headers,
                        body) to FILE as one JSON line. Script format: docs/scripted-server.md.
                        """);
                    return 0;
                default:
                    Console.Error.WriteLine($"error: unknown argument '{args[i]}'. See --help.");
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
            Console.Error.WriteLine($"error: cannot load script '{scriptPath}': {ex.Message}");
            return 1;
        }
        if (latency is { } l)
            script = script with { LatencyMs = l };
        await using var server = await ScriptedModelServer.StartAsync(script, port).ConfigureAwait(false);
        await using var log = requestLog is null ? null : new StreamWriter(requestLog, append: true);
        server.RequestLog = log;
        server.KeepHistory = false;
        Console.WriteLine(server.BaseUrl.ToString().TrimEnd('/'));
        // The web host owns SIGTERM and Ctrl-C: it stops itself, and this returns.
        await server.WaitForShutdownAsync().ConfigureAwait(false);
        return 0;
    }
}
