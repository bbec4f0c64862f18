using System.Diagnostics;
using System.Text.Json.Nodes;
using Herd.Testing;
using Microsoft.Data.Sqlite;

// The suite runs real herd processes on a shared 2-core machine: one test at a time keeps the kill timings and the
// suite duration predictable.
[assembly: CollectionBehavior(DisableTestParallelization = true)]

namespace Herd.Reliability.Tests;

/// <summary>
/// One test's world: a working directory, a config directory (HERD_CONFIG_DIR), the scripted model server, and every
/// herd process started from it — killed on dispose if still running, so no test leaves processes behind.
/// </summary>
public sealed class Workspace : IAsyncDisposable
{
    private readonly List<Process> _processes = [];

    private Workspace(ScriptedModelServer server)
    {
        Server = server;
        File.WriteAllText(PricesPath, TestPrices.Json);
    }

    public TempDirectory Work { get; } = new("herd-rel-work");

    public TempDirectory Config { get; } = new("herd-rel-config");

    public ScriptedModelServer Server { get; }

    public string PricesPath => Work.Combine("prices.json");

    public static async Task<Workspace> StartAsync(ModelScript script) => new(await ScriptedModelServer.StartAsync(script));

    /// <summary>herd against this workspace's server, priced from the test's own table.</summary>
    public HerdProcess Herd(string? apiKey = null)
    {
        var herd = new HerdProcess(Server.BaseUrl, Work.Path, Config.Path).WithEnvironment("HERD_PRICES", PricesPath);
        return apiKey is null ? herd : herd.WithEnvironment("ANTHROPIC_API_KEY", apiKey);
    }

    /// <summary>Starts herd and drains its output (so a full pipe never blocks it); the process is killed on dispose.</summary>
    public (Process Process, Task<string> Stdout, Task<string> Stderr) Start(HerdProcess herd, IEnumerable<string> args)
    {
        var process = herd.Start(args);
        process.StandardInput.Close();
        lock (_processes)
            _processes.Add(process);
        return (process, process.StandardOutput.ReadToEndAsync(), process.StandardError.ReadToEndAsync());
    }

    public string RunDir(string name = "run") => Work.Combine(name);

    public static IReadOnlyList<JsonObject> Records(string runDir) =>
        File.ReadAllLines(Path.Combine(runDir, "results.ndjson")).Where(l => l.Length > 0).Select(l => (JsonObject)JsonNode.Parse(l)!).ToArray();

    public static JsonObject SummaryOf(string runDir) => (JsonObject)JsonNode.Parse(File.ReadAllText(Path.Combine(runDir, "summary.json")))!;

    /// <summary>run.db opened read-only by the test itself, not through Herd's RunStore: an independent reading.</summary>
    public static SqliteConnection OpenRunDb(string runDir)
    {
        var db = new SqliteConnection(new SqliteConnectionStringBuilder
        {
            DataSource = Path.Combine(runDir, "run.db"),
            Mode = SqliteOpenMode.ReadOnly,
            Pooling = false,
        }.ToString());
        db.Open();
        return db;
    }

    public static T Scalar<T>(SqliteConnection db, string sql)
    {
        using var cmd = db.CreateCommand();
        cmd.CommandText = sql;
        return (T)Convert.ChangeType(cmd.ExecuteScalar()!, typeof(T), System.Globalization.CultureInfo.InvariantCulture);
    }

    public static List<object?[]> Rows(SqliteConnection db, string sql)
    {
        using var cmd = db.CreateCommand();
        cmd.CommandText = sql;
        using var r = cmd.ExecuteReader();
        var rows = new List<object?[]>();
        while (r.Read())
        {
            var row = new object?[r.FieldCount];
            for (var i = 0; i < r.FieldCount; i++)
                row[i] = r.IsDBNull(i) ? null : r.GetValue(i);
            rows.Add(row);
        }
        return rows;
    }

    /// <summary>Lines that are complete JSON records; reads while herd appends (a torn last line does not count).</summary>
    public static int CountRecords(string path) => RecordFiles.CountCompleteRecords(path);

    public async ValueTask DisposeAsync()
    {
        lock (_processes)
        {
            foreach (var p in _processes)
            {
                try
                {
                    if (!p.HasExited)
                        p.Kill(entireProcessTree: true);
                }
                catch (InvalidOperationException)
                {
                }
                p.Dispose();
            }
        }
        await Server.DisposeAsync();
        Work.Dispose();
        Config.Dispose();
    }
}

/// <summary>
/// The price table the suite hands herd (HERD_PRICES), and the same prices applied by the test's own arithmetic — so
/// expected costs are computed independently of Herd's CostTracker. Cache prices are the documented defaults:
/// read 0.1×, 5-minute write 1.25×, 1-hour write 2× the input price.
/// </summary>
public static class TestPrices
{
    public const string Model = "claude-reliability-1";
    public const double InputPerMTok = 2.5;
    public const double OutputPerMTok = 12.5;

    public const string Json = """
        {"models":{"claude-reliability-1":{"input":2.5,"output":12.5,"context_window":200000,"max_output_tokens":8192}}}
        """;

    public static double CostOf(ScriptedUsage u)
    {
        var cw1h = Math.Min(u.CacheCreation1h, u.CacheCreation);
        var cw5m = u.CacheCreation - cw1h;
        return u.Input * InputPerMTok / 1e6
            + u.CacheRead * InputPerMTok * 0.1 / 1e6
            + cw5m * InputPerMTok * 1.25 / 1e6
            + cw1h * InputPerMTok * 2.0 / 1e6
            + u.Output * OutputPerMTok / 1e6;
    }

    /// <summary>What the provider would bill: every reply whose stream reached message_stop. Failed calls cost nothing.</summary>
    public static double ServedCost(ScriptedModelServer server) =>
        server.Served.Where(s => s.Completed).Sum(s => CostOf(s.Usage));
}

/// <summary>Reading recorded requests the way the scripted server matches conversations.</summary>
public static class Requests
{
    public static string FirstUserText(RecordedRequest request)
    {
        var messages = request.Json["messages"] as JsonArray ?? [];
        var first = messages.FirstOrDefault(m => (string?)m?["role"] == "user");
        return first?["content"] switch
        {
            JsonValue v when v.TryGetValue<string>(out var s) => s,
            JsonArray blocks => string.Concat(blocks.OfType<JsonObject>().Where(b => (string?)b["type"] == "text").Select(b => (string?)b["text"])),
            _ => "",
        };
    }
}
