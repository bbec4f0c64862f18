using Herd.Agent.Tests.Permissions;
using Herd.Agent.Permissions;
using Herd.Agent.Sandbox;
using Herd.Agent.Tools;

namespace Herd.Agent.Tests.Sandbox;

/// <summary>
/// Issue #19, classes 3 and 10: the agent's own configuration (<c>.claude/</c>, <c>.herd/</c>, <c>.git/config</c>,
/// <c>.git/hooks</c>, existing or not) and the run's own state (run directory, audit log, joblog) are read-only to every
/// tool: the kernel refuses with the string checks off, the engine refuses without the sandbox, in every mode.
/// </summary>
public sealed class OwnStateTests : IDisposable
{
    private readonly TempProject _p = new();
    private readonly ProtectedPath[] _runState;

    public OwnStateTests()
    {
        Directory.CreateDirectory(Path.Combine(_p.Cwd, ".git"));
        _p.Write(".git/config", "[core]\n");
        _p.Write("run/results.ndjson", "{\"Seq\":1}\n");
        _p.Write("run/run.db", "db");
        _p.Write("audit.jsonl", "{}\n");
        _p.Write("src/a.txt", "a");
        _runState = [new(Path.Combine(_p.Cwd, "run"), "the run directory"), new(Path.Combine(_p.Cwd, "audit.jsonl"), "the audit log")];
    }

    public void Dispose() => _p.Dispose();

    private ToolContext Context(bool sandbox) => new(_p.Cwd) { Sandbox = sandbox ? new SandboxOptions() : null, ProtectedPaths = _runState };

    // ---- the kernel, with the string checks off ----
    [Theory]
    [InlineData("mkdir .claude && echo '{}' > .claude/settings.json")]
    [InlineData("mkdir -p .herd/runs")]
    [InlineData("mkdir .git/hooks && echo x > .git/hooks/pre-commit")]
    [InlineData("echo '[core] fsmonitor=x' >> .git/config")]
    [InlineData("mv .git/config .git/config.old")]
    [InlineData("ln -s /tmp .claude")]
    public async Task The_sandbox_lets_no_command_create_or_change_the_agents_configuration(string command)
    {
        Bubblewrap.Problem.ShouldBeNull("bubblewrap must be installed for the sandbox tests");
        var result = await new BashTool().InvokeAsync(TempProject.Input(("command", command)), Context(sandbox: true));

        result.IsError.ShouldBeTrue(command + ": " + result.Content);
        Directory.Exists(Path.Combine(_p.Cwd, ".claude")).ShouldBeFalse("the empty mount point is removed again");
        File.Exists(Path.Combine(_p.Cwd, ".claude")).ShouldBeFalse();
        Directory.Exists(Path.Combine(_p.Cwd, ".herd")).ShouldBeFalse();
        Directory.Exists(Path.Combine(_p.Cwd, ".git", "hooks")).ShouldBeFalse();
        File.ReadAllText(Path.Combine(_p.Cwd, ".git", "config")).ShouldBe("[core]\n");
    }

    [Theory]
    [InlineData("echo '{\"Seq\":9}' >> run/results.ndjson")]
    [InlineData("rm -f run/run.db")]
    [InlineData("touch run/run.db-wal")]
    [InlineData("mv run/run.db run/x")]
    [InlineData("echo forged > audit.jsonl")]
    public async Task The_sandbox_keeps_the_runs_own_state_read_only(string command)
    {
        Bubblewrap.Problem.ShouldBeNull("bubblewrap must be installed for the sandbox tests");
        var result = await new BashTool().InvokeAsync(TempProject.Input(("command", command)), Context(sandbox: true));

        result.IsError.ShouldBeTrue(command + ": " + result.Content);
        File.ReadAllText(Path.Combine(_p.Cwd, "run", "results.ndjson")).ShouldBe("{\"Seq\":1}\n");
        File.ReadAllText(Path.Combine(_p.Cwd, "run", "run.db")).ShouldBe("db");
        File.Exists(Path.Combine(_p.Cwd, "run", "run.db-wal")).ShouldBeFalse();
        File.ReadAllText(Path.Combine(_p.Cwd, "audit.jsonl")).ShouldBe("{}\n");
    }

    [Fact]
    public async Task Ordinary_work_in_the_sandbox_still_writes_the_project()
    {
        var result = await new BashTool().InvokeAsync(TempProject.Input(("command", "echo b > src/b.txt && mkdir -p build && touch build/x")), Context(sandbox: true));

        result.IsError.ShouldBeFalse(result.Content);
        File.ReadAllText(Path.Combine(_p.Cwd, "src", "b.txt")).ShouldBe("b\n");
    }

    // ---- the engine and the file tools, in every mode, sandbox on and off ----
    public static TheoryData<string, bool> Writes()
    {
        string[] commands =
        [
            "mkdir .claude", "touch .claude/settings.json", "echo x > .claude/settings.local.json", "mkdir -p .herd", "cp x.json .herd/settings.json",
            "mv evil .git/hooks", "rm -rf .git/hooks", "echo x >> .git/config", "tee .git/hooks/pre-commit", "sed -i s/a/b/ .git/config",
            "echo x >> run/results.ndjson", "rm run/run.db", "touch run/run.db-shm", "cp x run/run.db", "mv run ../elsewhere",
            "echo x > audit.jsonl", "dd if=/dev/zero of=run/run.db", "truncate -s 0 audit.jsonl",
        ];
        return SandboxModes.Both(commands);
    }

    [Theory]
    [MemberData(nameof(Writes))]
    public void The_engine_denies_writes_to_protected_paths_in_every_mode(string command, bool sandbox)
    {
        foreach (var mode in new[] { PermissionMode.BypassPermissions, PermissionMode.AcceptEdits, PermissionMode.Default })
        {
            var engine = new PermissionEngine(new PermissionPolicy(mode, ["Bash", "Edit(**)", "Write(**)"], [], []));
            engine.Evaluate(new BashTool(), TempProject.Input(("command", command)), Context(sandbox)).IsAllowed.ShouldBeFalse($"{command} ({mode}, sandbox {sandbox})");
        }
    }

    [Theory]
    [InlineData(".claude/settings.json")]
    [InlineData(".claude/agents/x.md")]
    [InlineData(".herd/settings.json")]
    [InlineData(".git/hooks/pre-commit")]
    [InlineData(".git/config")]
    [InlineData("run/results.ndjson")]
    [InlineData("run/new-file")]
    [InlineData("audit.jsonl")]
    public async Task The_file_tools_refuse_protected_paths_even_when_a_rule_allows_them(string relative)
    {
        var path = Path.Combine(_p.Cwd, relative);
        foreach (var sandbox in new[] { false, true })
        {
            var context = Context(sandbox);
            var input = TempProject.Input(("file_path", path), ("content", "forged"));
            new PermissionEngine(new PermissionPolicy(PermissionMode.BypassPermissions, [$"Edit({relative})", "Write"], [], []))
                .Evaluate(new WriteTool(), input, context).IsAllowed.ShouldBeFalse(relative);
            // and the tool itself, reached without the engine
            (await new WriteTool().InvokeAsync(input, context)).IsError.ShouldBeTrue(relative);
        }
        Directory.Exists(Path.Combine(_p.Cwd, ".claude")).ShouldBeFalse();
        File.ReadAllText(Path.Combine(_p.Cwd, "run", "results.ndjson")).ShouldBe("{\"Seq\":1}\n");
    }

    [Fact]
    public void Ordinary_edits_stay_allowed()
    {
        var engine = new PermissionEngine(new PermissionPolicy(PermissionMode.AcceptEdits, [], [], []));
        engine.Evaluate(new BashTool(), TempProject.Input(("command", "mkdir -p build && touch build/x && mv build/x build/y")), Context(false)).IsAllowed.ShouldBeTrue();
        engine.Evaluate(new WriteTool(), TempProject.Input(("file_path", Path.Combine(_p.Cwd, "src", "b.txt")), ("content", "b")), Context(false)).IsAllowed.ShouldBeTrue();
        engine.Evaluate(new BashTool(), TempProject.Input(("command", "cat run/results.ndjson .claude/settings.json")), Context(false)).IsAllowed.ShouldBeTrue("reading is fine");
    }
}
