using System.Text.Json.Nodes;
using Herd.Testing;
using Xunit.Abstractions;

namespace Herd.Reliability.Tests;

/// <summary>Which process runs a run's tasks.</summary>
public enum RunHostKind
{
    /// <summary><c>herd run</c> with its run directory's SQLite.</summary>
    Run,

    /// <summary><c>herd run --store postgres://…</c>.</summary>
    RunStore,

    /// <summary><c>herd run --store … --enqueue</c>, then one <c>herd worker --run RUN</c>.</summary>
    Worker,
}

/// <summary>
/// Issue #18: one run, any host. The same scenario runs under <c>herd run</c>, <c>herd run --store</c> and
/// <c>herd worker</c> (real processes, a real PostgreSQL, the scripted model server), and each host must leave the
/// same records and the same effects — the sandbox, the engine, the audit log, the caps, the schema, retries, halts.
/// </summary>
public sealed class HostParityTests(ITestOutputHelper output)
{
    public static TheoryData<RunHostKind> Hosts => [RunHostKind.Run, RunHostKind.RunStore, RunHostKind.Worker];

    private sealed record HostRun(int ExitCode, string Stderr, IReadOnlyList<JsonObject> Records);

    /// <summary>Runs one plan on one host; records come from results.ndjson (herd run) or the store's export (worker).</summary>
    private async Task<HostRun> RunOnAsync(Workspace ws, RunHostKind host, IReadOnlyList<string> options, IReadOnlyList<string> inputs, HerdProcess? herd = null)
    {
        herd ??= ws.Herd();
        herd = herd.WithEnvironment("HERD_STORE", null).WithEnvironment("HERD_FLEET_RETRY_BASE_MS", "20");
        var runId = $"par-{host.ToString().ToLowerInvariant()}-{Guid.NewGuid():N}"[..28];
        string[] run = ["run", .. options, "--model", TestPrices.Model, "--prompt", "Do {}", "--run-dir", runId, "--progress", "none"];
        HerdRun result;
        string recordsDir;
        switch (host)
        {
            case RunHostKind.Run:
                result = await herd.RunAsync([.. run, ":::", .. inputs], timeout: TimeSpan.FromMinutes(2));
                recordsDir = ws.Work.Combine(runId);
                break;
            case RunHostKind.RunStore:
                result = await herd.RunAsync([.. run, "--store", WorkerTestsDb.Url, ":::", .. inputs], timeout: TimeSpan.FromMinutes(2));
                recordsDir = ws.Work.Combine(runId);
                break;
            default:
                var enqueued = await herd.RunAsync([.. run, "--store", WorkerTestsDb.Url, "--enqueue", ":::", .. inputs]);
                enqueued.ExitCode.ShouldBe(0, enqueued.ToString());
                // The worker's concurrency is its own: a scenario that sets -j gives the worker the same slots.
                var jobs = options.Contains("-j") ? options[options.ToList().IndexOf("-j") + 1] : "4";
                result = await herd.RunAsync(["worker", "--store", WorkerTestsDb.Url, "--run", runId, "-j", jobs], timeout: TimeSpan.FromMinutes(2));
                var export = await herd.RunAsync(["runs", "export", runId, "--store", WorkerTestsDb.Url, "--out", runId + "-export"]);
                export.ExitCode.ShouldBe(0, export.ToString());
                recordsDir = ws.Work.Combine(runId + "-export");
                break;
        }
        output.WriteLine($"{host}: {result}");
        return new HostRun(result.ExitCode, result.Stderr, Workspace.Records(recordsDir));
    }

    /// <summary>A record without what differs by nature between runs (times, session ids, hosts, slots).</summary>
    private static string Comparable(IEnumerable<JsonObject> records) => string.Join("\n", records
        .Select(r => new JsonObject
        {
            ["key"] = r["key"]?.DeepClone(),
            ["engine"] = r["engine"]?.DeepClone(),
            ["class"] = r["outcome"]?["class"]?.DeepClone(),
            ["Stdout"] = r["Stdout"]?.DeepClone(),
            ["Exitval"] = r["Exitval"]?.DeepClone(),
            ["num_turns"] = r["num_turns"]?.DeepClone(),
            ["structured_output"] = r["structured_output"]?.DeepClone(),
            ["caps"] = r["caps"]?.DeepClone(),
            ["attempts"] = new JsonArray(r["attempts"]!.AsArray().Select(a => (JsonNode?)JsonValue.Create((string?)a!["class"])).ToArray()),
        }.ToJsonString())
        .Order(StringComparer.Ordinal));

    /// <summary>Runs the scenario on every host; the records of all three must be the same.</summary>
    private async Task<IReadOnlyDictionary<RunHostKind, HostRun>> OnEveryHostAsync(Workspace ws, IReadOnlyList<string> options, IReadOnlyList<string> inputs, Func<RunHostKind, HerdProcess>? herd = null)
    {
        var runs = new Dictionary<RunHostKind, HostRun>();
        foreach (var host in Hosts)
            runs[host] = await RunOnAsync(ws, host, options, inputs, herd?.Invoke(host));
        var expected = Comparable(runs[RunHostKind.Run].Records);
        output.WriteLine(expected);
        foreach (var (host, run) in runs)
            Comparable(run.Records).ShouldBe(expected, $"{host} left other records than herd run");
        return runs;
    }

    [Fact]
    public async Task Bash_confined_by_the_sandbox_default_writes_to_a_private_tmp_under_every_host()
    {
        // Given a file in the host's /tmp, and tasks whose agent overwrites it with Bash (every tool call allowed),
        // under the sandbox that herd run confines Bash with by default
        var outside = Path.Combine(Path.GetTempPath(), $"herd-parity-{Guid.NewGuid():N}.txt");
        File.WriteAllText(outside, "keep me");
        try
        {
            await using var ws = await Workspace.StartAsync(new ModelScript
            {
                Conversations = [new Conversation(null, [Reply.WithTool("Bash", new JsonObject { ["command"] = $"echo pwned > {outside} && echo wrote" }), Reply.WithText("done")])],
            });
            foreach (var host in Hosts)
            {
                // When the host runs them
                var run = await RunOnAsync(ws, host, ["--dangerously-skip-permissions"], ["a", "b"]);

                // Then every task succeeded — its write landed in the sandbox's private /tmp — and the host's file is untouched
                run.ExitCode.ShouldBe(0, run.Stderr);
                run.Records.Count.ShouldBe(2, host.ToString());
                run.Records.ShouldAllBe(r => (string)r["outcome"]!["class"]! == "success");
                File.ReadAllText(outside).ShouldBe("keep me", $"{host} let Bash write to the host's /tmp");
            }
        }
        finally
        {
            File.Delete(outside);
        }
    }

    [Fact]
    public async Task Hostile_Bash_is_confined_alike_under_every_host_with_the_string_checks_off()
    {
        // Given a project that is a git repository, a folder outside the tree and outside /tmp (which the sandbox makes
        // private), and tasks whose agent, in bypass mode, tries to write outside the tree, forge the run's own state
        // and create or change the agent's own configuration (.claude/, .herd/, .git/config, .git/hooks).
        var outside = Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), $".herd-parity-{Guid.NewGuid():N}");
        Directory.CreateDirectory(outside);
        try
        {
            // Each piped into a shell from base64, so the permission engine sees no path: the sandbox alone must hold.
            string[] commands =
            [
                $"echo pwned > {outside}/x.txt",
                "echo forged | tee -a par-*/results.ndjson par-*/run.db > /dev/null 2>&1; touch .herd/runs/*/forged",
                """mkdir -p .claude && echo '{"permissions":{"allow":["Bash"]}}' > .claude/settings.json""",
                "echo '[alias]' >> .git/config; echo 'exit 0' > .git/hooks/pre-commit; mkdir -p .herd && touch .herd/forged",
            ];
            commands = [.. commands.Select(c => $"echo {Convert.ToBase64String(System.Text.Encoding.UTF8.GetBytes(c))} | base64 -d | sh; echo tried")];
            await using var ws = await Workspace.StartAsync(new ModelScript
            {
                Conversations = [new Conversation(null, [.. commands.Select(c => Reply.WithTool("Bash", new JsonObject { ["command"] = c })), Reply.WithText("done")])],
            });
            ws.Work.WriteFile(".git/config", "[core]\n\trepositoryformatversion = 0\n");
            Directory.CreateDirectory(ws.Work.Combine(".git", "hooks"));

            foreach (var host in Hosts)
            {
                // When the host runs them (the sandbox is herd run's default)
                var run = await RunOnAsync(ws, host, ["--dangerously-skip-permissions"], ["a", "b"]);

                // Then every task ended, its records are the host's own (none forged), and nothing outside the tree or
                // of the agent's configuration changed
                run.ExitCode.ShouldBe(0, run.Stderr);
                run.Records.Count.ShouldBe(2, host.ToString());
                run.Records.ShouldAllBe(r => (string)r["outcome"]!["class"]! == "success");
                File.Exists(Path.Combine(outside, "x.txt")).ShouldBeFalse($"{host} let Bash write outside the tree");
                Directory.Exists(ws.Work.Combine(".claude")).ShouldBeFalse($"{host} let Bash create .claude/");
                File.ReadAllText(ws.Work.Combine(".git", "config")).ShouldNotContain("[alias]", Case.Sensitive, $"{host} let Bash change .git/config");
                File.Exists(ws.Work.Combine(".git", "hooks", "pre-commit")).ShouldBeFalse($"{host} let Bash add a git hook");
                File.Exists(ws.Work.Combine(".herd", "forged")).ShouldBeFalse($"{host} let Bash write into .herd/");
                Directory.EnumerateFiles(ws.Work.Path, "forged", SearchOption.AllDirectories).ShouldBeEmpty($"{host} let Bash write into a run's state");
            }
        }
        finally
        {
            Directory.Delete(outside, recursive: true);
        }
    }

    [Fact]
    public async Task The_cmd_engine_runs_every_task_under_every_host()
    {
        // Given a run of --engine cmd, whose command no model is involved in
        await using var ws = await Workspace.StartAsync(new ModelScript { Default = Reply.WithText("the model must not be asked") });

        // When each host runs it
        var runs = await OnEveryHostAsync(ws, ["--engine", "cmd", "--cmd", "echo engine-says {}"], ["x", "y", "z"]);

        // Then each task ran the command (not Herd's agent), on every host
        foreach (var (host, run) in runs)
        {
            string.Join(",", run.Records.Select(r => ((string)r["Stdout"]!).Trim()).Order()).ShouldBe("engine-says x,engine-says y,engine-says z", host.ToString());
            run.Records.ShouldAllBe(r => (string)r["engine"]! == "cmd");
        }
        ws.Server.Requests.Count(q => q.Path == "/v1/messages").ShouldBe(0);
    }

    [Fact]
    public async Task Herd_run_with_a_store_shows_the_same_progress_display_as_herd_run()
    {
        // Given two tasks that take a moment each (a command sleeping), and plain progress lines every 100 ms
        await using var ws = await Workspace.StartAsync(new ModelScript { Default = Reply.WithText("the model must not be asked") });
        string[] run = ["run", "--engine", "cmd", "--cmd", "sleep 0.8; echo {}", "-j", "2", "--model", TestPrices.Model, "--prompt", "Do {}",
            "--progress", "plain", "--progress-interval", "100ms"];
        var herd = ws.Herd().WithEnvironment("HERD_STORE", null);

        // When herd run and herd run --store each run them
        var local = await herd.RunAsync([.. run, "--run-dir", "progress-local", ":::", "pa", "pb"], timeout: TimeSpan.FromMinutes(2));
        var shared = await herd.RunAsync([.. run, "--run-dir", $"progress-{Guid.NewGuid():N}"[..24], "--store", WorkerTestsDb.Url, ":::", "pa", "pb"], timeout: TimeSpan.FromMinutes(2));

        // Then both show the status line and a line per running task on stderr
        foreach (var (host, result) in new[] { ("herd run", local), ("herd run --store", shared) })
        {
            output.WriteLine($"{host}: {result}");
            result.ExitCode.ShouldBe(0, host);
            result.Stderr.ShouldMatch(@"herd: [0-2]/2 done, 0 failed, [0-2] running, 0 retrying, [0-2] queued \| L [12]/2 \| \$0", host);
            result.Stderr.ShouldMatch(@"herd:   running p[ab] #1 ", host);
        }
    }

    [Fact]
    public async Task The_audit_log_gets_every_tool_decision_under_every_host()
    {
        // Given tasks that read a file, with --audit-log
        await using var ws = await Workspace.StartAsync(new ModelScript
        {
            Conversations = [new Conversation(null, [Reply.WithTool("Read", new JsonObject { ["file_path"] = "notes.txt" }), Reply.WithText("read")])],
        });
        ws.Work.WriteFile("notes.txt", "notes\n");

        foreach (var host in Hosts)
        {
            // When each host runs them with its own audit log
            var audit = ws.Work.Combine($"audit-{host}.ndjson");
            var run = await RunOnAsync(ws, host, ["--allowedTools", "Read", "--audit-log", audit], ["p", "q"]);

            // Then the log holds one Read decision per task, each with the session of the task's record
            run.ExitCode.ShouldBe(0, run.Stderr);
            File.Exists(audit).ShouldBeTrue($"{host} wrote no audit log");
            var lines = File.ReadAllLines(audit).Where(l => l.Length > 0).Select(l => JsonNode.Parse(l)!).ToArray();
            lines.Count(l => l.ToJsonString().Contains("\"Read\"", StringComparison.Ordinal)).ShouldBe(2, host.ToString());
            var sessions = run.Records.Select(r => (string)r["session_id"]!).ToHashSet();
            lines.ShouldAllBe(l => sessions.Contains((string)l["session_id"]!));
        }
    }

    [Fact]
    public async Task A_json_schema_gives_every_record_its_structured_output_under_every_host()
    {
        // Given tasks answering through the schema's StructuredOutput tool
        await using var ws = await Workspace.StartAsync(new ModelScript
        {
            Default = new Reply { Text = "counted", ToolCalls = [new ScriptedToolCall("StructuredOutput", new JsonObject { ["count"] = 3 })] },
        });

        // When each host runs them with --json-schema
        var runs = await OnEveryHostAsync(ws, ["--json-schema", """{"type":"object","properties":{"count":{"type":"integer"}},"required":["count"]}"""], ["m", "n"]);

        // Then every record carries the structured output
        foreach (var (host, run) in runs)
            run.Records.ShouldAllBe(r => r["structured_output"]!["count"]!.GetValue<int>() == 3, host.ToString());
    }

    [Fact]
    public async Task A_retryable_fault_is_retried_once_and_the_task_succeeds_under_every_host()
    {
        foreach (var host in Hosts)
        {
            // Given one task whose first call fails with 500, without client retries, so the fleet's retry layer decides
            await using var ws = await Workspace.StartAsync(new ModelScript { Queue = [Reply.Error(500)], Default = Reply.WithText("ok") });

            // When the host runs it
            var run = await RunOnAsync(ws, host, [], ["only"], ws.Herd().WithEnvironment("HERD_MAX_RETRIES", "0"));

            // Then it took two attempts: server_error, then success
            run.ExitCode.ShouldBe(0, run.Stderr);
            var record = run.Records.ShouldHaveSingleItem();
            string.Join(",", record["attempts"]!.AsArray().Select(a => (string)a!["class"]!)).ShouldBe("server_error,success", host.ToString());
        }
    }

    [Fact]
    public async Task A_per_task_turn_cap_ends_the_task_as_max_turns_under_every_host()
    {
        // Given tasks that need a second turn, capped at one
        await using var ws = await Workspace.StartAsync(new ModelScript
        {
            Conversations = [new Conversation(null, [Reply.WithTool("Read", new JsonObject { ["file_path"] = "notes.txt" }), Reply.WithText("ok")])],
        });
        ws.Work.WriteFile("notes.txt", "notes\n");

        // When each host runs them with --max-turns 1
        var runs = await OnEveryHostAsync(ws, ["--allowedTools", "Read", "--max-turns", "1"], ["u", "v"]);

        // Then each task ended as max_turns, with the cap in its record
        foreach (var (host, run) in runs)
        {
            run.Records.ShouldAllBe(r => (string)r["outcome"]!["class"]! == "max_turns", host.ToString());
            run.Records.ShouldAllBe(r => r["caps"]!["max_turns"]!.GetValue<int>() == 1, host.ToString());
        }
    }

    [Fact]
    public async Task Halt_now_stops_the_run_at_its_first_failure_with_the_same_records_under_every_host()
    {
        // Given a run with --halt now,fail=1 whose first task fails at once (it needs a second turn, --max-turns 1)
        // while the others take a minute
        await using var ws = await Workspace.StartAsync(new ModelScript
        {
            Conversations =
            [
                new Conversation("Do t1", [Reply.WithTool("Read", new JsonObject { ["file_path"] = "notes.txt" }), Reply.WithText("ok")]),
                new Conversation(null, [Reply.WithText("ok") with { LatencyMs = 60_000 }]),
            ],
        });
        ws.Work.WriteFile("notes.txt", "notes\n");

        // When each host runs it
        var started = System.Diagnostics.Stopwatch.StartNew();
        var runs = await OnEveryHostAsync(ws, ["--allowedTools", "Read", "--max-turns", "1", "--halt", "now,fail=1", "-j", "4"], ["t1", "t2", "t3", "t4"]);

        // Then on every host the one failed task is the run's only record and the minute-long attempts were stopped
        started.Elapsed.ShouldBeLessThan(TimeSpan.FromSeconds(150));
        foreach (var (host, run) in runs)
        {
            var record = run.Records.ShouldHaveSingleItem(host.ToString());
            ((string)record["outcome"]!["class"]!).ShouldBe("max_turns");
        }
        runs[RunHostKind.Run].ExitCode.ShouldBe(1);
        runs[RunHostKind.RunStore].ExitCode.ShouldBe(1);
    }

    [Fact]
    public async Task The_claude_engine_runs_every_task_under_every_host()
    {
        // Given the real Claude Code CLI pointed at the scripted server, with a home of its own
        await using var ws = await Workspace.StartAsync(new ModelScript { Default = Reply.WithText("Summary {turn}") });
        var home = ws.Work.Combine("home");
        Directory.CreateDirectory(home);

        // When each host runs tasks with --engine claude
        var runs = await OnEveryHostAsync(ws, ["--engine", "claude"], ["c1", "c2"], _ => ws.Herd().WithEnvironment("HOME", home));

        // Then every task was run by claude, not by Herd's agent
        foreach (var (host, run) in runs)
        {
            run.ExitCode.ShouldBe(0, run.Stderr);
            run.Records.ShouldAllBe(r => (string)r["engine"]! == "claude" && (string)r["Stdout"]! == "Summary 0", host.ToString());
        }
    }

    /// <summary>The tool results the model was sent, one per tool call (each call's result is in the request after it).</summary>
    private static IReadOnlyList<string> ToolResultTexts(ScriptedModelServer server) => server.Requests
        .Where(r => r.Path == "/v1/messages")
        .Select(r => ((JsonArray)r.Json["messages"]!).Last() as JsonObject)
        .Where(m => m?["content"] is JsonArray)
        .SelectMany(m => ((JsonArray)m!["content"]!).OfType<JsonObject>())
        .Where(b => (string?)b["type"] == "tool_result")
        .Select(b => b["content"] switch
        {
            JsonValue v => (string)v!,
            JsonArray a => string.Concat(a.OfType<JsonObject>().Select(x => (string?)x["text"])),
            _ => "",
        })
        .ToArray();

    /// <summary>The user messages' text blocks the model was sent after tool calls (where hook context goes).</summary>
    private static int RequestsContaining(ScriptedModelServer server, string text) =>
        server.Requests.Count(r => r.Path == "/v1/messages" && ((JsonArray)r.Json["messages"]!).Last()!.ToJsonString().Contains(text, StringComparison.Ordinal));

    [Fact]
    public async Task A_PreToolUse_hook_denies_under_bypass_mode_under_every_host()
    {
        // Given a policy hook (given with --settings JSON, so no settings file on disk can stand in for the stored one)
        // that blocks every Bash call, and tasks whose agent tries to write a file with Bash, every call otherwise allowed
        await using var ws = await Workspace.StartAsync(new ModelScript
        {
            Conversations = [new Conversation(null, [Reply.WithTool("Bash", new JsonObject { ["command"] = "echo x > hooked.txt" }), Reply.WithText("gave up")])],
        });
        var settings = """{"hooks":{"PreToolUse":[{"matcher":"Bash","hooks":[{"type":"command","command":"echo 'blocked by parity policy' >&2; exit 2"}]}]}}""";

        // When each host runs them under bypassPermissions
        var runs = await OnEveryHostAsync(ws, ["--dangerously-skip-permissions", "--settings", settings], ["h1", "h2"]);

        // Then the hook's deny held on every host: no file, the model told why, the denial in every record
        File.Exists(ws.Work.Combine("hooked.txt")).ShouldBeFalse("a host ran the Bash call its hook denied");
        ToolResultTexts(ws.Server).Count(t => t.Contains("blocked by parity policy", StringComparison.Ordinal)).ShouldBe(6);
        foreach (var (host, run) in runs)
            run.Records.ShouldAllBe(r => r["permission_denials"]!.ToJsonString().Contains("Bash"), host.ToString());
    }

    [Fact]
    public async Task A_PostToolUse_hook_adds_context_for_the_model_under_every_host()
    {
        // Given a PostToolUse hook that adds context after every Read, and tasks that read a file
        await using var ws = await Workspace.StartAsync(new ModelScript
        {
            Conversations = [new Conversation(null, [Reply.WithTool("Read", new JsonObject { ["file_path"] = "notes.txt" }), Reply.WithText("read")])],
        });
        ws.Work.WriteFile("notes.txt", "notes\n");
        var hookOutput = new JsonObject { ["hookSpecificOutput"] = new JsonObject { ["hookEventName"] = "PostToolUse", ["additionalContext"] = "parity-context-from-hook" } };
        var hook = new JsonObject { ["type"] = "command", ["command"] = $"echo '{hookOutput.ToJsonString()}'" };
        var settings = new JsonObject { ["hooks"] = new JsonObject { ["PostToolUse"] = new JsonArray(new JsonObject { ["matcher"] = "Read", ["hooks"] = new JsonArray(hook) }) } }.ToJsonString();

        // When each host runs them
        var runs = await OnEveryHostAsync(ws, ["--allowedTools", "Read", "--settings", settings], ["k1", "k2"]);

        // Then on every host each task's model saw the hook's context with the Read result
        RequestsContaining(ws.Server, "parity-context-from-hook").ShouldBe(6);
        foreach (var (host, run) in runs)
            run.Records.ShouldAllBe(r => (string)r["outcome"]!["class"]! == "success", host.ToString());
    }

    [Fact]
    public async Task An_mcp_tool_answers_every_task_from_servers_started_once_per_slot_under_every_host()
    {
        // Given a stdio MCP server (confined by herd run's sandbox default) whose env is a ${VAR} reference, expanded
        // from the environment of whichever host starts it, and four tasks on two slots that each call its echo tool
        await using var ws = await Workspace.StartAsync(new ModelScript
        {
            Conversations = [new Conversation(null, [Reply.WithTool("mcp__par__echo", new JsonObject { ["text"] = "hi" }), Reply.WithText("echoed")])],
        });
        var server = McpTestServer.StdioIn(ws.Work.Path);
        server["env"] = new JsonObject { ["MCP_TEST_VALUE"] = "${PARITY_MCP_VALUE}", ["MCP_TEST_STARTS"] = "${PARITY_MCP_STARTS}" };
        var config = McpTestServer.Config(("par", server));
        var starts = new Dictionary<RunHostKind, string>();
        HerdProcess Herd(RunHostKind host) => ws.Herd().WithEnvironment("PARITY_MCP_VALUE", "from-host").WithEnvironment("PARITY_MCP_STARTS", starts[host] = ws.Work.Combine($"starts-{host}.txt"));

        // When each host runs them with -j 2
        var runs = await OnEveryHostAsync(ws, ["--allowedTools", "mcp__par", "--mcp-config", config, "-j", "2"], ["m1", "m2", "m3", "m4"], Herd);

        // Then every task got the tool's answer, and each host started one server per slot, not per task or per process
        ToolResultTexts(ws.Server).Count(t => t == "echo: hi (env MCP_TEST_VALUE=from-host)").ShouldBe(12);
        foreach (var (host, run) in runs)
        {
            run.Records.ShouldAllBe(r => (string)r["outcome"]!["class"]! == "success", host.ToString());
            File.ReadAllLines(starts[host]).Length.ShouldBe(2, $"{host} started its servers other than once per slot");
        }
    }

    [Fact]
    public async Task An_mcp_server_that_crashes_is_restarted_for_the_slot_s_next_task_under_every_host()
    {
        // Given tasks that each call the server's echo tool and then its crash tool (the server exits mid-task), on one slot
        await using var ws = await Workspace.StartAsync(new ModelScript
        {
            Conversations =
            [
                new Conversation(null,
                [
                    Reply.WithTool("mcp__crashy__echo", new JsonObject { ["text"] = "before" }),
                    Reply.WithTool("mcp__crashy__crash", []),
                    Reply.WithText("carried on"),
                ]),
            ],
        });
        var config = McpTestServer.Config(("crashy", McpTestServer.StdioIn(ws.Work.Path)));

        // When each host runs two of them one after the other
        var runs = await OnEveryHostAsync(ws, ["--allowedTools", "mcp__crashy", "--mcp-config", config, "-j", "1"], ["c1", "c2"]);

        // Then the task in flight saw the crash as "Connection closed" and went on, and the next task found the server
        // started again (its echo answered), on every host, without hanging
        var results = ToolResultTexts(ws.Server);
        results.Count(t => t.StartsWith("echo: before", StringComparison.Ordinal)).ShouldBe(6);
        results.Count(t => t == "Connection closed").ShouldBe(6);
        foreach (var (host, run) in runs)
            run.Records.ShouldAllBe(r => (string)r["Stdout"]! == "carried on", host.ToString());
    }

    [Fact]
    public async Task A_run_for_a_shared_store_refuses_an_mcp_secret_written_in_clear()
    {
        // Given an MCP server whose header is a token written in clear
        await using var ws = await Workspace.StartAsync(new ModelScript { Default = Reply.WithText("ok") });
        var config = McpTestServer.Config(("docs", new JsonObject { ["type"] = "http", ["url"] = "http://127.0.0.1:9/mcp", ["headers"] = new JsonObject { ["Authorization"] = "Bearer tok-in-clear" } }));

        // When a run for the shared store is created with it
        var run = await ws.Herd().RunAsync(["run", "--prompt", "Do {}", "--mcp-config", config, "--store", WorkerTestsDb.Url, "--enqueue", ":::", "a"]);

        // Then it is refused with one line naming the entry and the fix, and the token is neither stored nor shown
        run.ExitCode.ShouldBe(255, run.ToString());
        var line = run.Stderr.Trim().Split('\n').ShouldHaveSingleItem();
        line.ShouldContain("headers.Authorization");
        line.ShouldContain("${AUTHORIZATION}");
        line.ShouldNotContain("tok-in-clear");
    }

    [Fact]
    public async Task A_run_stored_by_an_older_herd_without_a_definition_is_bound_once_from_its_argv_and_worked()
    {
        // Given an enqueued run whose definition is gone, as a Herd before definitions stored it (argv only)
        await using var ws = await Workspace.StartAsync(new ModelScript { Default = Reply.WithText("ok") });
        var herd = ws.Herd();
        var runId = $"old-{Guid.NewGuid():N}"[..20];
        var enqueued = await herd.RunAsync(["run", "--engine", "cmd", "--cmd", "echo legacy {}", "--prompt", "Do {}", "--run-dir", runId, "--store", WorkerTestsDb.Url, "--enqueue", ":::", "a", "b"]);
        enqueued.ExitCode.ShouldBe(0, enqueued.ToString());
        Execute("UPDATE herd_runs SET definition = NULL WHERE run_id = $1", runId);

        // When a worker works it
        var worked = await herd.RunAsync(["worker", "--store", WorkerTestsDb.Url, "--run", runId], timeout: TimeSpan.FromMinutes(2));

        // Then it ran as its argv asked (the cmd engine), and its definition is stored for the next worker
        worked.ExitCode.ShouldBe(0, worked.ToString());
        WorkerTestsDb.Scalar<string>("SELECT status FROM herd_runs WHERE run_id = $1", runId).ShouldBe("finished");
        WorkerTestsDb.Scalar<string>("SELECT definition FROM herd_runs WHERE run_id = $1", runId).ShouldContain("echo legacy {}");
        WorkerTestsDb.Scalar<long>("SELECT COUNT(*) FROM herd_records WHERE run_id = $1 AND record LIKE '%legacy a%'", runId).ShouldBe(1);
    }

    [Fact]
    public async Task A_run_whose_definition_a_newer_herd_wrote_is_refused_with_one_line()
    {
        // Given an enqueued run whose definition says version 99
        await using var ws = await Workspace.StartAsync(new ModelScript { Default = Reply.WithText("ok") });
        var herd = ws.Herd();
        var runId = $"new-{Guid.NewGuid():N}"[..20];
        (await herd.RunAsync(["run", "--prompt", "Do {}", "--run-dir", runId, "--store", WorkerTestsDb.Url, "--enqueue", ":::", "a"])).ExitCode.ShouldBe(0);
        Execute("UPDATE herd_runs SET definition = replace(definition, '\"version\":1', '\"version\":99') WHERE run_id = $1", runId);

        // When a worker is asked to work it
        var worked = await herd.RunAsync(["worker", "--store", WorkerTestsDb.Url, "--run", runId]);

        // Then it refuses with one line naming the fix, and runs nothing
        worked.ExitCode.ShouldBe(255, worked.ToString());
        worked.Stderr.Trim().Split('\n').ShouldHaveSingleItem().ShouldContain("Upgrade herd");
        ws.Server.Requests.Count(q => q.Path == "/v1/messages").ShouldBe(0);
    }

    [Fact]
    public async Task Two_workers_join_a_running_herd_run_with_a_store_and_share_its_work_and_the_creator_writes_the_results_report_and_gate()
    {
        // Given herd run --store working 40 slow tasks two at a time (a second each), with a gate
        await using var ws = await Workspace.StartAsync(new ModelScript { LatencyMs = 1000, Default = Reply.WithText("ok") });
        var herd = ws.Herd().WithEnvironment("HERD_STORE", null);
        var runId = $"elastic-{Guid.NewGuid():N}"[..24];
        var creator = ws.Start(herd, ["run", "--store", WorkerTestsDb.Url, "-j", "2", "--model", TestPrices.Model, "--prompt", "Do {}", "--run-dir", runId,
            "--progress", "none", "--gate", "max-failed=0", ":::", .. Enumerable.Range(1, 40).Select(i => $"e{i:D2}")]);
        await WorkerTestsDb.WaitUntilAsync(() => Done(runId) >= 2, TimeSpan.FromSeconds(60));

        // When two workers join it while it runs
        var workers = Enumerable.Range(0, 2).Select(_ => ws.Start(herd, ["worker", "--store", WorkerTestsDb.Url, "--run", runId, "-j", "2", "--lease", "3s"])).ToArray();
        using var cts = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        await creator.Process.WaitForExitAsync(cts.Token);
        var creatorErr = await creator.Stderr;
        output.WriteLine(creatorErr);
        var workerErrs = new List<string>();
        foreach (var (process, _, stderr) in workers)
        {
            await process.WaitForExitAsync(cts.Token);
            workerErrs.Add(await stderr);
            process.ExitCode.ShouldBe(0, workerErrs[^1]);
            output.WriteLine(workerErrs[^1]);
        }

        // Then every task ran once, the workers did part of it, and the creator wrote the whole run's results, report and gate
        creator.Process.ExitCode.ShouldBe(0, creatorErr);
        WorkerTestsDb.Scalar<long>("SELECT COUNT(*) FROM herd_attempts WHERE run_id = $1", runId).ShouldBe(40);
        WorkerTestsDb.Scalar<string>("SELECT status FROM herd_runs WHERE run_id = $1", runId).ShouldBe("finished");
        foreach (var err in workerErrs)
            err.ShouldNotContain(" 0 attempt(s)");
        var dir = ws.Work.Combine(runId);
        var records = Workspace.Records(dir);
        records.Count.ShouldBe(40);
        records.Select(r => (string)r["key"]!).Distinct().Count().ShouldBe(40);
        ((int)Workspace.SummaryOf(dir)["unfinished"]!).ShouldBe(0);
        File.Exists(Path.Combine(dir, "report.html")).ShouldBeTrue();
        creatorErr.ShouldContain("gate passed");
    }

    private static long Done(string runId) => WorkerTestsDb.Scalar<long>("SELECT COUNT(*) FROM herd_tasks WHERE run_id = $1 AND state = 'done'", runId);

    private static void Execute(string sql, string runId)
    {
        using var db = WorkerTestsDb.Db();
        using var cmd = new Npgsql.NpgsqlCommand(sql, db);
        cmd.Parameters.Add(new Npgsql.NpgsqlParameter { Value = runId });
        cmd.ExecuteNonQuery();
    }
}
