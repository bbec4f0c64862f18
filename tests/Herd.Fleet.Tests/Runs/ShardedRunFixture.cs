using System.Text.Json;
using System.Text.Json.Nodes;
using Herd.Agent.Loop;
using Herd.Agent.Models;
using Herd.Agent.Permissions;
using Herd.Agent.Tools;
using Herd.Fleet.Engines;
using Herd.Fleet.Jobs;
using Herd.Fleet.Runs;
using Herd.Testing;

namespace Herd.Fleet.Tests.Runs;

/// <summary>A temp directory, the scripted model server and real <see cref="FleetRun"/>s of one plan, one per shard.</summary>
internal sealed class ShardedRunFixture : IAsyncDisposable
{
    private readonly AnthropicMessagesClient _client;

    private ShardedRunFixture(ScriptedModelServer server, string dir)
    {
        Server = server;
        Dir = dir;
        _client = new AnthropicMessagesClient(new ModelClientOptions
        {
            ApiKey = "sk-test",
            BaseUrl = server.BaseUrl,
            MaxRetries = 0,
            RetryBaseDelay = TimeSpan.FromMilliseconds(1),
            RetryMaxDelay = TimeSpan.FromMilliseconds(5),
        });
    }

    public ScriptedModelServer Server { get; }

    public string Dir { get; }

    public static async Task<ShardedRunFixture> StartAsync(ModelScript script)
    {
        var dir = Path.Combine(Path.GetTempPath(), "herd-shards-" + Guid.NewGuid().ToString("N")[..10]);
        Directory.CreateDirectory(dir);
        return new ShardedRunFixture(await ScriptedModelServer.StartAsync(script), dir);
    }

    public static IReadOnlyList<FleetTask> PlanOf(int files, string template = "Review {}") =>
        Plan.Build(TaskSources.FromValues(Enumerable.Range(1, files).Select(i => $"src/file{i:D3}.cs")), template, "herd", new JsonObject { ["model"] = "claude-sonnet-4-5" }, _ => { });

    public string Path_(string name) => Path.Combine(Dir, name);

    /// <summary>Runs one shard of <paramref name="plan"/> into its own run directory, as a CI job would.</summary>
    public Task<RunResult> RunShardAsync(string name, IReadOnlyList<FleetTask> plan, Shard? shard, RunStart start = RunStart.New, RequeueMode requeue = RequeueMode.None) =>
        new FleetRun(new RunSpec
        {
            RunDirectory = Path_(name),
            Start = start,
            Requeue = requeue,
            Plan = plan,
            Shard = shard,
            Identity = start == RunStart.New ? PlanIdentity.Of(plan, "{}"u8) : null,
            Schedule = new Scheduling.Schedule { Retry = new Scheduling.RetryPolicy { MaxRetries = 0 } },
            Engine = ctx => new InProcessAgentEngine(_client, _ => Options(), ctx.RunBudget, ctx.Time),
            Cwd = Dir,
        }).ExecuteAsync();

    private AgentOptions Options() => new()
    {
        Model = "claude-sonnet-4-5",
        Catalog = ModelCatalog.BuiltIn,
        SystemPrompt = "You review code.",
        Tools = [],
        Permissions = new PermissionEngine(PermissionPolicy.Default),
        ToolContext = new ToolContext(Dir),
    };

    public static IReadOnlyList<JsonElement> Records(string runDirectory) =>
        File.ReadAllLines(Path.Combine(runDirectory, "results.ndjson")).Where(l => l.Length > 0).Select(l => JsonDocument.Parse(l).RootElement.Clone()).ToArray();

    public static JsonElement SummaryOf(string runDirectory) => JsonDocument.Parse(File.ReadAllText(Path.Combine(runDirectory, "summary.json"))).RootElement.Clone();

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
