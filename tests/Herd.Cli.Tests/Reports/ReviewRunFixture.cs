using System.Text.Json.Nodes;
using Herd.Testing;

namespace Herd.Cli.Tests.Reports;

/// <summary>
/// A real review run, made once for all report tests: the real `herd run --json-schema` process over the files of a
/// small repository against the scripted model server. Every tenth file's task fails (400), the others return findings in the seed's slide-10
/// shape, and seeded 429s force some attempts to be retried. The run directory is what `herd run` leaves.
/// </summary>
public sealed class ReviewRunFixture : IAsyncLifetime
{
    public const string Schema = """{"type":"object","properties":{"issues":{"type":"array","items":{"type":"object","properties":{"severity":{"type":"string"},"file":{"type":"string"},"line":{"type":"integer"},"message":{"type":"string"}},"required":["severity","file","message"]}}},"required":["issues"]}""";

    public const int Files = 200;

    private readonly TempDirectory _temp = new("herd-review");
    private ScriptedModelServer? _server;

    /// <value>The repository the review ran in (with a .git directory, so paths are relative to it).</value>
    public string Repo => _temp.Combine("repo");

    public string RunDir => Path.Combine(Repo, "run");

    /// <value>What the `herd run` process printed and its exit code.</value>
    public HerdRun Result { get; private set; } = new(-1, "", "");

    public static string FileName(int i) => $"src/file-{i:D4}.cs";

    public static bool Fails(int i) => i % 10 == 0;

    /// <summary>A file whose finding names its path absolute (as a model may): every report must show it repository-relative.</summary>
    public const int AbsolutePathFile = 4;

    /// <summary>A file whose low finding names no line (a file-level finding).</summary>
    public const int NoLineFile = 6;

    /// <summary>The findings file i reports: two (high + low) when i % 3 == 0, one medium when i % 3 == 1, none otherwise.</summary>
    /// <param name="repo">The repository, to write <see cref="AbsolutePathFile"/>'s path absolute; null where only the count matters.</param>
    public static JsonArray IssuesOf(int i, string? repo = null)
    {
        var file = repo is not null && i == AbsolutePathFile ? Path.Combine(repo, FileName(i)) : FileName(i);
        return (i % 3) switch
        {
            0 => [Issue("high", file, 3, $"SQL built by string concatenation in file {i}"), Issue("low", file, i == NoLineFile ? null : 7, "Unused variable 'tmp'")],
            1 => [Issue("medium", file, 12, "Exception swallowed without logging, see line 12, col 4\n(second line: 100% sure)")],
            _ => [],
        };
    }

    public static int ExpectedFindings => Enumerable.Range(1, Files).Where(i => !Fails(i)).Sum(i => IssuesOf(i).Count);

    private static JsonObject Issue(string severity, string file, int? line, string message)
    {
        var issue = new JsonObject { ["severity"] = severity, ["file"] = file, ["message"] = message };
        if (line is { } l)
            issue["line"] = l;
        return issue;
    }

    public async Task InitializeAsync()
    {
        var conversations = Enumerable.Range(1, Files).Select(i => new Conversation(FileName(i), Fails(i)
            ? [Reply.Error(400)]
            : [new Reply
            {
                Text = $"Reviewed {FileName(i)}.",
                ToolCalls = [new ScriptedToolCall("StructuredOutput", new JsonObject { ["issues"] = IssuesOf(i, Repo) })],
                Usage = new ScriptedUsage(Input: 300 + i * 7, Output: 40 + i % 50),
            }])).ToArray();
        _server = await ScriptedModelServer.StartAsync(new ModelScript
        {
            LatencyMs = 3,
            Conversations = conversations,
            Faults = new FaultPlan { Seed = 11, Rate429 = 0.35 },
        });
        Directory.CreateDirectory(Path.Combine(Repo, ".git"));
        Directory.CreateDirectory(Path.Combine(Repo, "src"));
        for (var i = 1; i <= Files; i++)
            await File.WriteAllLinesAsync(Path.Combine(Repo, FileName(i)), Enumerable.Range(1, 20).Select(l => $"    var line{l} = {l}; // file {i}"));
        // The real herd binary, as a pipeline runs it; two client retries per call so some 429 streaks become fleet retries.
        Result = await new HerdProcess(_server.BaseUrl, Repo, _temp.Combine("config"))
            .WithEnvironment("HERD_MAX_RETRIES", "2")
            .RunAsync(["run", "-j", "8", "--retries", "4", "--retry-base", "5ms", "--budget-usd", "50", "--json-schema", Schema,
                "--prompt", "Review {} and report issues", "--run-dir", "run", "--progress", "none", ":::",
                .. Enumerable.Range(1, Files).Select(FileName)], timeout: TimeSpan.FromMinutes(5));
    }

    public async Task DisposeAsync()
    {
        if (_server is not null)
            await _server.DisposeAsync();
        _temp.Dispose();
    }
}

/// <summary>The report test classes share one review run (made once: it is the slow part).</summary>
[CollectionDefinition(Name)]
public sealed class ReviewRunCollection : ICollectionFixture<ReviewRunFixture>
{
    public const string Name = "review run";
}
