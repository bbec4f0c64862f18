using System.Text.Json;
using Herd.Agent.Models;
using Herd.Cli.Run;
using Herd.Testing;

namespace Herd.Cli.Tests.Run;

/// <summary>A temp directory, a real scripted model server and an in-process `herd run` pointed at it.</summary>
public sealed class FleetHarness : IAsyncDisposable
{
    private FleetHarness(ScriptedModelServer server, string dir)
    {
        Server = server;
        Dir = dir;
    }

    public ScriptedModelServer Server { get; }

    public string Dir { get; }

    public StringWriter Out { get; private set; } = new();

    public StringWriter Err { get; private set; } = new();

    /// <value>The environment `herd run` sees for --shard auto (the CI's variables); empty by default.</value>
    public Dictionary<string, string> Environment { get; } = new(StringComparer.Ordinal);

    /// <value>The environment external engines start from (issue #13); null = this process's.</value>
    public IReadOnlyDictionary<string, string>? EngineEnvironment { get; set; }

    /// <value>Cancels the next run as SIGINT would.</value>
    public CancellationToken Cancel { get; set; }

    public static async Task<FleetHarness> StartAsync(ModelScript script)
    {
        var dir = Path.Combine(Path.GetTempPath(), "herd-fleet-" + Guid.NewGuid().ToString("N")[..10]);
        Directory.CreateDirectory(dir);
        return new FleetHarness(await ScriptedModelServer.StartAsync(script), dir);
    }

    /// <value>Client settings for the next runs; by default pointed at <see cref="Server"/>.</value>
    public ModelClientOptions? ClientOverride { get; set; }

    public ModelClientOptions ClientOptions => ClientOverride ?? new()
    {
        ApiKey = "sk-test",
        BaseUrl = Server.BaseUrl,
        MaxRetries = 2,
        RetryBaseDelay = TimeSpan.FromMilliseconds(1),
        RetryMaxDelay = TimeSpan.FromMilliseconds(20),
        StreamIdleTimeout = TimeSpan.FromSeconds(10),
    };

    public async Task<int> RunAsync(params string[] argv) => await RunWithStdinAsync(null, argv);

    public async Task<int> RunWithStdinAsync(string? stdin, params string[] argv)
    {
        Out = new StringWriter();
        Err = new StringWriter();
        var ctx = new RunContext(new StringReader(stdin ?? ""), stdin is not null, Out, Err, false, Dir)
        {
            Client = ClientOptions, Environment = name => Environment.GetValueOrDefault(name), EngineEnvironment = EngineEnvironment, Cancel = Cancel,
        };
        return await RunCommand.RunAsync(argv, ctx);
    }

    public string RunDir(string name = "run") => Path.Combine(Dir, name);

    public IReadOnlyList<JsonElement> Records(string name = "run")
    {
        var path = Path.Combine(RunDir(name), "results.ndjson");
        return File.ReadAllLines(path).Where(l => l.Length > 0).Select(l => JsonDocument.Parse(l).RootElement.Clone()).ToArray();
    }

    public static string[] Inputs(int n, string prefix = "item") => Enumerable.Range(1, n).Select(i => $"{prefix}-{i:D4}").ToArray();

    public async ValueTask DisposeAsync()
    {
        await Server.DisposeAsync();
        try
        {
            Directory.Delete(Dir, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
