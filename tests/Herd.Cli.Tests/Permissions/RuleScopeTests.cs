using System.Diagnostics;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Nodes;
using Herd.Cli.Tests.Engines;
using Herd.Testing;

namespace Herd.Cli.Tests.Permissions;

/// <summary>
/// Which permission rule governs which tool, Herd against Claude Code 2.1.332: the recording
/// (Permissions/ClaudeCode/rule-scope.json, made by record_rule_scope.py with the real <c>claude</c>) holds, per rule
/// case, what claude did with each scripted tool call; Herd must run exactly the calls claude ran, except the calls a
/// case lists under <c>herd_refuses</c> (denies Herd reads wider, with the reason in <c>herd_refuses_why</c>). A call Herd ran that claude
/// refused would be a permission wider than the user's tested command line grants; one claude ran that Herd refused is
/// a false denial. The live test runs the real claude again, so a drift of the pinned CLI shows up here.
/// </summary>
[Collection("external engines")]
public sealed class RuleScopeTests
{
    private static readonly Lazy<JsonObject> Recording = new(() => (JsonObject)JsonNode.Parse(
        File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Permissions", "ClaudeCode", "rule-scope.json")))!);

    /// <summary>Tools the recording calls that Herd does not have (NotebookEdit): their calls are not compared.</summary>
    private static readonly HashSet<string> HerdLacks = new(StringComparer.Ordinal) { "NotebookEdit" };

    private static JsonArray Cases => Recording.Value["cases"]!.AsArray();

    private static IEnumerable<JsonObject> Calls => Recording.Value["turns"]!.AsArray().SelectMany(t => t!.AsArray()).Select(c => (JsonObject)c!);

    public static TheoryData<int, string> CaseIndexes()
    {
        var data = new TheoryData<int, string>();
        for (var i = 0; i < Cases.Count; i++)
            data.Add(i, Describe((JsonObject)Cases[i]!));
        return data;
    }

    [Theory]
    [MemberData(nameof(CaseIndexes))]
    public async Task Herd_runs_exactly_the_calls_Claude_Code_runs_under_the_same_rules(int index, string rules)
    {
        var recorded = (JsonObject)Cases[index]!;
        using var root = new TempDirectory("herd-rule-scope");
        await using var server = await ScriptedModelServer.StartAsync(Script(root.Path, index));
        Layout(root.Path);

        var herd = new HerdProcess(server.BaseUrl, Path.Combine(root.Path, "proj"), Path.Combine(root.Path, "herd-config"))
            .WithEnvironment("HOME", Path.Combine(root.Path, "home"))
            .WithEnvironment("CLAUDE_CONFIG_DIR", Path.Combine(root.Path, "home", ".claude"));
        var run = await herd.RunAsync(Argv(recorded, root.Path, index), null, TimeSpan.FromMinutes(2));

        run.ExitCode.ShouldBe(0, run.ToString());
        var herdVerdicts = Verdicts(run.Stdout);
        var refuses = (recorded["herd_refuses"] as JsonArray)?.Select(r => (string)r!).ToHashSet(StringComparer.Ordinal) ?? [];
        if (refuses.Count > 0)
            ((string?)recorded["herd_refuses_why"]).ShouldNotBeNullOrWhiteSpace("a difference from Claude Code needs its reason");
        var mismatches = new List<string>();
        foreach (var call in Calls.Where(c => !HerdLacks.Contains((string)c["name"]!)))
        {
            var id = (string)call["id"]!;
            var claudeRan = (string)recorded["claude"]![id]! == "ran";
            var expected = claudeRan && !refuses.Contains(id);
            if ((herdVerdicts.GetValueOrDefault(id) == "ran") != expected)
                mismatches.Add($"{id}: claude {(string)recorded["claude"]![id]!}, herd {herdVerdicts.GetValueOrDefault(id) ?? "not called"}");
        }
        mismatches.ShouldBeEmpty($"{rules}\n{run}");
        // A documented difference must still be one: claude ran the call, Herd refuses it on purpose.
        foreach (var id in refuses)
            ((string)recorded["claude"]![id]!).ShouldBe("ran", $"{rules}: herd_refuses lists {id}, which claude refused too");
    }

    [Fact]
    public async Task The_real_claude_still_decides_every_case_as_recorded()
    {
        var claude = Clis.Require("claude");
        using var root = new TempDirectory("claude-rule-scope");
        var script = new ModelScript { Conversations = Enumerable.Range(0, Cases.Count).SelectMany(i => Script(Path.Combine(root.Path, i.ToString()), i).Conversations!).ToArray() };
        await using var server = await ScriptedModelServer.StartAsync(script);

        // Four at a time: each is a node process of about a second and a half.
        using var gate = new SemaphoreSlim(4);
        var runs = Enumerable.Range(0, Cases.Count).Select(async i =>
        {
            await gate.WaitAsync();
            try
            {
                var caseRoot = Path.Combine(root.Path, i.ToString());
                Layout(caseRoot);
                var stdout = await RunClaudeAsync(claude, Argv((JsonObject)Cases[i]!, caseRoot, i), caseRoot, server.BaseUrl);
                return (Index: i, Verdicts: Verdicts(stdout));
            }
            finally
            {
                gate.Release();
            }
        });

        var mismatches = new List<string>();
        foreach (var (i, verdicts) in await Task.WhenAll(runs))
        {
            var recorded = (JsonObject)Cases[i]!;
            foreach (var call in Calls)
            {
                var id = (string)call["id"]!;
                var was = (string)recorded["claude"]![id]!;
                var now = verdicts.GetValueOrDefault(id) ?? "not called";
                if (was != now)
                    mismatches.Add($"{Describe(recorded)} {id}: recorded {was}, now {now}");
            }
        }
        mismatches.ShouldBeEmpty("re-record with tests/Herd.Cli.Tests/Permissions/ClaudeCode/record_rule_scope.py and update docs/permissions.md");
    }

    /// <summary>Keeps <c>&lt;proj&gt;</c> readable in the JSON text (the default encoder writes <c>\u003C</c>).</summary>
    private static readonly JsonSerializerOptions Unescaped = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    private static string Describe(JsonObject c) =>
        $"{(string)c["mode"]!} allow [{string.Join(", ", c["allow"]?.AsArray().Select(r => (string)r!) ?? [])}] deny [{string.Join(", ", c["deny"]?.AsArray().Select(r => (string)r!) ?? [])}]";

    private static string Expand(string text, string root) =>
        text.Replace("<proj>", Path.Combine(root, "proj"), StringComparison.Ordinal).Replace("<out>", Path.Combine(root, "out"), StringComparison.Ordinal);

    private static string ToolId(string callId) => "toolu_scope_" + callId.Replace('-', '_');

    private static string Prompt(int index) => $"rule scope probe [{index}]";

    /// <summary>The case's two turns of tool calls, then "done", answered to the case's own prompt.</summary>
    private static ModelScript Script(string root, int index)
    {
        var turns = Recording.Value["turns"]!.AsArray().Select(turn => new Reply
        {
            ToolCalls = turn!.AsArray().Select(c => new ScriptedToolCall(
                (string)c!["name"]!, (JsonObject)JsonNode.Parse(Expand(c["input"]!.ToJsonString(Unescaped), root))!, ToolId((string)c["id"]!))).ToArray(),
        }).Append(Reply.WithText("done")).ToArray();
        return new ModelScript { Conversations = [new Conversation(Prompt(index), turns)] };
    }

    private static void Layout(string root)
    {
        Directory.CreateDirectory(Path.Combine(root, "home", ".claude"));
        foreach (var (relative, text) in Recording.Value["files"]!.AsObject())
        {
            var path = Path.Combine(root, relative);
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            File.WriteAllText(path, (string)text!);
        }
    }

    private static List<string> Argv(JsonObject c, string root, int index)
    {
        var tools = string.Join(',', Recording.Value["tools"]!.AsArray().Select(t => (string)t!));
        List<string> argv = ["-p", Prompt(index), "--output-format", "stream-json", "--verbose", "--tools", tools, "--permission-mode", (string)c["mode"]!];
        foreach (var (key, flag) in new[] { ("allow", "--allowedTools"), ("deny", "--disallowedTools") })
        {
            if (c[key] is JsonArray rules && rules.Count > 0)
                argv.AddRange([flag, .. rules.Select(r => Expand((string)r!, root))]);
        }
        return argv;
    }

    /// <summary>Per call id: ran, denied (in permission_denials), unavailable (the tool was removed) or failed — as record_rule_scope.py reads them.</summary>
    private static Dictionary<string, string> Verdicts(string stdout)
    {
        var lines = stdout.Split('\n').Where(l => l.StartsWith('{')).Select(l => (JsonObject)JsonNode.Parse(l)!).ToArray();
        var results = lines.Where(l => (string?)l["type"] == "user")
            .SelectMany(l => l["message"]!["content"] as JsonArray ?? [])
            .OfType<JsonObject>()
            .Where(b => (string?)b["type"] == "tool_result")
            .GroupBy(b => (string)b["tool_use_id"]!)
            .ToDictionary(g => g.Key, g => g.First(), StringComparer.Ordinal);
        var denied = lines.Where(l => (string?)l["type"] == "result")
            .SelectMany(l => l["permission_denials"] as JsonArray ?? [])
            .Select(d => (string)d!["tool_use_id"]!)
            .ToHashSet(StringComparer.Ordinal);
        var verdicts = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var call in Calls)
        {
            var id = (string)call["id"]!;
            var toolId = ToolId(id);
            results.TryGetValue(toolId, out var result);
            var text = result is null ? "" : PermissionsHerdRunner.Text(result);
            verdicts[id] = denied.Contains(toolId) ? "denied"
                : text.Contains("No such tool available", StringComparison.Ordinal) ? "unavailable"
                : result is null || (bool?)result["is_error"] == true ? "failed"
                : "ran";
        }
        return verdicts;
    }

    private static async Task<string> RunClaudeAsync(string claude, IReadOnlyList<string> argv, string root, Uri server)
    {
        var info = new ProcessStartInfo(claude)
        {
            WorkingDirectory = Path.Combine(root, "proj"),
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            StandardOutputEncoding = Encoding.UTF8,
            UseShellExecute = false,
        };
        foreach (var a in argv)
            info.ArgumentList.Add(a);
        info.Environment.Clear();
        foreach (var (k, v) in Clis.Environment(root, server))
            info.Environment[k] = v;
        info.Environment["HOME"] = Path.Combine(root, "home");
        info.Environment["CLAUDE_CONFIG_DIR"] = Path.Combine(root, "home", ".claude");
        info.Environment["DISABLE_AUTOUPDATER"] = "1";
        info.Environment["CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC"] = "1";
        using var process = Process.Start(info)!;
        process.StandardInput.Close();
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(TimeSpan.FromMinutes(3));
        try
        {
            await process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"claude {string.Join(' ', argv)} did not finish: {await stderr}");
        }
        process.ExitCode.ShouldBe(0, await stderr);
        return await stdout;
    }
}
