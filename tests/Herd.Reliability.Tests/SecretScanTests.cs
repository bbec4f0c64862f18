using System.Text;
using System.Text.Json.Nodes;
using Herd.Testing;
using Xunit.Abstractions;

namespace Herd.Reliability.Tests;

/// <summary>
/// Claim 4 (issue 6): the API key never leaves the process in anything Herd writes, prints or sends as content —
/// through every output format, failures, retries, tools, the audit log, transcripts and the run directory — and the
/// Bash tool's children do not see it.
/// </summary>
public sealed class SecretScanTests(ITestOutputHelper output)
{
    private const int Seed = 6004;

    [Fact]
    public async Task The_api_key_appears_in_no_output_file_or_request_body_of_herd_p_and_herd_run_and_bash_children_do_not_see_it()
    {
        // Given a distinctive fake key and a server that lets tasks run env through Bash, fail auth, rate-limit and fail
        var secret = FakeKey(Seed);
        string[] bash = ["Bash"];
        var envThenEcho = new Conversation("show-env", [
            new Reply { ToolCalls = [new ScriptedToolCall("Bash", new JsonObject { ["command"] = "env" }),
                                     new ScriptedToolCall("Bash", new JsonObject { ["command"] = "echo \"key=[$ANTHROPIC_API_KEY]\"" })] },
            Reply.WithText("seen the environment")]);
        await using var ws = await Workspace.StartAsync(new ModelScript
        {
            LatencyMs = 2,
            Conversations =
            [
                envThenEcho,
                new Conversation("auth-fails", [Reply.Error(401)]),
                new Conversation("bad-request", [Reply.Error(400)]),
                new Conversation("server-error", [Reply.Error(500)]),
            ],
        });
        var herd = ws.Herd(secret).WithEnvironment("HERD_MAX_RETRIES", "2");
        var runs = new List<(string What, HerdRun Run)>();
        async Task Run(string what, string[] args, int expectedExit)
        {
            var run = await herd.RunAsync(args, timeout: TimeSpan.FromSeconds(60));
            runs.Add((what, run));
            run.ExitCode.ShouldBe(expectedExit, $"{what}: {run}");
        }

        // When herd -p runs in all three output formats, through tools, auth failure, 429 and 5xx paths, with an audit log
        await Run("-p text, Bash env, audit log", ["-p", "show-env text", "--allowedTools", .. bash, "--audit-log", "audit-text.ndjson", "--verbose"], 0);
        ws.Server.Enqueue(Reply.Error(429, retryAfter: 0.01));
        await Run("-p json, 429 then Bash env", ["-p", "show-env json", "--output-format", "json", "--verbose", "--allowedTools", .. bash, "--audit-log", "audit-json.ndjson"], 0);
        ws.Server.Enqueue(Reply.Error(429, retryAfter: 0.01), Reply.Error(529, retryAfter: 0.01));
        await Run("-p stream-json, 429 + 529 then Bash env", ["-p", "show-env stream", "--output-format", "stream-json", "--verbose", "--include-partial-messages",
            "--allowedTools", .. bash, "--audit-log", "audit-stream.ndjson"], 0);
        await Run("-p json, 401", ["-p", "auth-fails json", "--output-format", "json", "--verbose"], 1);
        await Run("-p stream-json, 401", ["-p", "auth-fails stream", "--output-format", "stream-json", "--verbose"], 1);
        await Run("-p text, 401", ["-p", "auth-fails text", "--verbose"], 1);
        await Run("-p text, 500 exhausted", ["-p", "server-error text", "--verbose", "--exit-codes", "extended"], 2);

        // and herd run runs tasks that succeed through tools and faults, fail, and retry
        ws.Server.Reset(new ModelScript
        {
            LatencyMs = 2,
            Faults = new FaultPlan { Seed = Seed, Rate429 = 0.1, Rate500 = 0.1, RateDrop = 0.05, RetryAfter = 0.01 },
            Conversations = [envThenEcho, new Conversation("bad-request", [Reply.Error(400)]), new Conversation("server-error", [Reply.Error(500)])],
        });
        string[] inputs = [.. Enumerable.Range(1, 12).Select(i => $"show-env-{i}"), .. Enumerable.Range(1, 3).Select(i => $"bad-request-{i}"), "server-error-1"];
        await Run("herd run, tools + faults + failures", ["run", "-j", "4", "--allowedTools", .. bash, "--retries", "3", "--retry-base", "5ms",
            "--prompt", "Task {}", "--run-dir", "run", "--progress", "none", ":::", .. inputs], 4);
        ws.Server.Reset(new ModelScript { Default = Reply.Error(401) });
        await Run("herd run, auth failure", ["run", "--prompt", "Task {}", "--run-dir", "run-auth", "--progress", "none", ":::", "a", "b"], 103);

        // Then the key was really in use: it is in the x-api-key header the server received (where the scan finds it)
        ws.Server.Requests.ShouldContain(r => r.Headers.GetValueOrDefault("x-api-key") == secret);
        Find(Needles(secret), "x-api-key", Encoding.UTF8.GetBytes(ws.Server.Requests[0].Headers["x-api-key"])).ShouldNotBeEmpty();

        // and the Bash tool ran, its children saw the environment but not the key, and that output reached the server
        var bodies = ws.Server.Requests.Select(r => r.Body).ToArray();
        bodies.ShouldContain(b => b.Contains("ANTHROPIC_BASE_URL=", StringComparison.Ordinal), "env output is sent back as a tool result");
        bodies.ShouldContain(b => b.Contains("key=[]", StringComparison.Ordinal), "$ANTHROPIC_API_KEY is empty in the Bash child");
        bodies.ShouldNotContain(b => b.Contains("ANTHROPIC_API_KEY=", StringComparison.Ordinal));

        // and no stdout, stderr, file or request body holds the key, or any 12-character piece of its random part
        var needles = Needles(secret);
        var leaks = new List<string>();
        foreach (var (what, run) in runs)
        {
            leaks.AddRange(Find(needles, $"{what}: stdout", Encoding.UTF8.GetBytes(run.Stdout)));
            leaks.AddRange(Find(needles, $"{what}: stderr", Encoding.UTF8.GetBytes(run.Stderr)));
        }
        var files = Directory.EnumerateFiles(ws.Work.Path, "*", SearchOption.AllDirectories)
            .Concat(Directory.EnumerateFiles(ws.Config.Path, "*", SearchOption.AllDirectories)).ToArray();
        foreach (var file in files)
            leaks.AddRange(Find(needles, file, File.ReadAllBytes(file)));
        for (var i = 0; i < bodies.Length; i++)
            leaks.AddRange(Find(needles, $"request {i} body", Encoding.UTF8.GetBytes(bodies[i])));
        leaks.ShouldBeEmpty();

        // and the scan covered what it claims to: run.db, results, summary, audit logs and transcripts
        var names = files.Select(f => Path.GetRelativePath(ws.Work.Path, f)).ToArray();
        output.WriteLine($"scanned {files.Length} files, {bodies.Length} request bodies, {runs.Count * 2} output streams");
        foreach (var f in files)
            output.WriteLine($"  {f} ({new FileInfo(f).Length} bytes)");
        names.ShouldContain(Path.Combine("run", "run.db"));
        names.ShouldContain(Path.Combine("run", "results.ndjson"));
        names.ShouldContain(Path.Combine("run", "summary.json"));
        names.ShouldContain("audit-stream.ndjson");
        File.ReadAllText(ws.Work.Combine("audit-text.ndjson")).ShouldContain("\"Bash\"");
        files.Count(f => f.StartsWith(ws.Config.Path, StringComparison.Ordinal) && f.EndsWith(".jsonl", StringComparison.Ordinal)).ShouldBeGreaterThanOrEqualTo(7, "one transcript per herd -p run");
        Workspace.Records(ws.RunDir()).Single(r => (string)r["task"]! == "server-error-1")["retries"]!.GetValue<int>().ShouldBe(3, "herd run retried the failing task");
    }

    /// <summary>A key-shaped secret with a 40-character random part, different from every other key in the tests.</summary>
    private static string FakeKey(int seed)
    {
        const string alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
        var random = new Random(seed);
        return "sk-ant-api03-" + new string(Enumerable.Range(0, 40).Select(_ => alphabet[random.Next(alphabet.Length)]).ToArray());
    }

    private static string[] Needles(string secret)
    {
        var core = secret["sk-ant-api03-".Length..];
        return [secret, .. Enumerable.Range(0, core.Length - 11).Select(i => core.Substring(i, 12))];
    }

    private static IEnumerable<string> Find(string[] needles, string where, byte[] haystack)
    {
        foreach (var needle in needles)
        {
            var bytes = Encoding.UTF8.GetBytes(needle);
            if (haystack.AsSpan().IndexOf(bytes) >= 0)
                yield return $"{where} contains '{needle}'";
        }
    }
}
