using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Herd.Agent.Permissions;
using Herd.Agent.Sandbox;
using Herd.Agent.Tools;

namespace Herd.Agent.Tests.Sandbox;

/// <summary>
/// The kernel boundary of issue #9, with the string checks switched off: these tests call the Bash tool directly, the
/// way the agent loop does after the permission engine — here without the engine at all (the test-only seam), so
/// every attack reaches bash and only bubblewrap can stop it. Needs bubblewrap (.ci/run installs it).
/// </summary>
public sealed class SandboxTests : IDisposable
{
    private readonly TempProject _p = new();
    private readonly ToolContext _context;

    public SandboxTests()
    {
        Bubblewrap.Problem.ShouldBeNull("bubblewrap must be installed and working for the sandbox tests (apt-get install bubblewrap)");
        _p.Write(".env", "SECRET=hunter2");
        _p.Write("config/.env", "SECRET=2");
        _p.Write(".git/config", "[core]\n");
        _p.Write(".git/hooks/pre-commit", "#!/bin/sh\n");
        _p.Write(".claude/settings.json", "{}");
        Directory.CreateDirectory(Path.Combine(_p.Cwd, ".herd"));
        _p.Write("src/a.txt", "hello");
        File.WriteAllText(Path.Combine(_p.Outside, "x"), "outside");
        Directory.CreateDirectory(Path.Combine(_p.Cwd, "lib"));
        File.CreateSymbolicLink(Path.Combine(_p.Cwd, "src", "lib"), "../lib");
        File.CreateSymbolicLink(Path.Combine(_p.Cwd, "out"), _p.Outside);
        var engine = new PermissionEngine(new PermissionPolicy(PermissionMode.BypassPermissions, [], ["Read(.env)", $"Read(//{_p.Outside.TrimStart('/')}/secret/**)"], []));
        Directory.CreateDirectory(Path.Combine(_p.Outside, "secret"));
        File.WriteAllText(Path.Combine(_p.Outside, "secret", "key"), "KEY-7f3a9");
        _context = Confined(SandboxNetwork.Allowed, engine);
    }

    private ToolContext Confined(SandboxNetwork network, PermissionEngine engine) => new(_p.Cwd)
    {
        Sandbox = new SandboxOptions(network),
        IsReadDenied = path => engine.IsReadDenied(path, _p.Cwd),
        HasReadDenyRules = engine.HasReadDenies,
        ReadDenyBases = engine.ReadDenyBases(_p.Cwd),
    };

    public void Dispose() => _p.Dispose();

    private Task<ToolResult> Run(string command, ToolContext? context = null) =>
        new BashTool().InvokeAsync(TempProject.Input(("command", command)), context ?? _context);

    public static TheoryData<string> WritesOutside() => new()
    {
        "echo pwned > ../outside/x",
        "echo pwned > out/x",
        "echo ../outside/x | xargs -I{} sh -c 'echo pwned > {}'",
        "find ../outside -name x -exec sh -c 'echo pwned > {}' \\;",
        "bash -c 'echo pwned > ../outside/x'",
        "python3 -c \"open('../outside/x','w').write('pwned')\"",
        "cd src/lib/../.. && echo pwned > outside/x",
        "F=../outside/x; echo pwned > $F",
        "{echo,pwned} > ../outside/x",
        "cp /dev/null ../outside/x",
        "/bin/rm -f ../outside/x",
        "exec rm -f ../outside/x",
        "setsid rm -f ../outside/x",
        "a[0]=1 rm -f ../outside/x",
        "$(echo rm) -f ../outside/x",
        "git -c alias.x='!rm -f ../outside/x' x",
        "echo 'rm -f ../outside/x' | bash",
        "perl -e 'unlink \"../outside/x\"'",
    };

    [Theory]
    [MemberData(nameof(WritesOutside))]
    public async Task The_kernel_stops_a_write_outside_the_working_directory(string command)
    {
        await Run(command);

        File.ReadAllText(Path.Combine(_p.Outside, "x")).ShouldBe("outside", command);
    }

    public static TheoryData<string> ReadsOfDenied() => new()
    {
        "cat .env", "cat config/.env", "cat .e*", "cat src/lib/../.env", "cat $PWD/.env", "grep -r SECRET .", "tar cf - . | tar xOf - 2>/dev/null",
        "python3 -c \"print(open('.env').read())\"", "cp .env copy && cat copy", "cat ../outside/secret/key", "cat out/secret/key",
        "ln -s .env l && cat l", "ln .env h 2>/dev/null; cat h",
    };

    [Theory]
    [MemberData(nameof(ReadsOfDenied))]
    public async Task The_kernel_stops_a_read_of_what_a_read_deny_covers(string command)
    {
        var result = await Run(command);

        result.Content.ShouldNotContain("hunter2", customMessage: command);
        result.Content.ShouldNotContain("KEY-7f3a9", customMessage: command);
    }

    [Theory]
    [InlineData("echo x >> .git/config")]
    [InlineData("echo x > .git/hooks/pre-commit")]
    [InlineData("echo '{\"permissions\":{\"allow\":[\"Bash\"]}}' > .claude/settings.json")]
    [InlineData("rm -rf .claude")]
    [InlineData("mkdir -p .herd && echo x > .herd/settings.json")]
    public async Task Git_config_hooks_and_settings_stay_read_only(string command)
    {
        await Run(command);

        File.ReadAllText(Path.Combine(_p.Cwd, ".git/config")).ShouldBe("[core]\n");
        File.ReadAllText(Path.Combine(_p.Cwd, ".git/hooks/pre-commit")).ShouldBe("#!/bin/sh\n");
        File.ReadAllText(Path.Combine(_p.Cwd, ".claude/settings.json")).ShouldBe("{}");
        File.Exists(Path.Combine(_p.Cwd, ".herd/settings.json")).ShouldBeFalse();
    }

    [Fact]
    public async Task The_agent_process_is_invisible_so_its_memory_and_environment_cannot_be_read()
    {
        var pid = Environment.ProcessId;

        var result = await Run($"cat /proc/{pid}/environ; kill -0 {pid} && echo visible; ls /proc | grep -c '^[0-9]'");

        result.Content.ShouldNotContain("visible");
        result.Content.ShouldContain("No such file or directory");
        int.Parse(((string)result.Structured!["stdout"]!).Trim()).ShouldBeLessThan(10, "only the sandbox's own processes are listed");
    }

    [Fact]
    public async Task Root_inside_the_sandbox_cannot_unmount_a_mask()
    {
        var result = await Run("umount .env 2>&1; mount -o remount,rw / 2>&1; cat .env");

        result.Content.ShouldNotContain("hunter2");
    }

    [Fact]
    public async Task No_network_mode_reaches_nothing_not_even_the_hosts_loopback()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        var engine = new PermissionEngine(PermissionPolicy.Default);

        var open = await Run($"exec 3<>/dev/tcp/127.0.0.1/{port} && echo connected");
        var closed = await Run($"exec 3<>/dev/tcp/127.0.0.1/{port} && echo connected", Confined(SandboxNetwork.Blocked, engine));

        open.Content.ShouldContain("connected");
        closed.Content.ShouldNotContain("connected");
    }

    [Fact]
    public async Task Normal_work_runs_inside_the_sandbox_temp_files_git_and_edits()
    {
        var result = await Run(
            "set -e; t=$(mktemp); echo tmp > $t; cat $t; echo made > src/new.txt; " +
            "git init -q repo && cd repo && git -c user.email=a@b -c user.name=a commit -q --allow-empty -m init && git status --short && echo git-ok");

        result.IsError.ShouldBeFalse(result.Content);
        result.Content.ShouldContain("tmp");
        result.Content.ShouldContain("git-ok");
        File.ReadAllText(Path.Combine(_p.Cwd, "src/new.txt")).ShouldBe("made\n");
    }

    /// <summary>
    /// A FIFO that a background child holds open for writing: reading it to its end completes exactly when every
    /// writer is gone, so a test waits on the child's death itself rather than on a guess of how long it takes.
    /// </summary>
    private async Task<Task> LifelineAsync(string path)
    {
        using (var mkfifo = Process.Start("mkfifo", path))
            await mkfifo.WaitForExitAsync();
        // Opening a FIFO's read end blocks until a writer opens it: on a thread of its own, so a busy thread pool cannot
        // delay the open past the moment the child is killed.
        return Task.Factory.StartNew(() =>
        {
            using var reader = new FileStream(path, FileMode.Open, FileAccess.Read);
            reader.CopyTo(Stream.Null);
        }, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
    }

    [Fact]
    public async Task Background_children_die_with_the_sandbox()
    {
        // Given a command that leaves a child behind, holding a lifeline and about to write outside its time
        var marker = Path.Combine(_p.Cwd, "late");
        var lifeline = Path.Combine(_p.Cwd, "lifeline");
        var childGone = await LifelineAsync(lifeline);

        // When the command ends
        // (the command waits until the child holds its lifeline: a child killed before it opened it would leave the
        // reader waiting for a writer that never comes)
        var holding = Path.Combine(_p.Cwd, "holding");
        await Run($"(exec 3>{lifeline}; touch {holding}; sleep 20; touch {marker}) & until [ -e {holding} ]; do sleep 0.01; done; echo started");

        // Then the child died with the sandbox: its lifeline closed long before it could have written
        await childGone.WaitAsync(TimeSpan.FromSeconds(10));
        File.Exists(marker).ShouldBeFalse();
    }

    [Fact]
    public async Task A_timed_out_sandboxed_command_leaves_nothing_running()
    {
        var marker = Path.Combine(_p.Cwd, "late");
        var lifeline = Path.Combine(_p.Cwd, "lifeline");
        var holding = Path.Combine(_p.Cwd, "holding");
        var childGone = await LifelineAsync(lifeline);

        var result = await new BashTool().InvokeAsync(TempProject.Input(("command", $"(exec 3>{lifeline}; touch {holding}; sleep 20; touch {marker}) & until [ -e {holding} ]; do sleep 0.01; done; sleep 30"), ("timeout", 3000)), _context);

        result.Content.ShouldStartWith("Command timed out");
        await childGone.WaitAsync(TimeSpan.FromSeconds(10));
        File.Exists(marker).ShouldBeFalse();
    }

    [Fact]
    public async Task The_file_tools_obey_the_same_write_policy_in_process()
    {
        var outside = Path.Combine(_p.Outside, "y");

        var write = await new WriteTool().InvokeAsync(TempProject.Input(("file_path", outside), ("content", "x")), _context);
        var viaLink = await new WriteTool().InvokeAsync(TempProject.Input(("file_path", Path.Combine(_p.Cwd, "out", "z")), ("content", "x")), _context);
        var settings = await new WriteTool().InvokeAsync(TempProject.Input(("file_path", Path.Combine(_p.Cwd, ".claude", "settings.local.json")), ("content", "{}")), _context);
        var inside = await new WriteTool().InvokeAsync(TempProject.Input(("file_path", Path.Combine(_p.Cwd, "ok.txt")), ("content", "x")), _context);

        write.IsError.ShouldBeTrue();
        viaLink.IsError.ShouldBeTrue();
        settings.IsError.ShouldBeTrue();
        inside.IsError.ShouldBeFalse(inside.Content);
        File.Exists(outside).ShouldBeFalse();
    }

    [Fact]
    public async Task The_folder_tools_skip_what_a_read_deny_covers()
    {
        var grep = await new GrepTool().InvokeAsync(TempProject.Input(("pattern", "SECRET"), ("path", ".")), _context);
        var glob = await new GlobTool().InvokeAsync(TempProject.Input(("pattern", "**/.env")), _context);
        var ls = await new LsTool().InvokeAsync(TempProject.Input(("path", _p.Cwd)), _context);
        var read = await new ReadTool().InvokeAsync(TempProject.Input(("file_path", Path.Combine(_p.Cwd, "src", "lib", "..", ".env"))), _context);

        grep.Content.ShouldBe("No files found");
        glob.Content.ShouldBe("No files found");
        ls.Content.ShouldNotContain(".env");
        read.IsError.ShouldBeTrue();
    }
}
