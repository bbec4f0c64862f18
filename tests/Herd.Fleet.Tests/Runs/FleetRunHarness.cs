using Herd.Agent.Loop;
using Herd.Agent.Models;
using Herd.Agent.Permissions;
using Herd.Agent.Tools;
using Herd.Fleet.Engines;
using Herd.Fleet.Jobs;
using Herd.Fleet.Runs;
using Herd.Testing;

namespace Herd.Fleet.Tests.Runs;

/// <summary>
/// Drives the fleet's front door the way any caller does — a typed <see cref="RunSpec"/>, no argv, no CLI — with the
/// in-process agent engine pointed at a real scripted model server in a temp directory.
/// </summary>
public sealed class FleetRunHarness : IAsyncDisposable
{
    private readonly AnthropicMessagesClient _client;

    private FleetRunHarness(ScriptedModelServer server, string dir)
    {
        Server = server;
        Dir = dir;
        _client = new AnthropicMessagesClient(new ModelClientOptions
        {
            ApiKey = "sk-test",
            BaseUrl = server.BaseUrl,
            MaxRetries = 1,
            RetryBaseDelay = TimeSpan.FromMilliseconds(1),
            RetryMaxDelay = TimeSpan.FromMilliseconds(10),
            StreamIdleTimeout = TimeSpan.FromSeconds(10),
        });
    }

    public ScriptedModelServer Server { get; }

    public string Dir { get; }

    public List<string> Notices { get; } = [];

    public static async Task<FleetRunHarness> StartAsync(ModelScript script)
    {
        var dir = Path.Combine(Path.GetTempPath(), "herd-fleetrun-" + Guid.NewGuid().ToString("N")[..10]);
        Directory.CreateDirectory(dir);
        return new FleetRunHarness(await ScriptedModelServer.StartAsync(script), dir);
    }

    public string RunDir(string name = "run") => Path.Combine(Dir, name);

    public static IReadOnlyList<FleetTask> PlanOf(params string[] inputs) =>
        Plan.Build(TaskSources.FromValues(inputs), "Review {}", "herd", new System.Text.Json.Nodes.JsonObject(), _ => { });

    /// <summary>A spec for a new run of <paramref name="plan"/> in <see cref="RunDir"/>; tests change it with <c>with</c>.</summary>
    public RunSpec Spec(IReadOnlyList<FleetTask> plan, string name = "run") => new()
    {
        RunDirectory = RunDir(name),
        Plan = plan,
        Cwd = Dir,
        Jobs = new JobsSpec(4),
        Schedule = new Scheduling.Schedule { Retry = new Scheduling.RetryPolicy { BaseDelay = TimeSpan.FromMilliseconds(1) } },
        Engine = context => new InProcessAgentEngine(_client, _ => AgentOptions(context), context.RunBudget, context.Time),
        Notice = Notices.Add,
    };

    private AgentOptions AgentOptions(EngineContext context) => new()
    {
        Model = "claude-sonnet-4-5",
        Catalog = ModelCatalog.BuiltIn,
        SystemPrompt = "You are a test agent.",
        Tools = [],
        Permissions = new PermissionEngine(PermissionPolicy.Default),
        ToolContext = new ToolContext(Dir),
        MaxBudgetUsd = context.TaskBudgetUsd,
        TimeProvider = context.Time,
    };

    public IReadOnlyList<string> ResultLines(string name = "run") =>
        File.ReadAllLines(Path.Combine(RunDir(name), "results.ndjson")).Where(l => l.Length > 0).ToArray();

    public async ValueTask DisposeAsync()
    {
        _client.Dispose();
        await Server.DisposeAsync();
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        try
        {
            Directory.Delete(Dir, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
