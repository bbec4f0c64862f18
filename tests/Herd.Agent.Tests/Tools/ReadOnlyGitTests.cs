using System.Diagnostics;
using Herd.Agent.Permissions;
using Herd.Agent.Sandbox;
using Herd.Agent.Tools;

namespace Herd.Agent.Tests.Tools;

/// <summary>
/// Issue #19, class 4, with real git: a command the engine approves as read-only git runs none of the code a
/// repository's config can name (filesystem monitor, pager, hooks), with and without the sandbox.
/// </summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed class ReadOnlyGitTests : IDisposable
{
    private readonly TempProject _p = new();

    public void Dispose() => _p.Dispose();

    private void Git(params string[] args)
    {
        var psi = new ProcessStartInfo("git") { WorkingDirectory = _p.Cwd, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args)
            psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        p.WaitForExit();
        p.ExitCode.ShouldBe(0, p.StandardError.ReadToEnd());
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Approved_read_only_git_starts_no_fsmonitor_pager_or_hook_the_config_names(bool sandbox)
    {
        // Given a repository whose config names programs git would run during status, diff and log
        var marker = Path.Combine(_p.Cwd, "ran");
        Git("init", "-q");
        _p.Write("a.txt", "one\n");
        Git("add", "a.txt");
        Git("-c", "user.email=t@t", "-c", "user.name=t", "commit", "-qm", "one");
        _p.Write("a.txt", "two\n");
        var hook = _p.Write("hook.sh", $"#!/bin/sh\necho \"$0\" >> {marker}\n");
        File.SetUnixFileMode(hook, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        Directory.CreateDirectory(Path.Combine(_p.Cwd, "hooks"));
        File.Copy(hook, Path.Combine(_p.Cwd, "hooks", "post-index-change"));
        File.SetUnixFileMode(Path.Combine(_p.Cwd, "hooks", "post-index-change"), UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        Git("config", "core.fsmonitor", hook);
        Git("config", "core.pager", hook);
        Git("config", "core.hooksPath", Path.Combine(_p.Cwd, "hooks"));
        var context = sandbox ? new ToolContext(_p.Cwd) { Sandbox = new SandboxOptions() } : new ToolContext(_p.Cwd);
        var engine = new PermissionEngine(PermissionPolicy.Default);

        foreach (var command in new[] { "git status", "git diff", "git log -p", "git -C . status --short" })
        {
            // When the engine approves the command and the Bash tool runs it
            var input = TempProject.Input(("command", command));
            engine.Evaluate(new BashTool(), input, context).IsAllowed.ShouldBeTrue(command);
            var result = await new BashTool().InvokeAsync(input, context);

            // Then git did its work, and none of the programs ran
            result.IsError.ShouldBeFalse(command + ": " + result.Content);
            File.Exists(marker).ShouldBeFalse($"{command} ran {(File.Exists(marker) ? File.ReadAllText(marker) : "")}");
        }

        // (control: the same config does run them outside an approved read-only command)
        var plain = await new BashTool().InvokeAsync(TempProject.Input(("command", "touch a.txt; git status > /dev/null")), new ToolContext(_p.Cwd));
        plain.IsError.ShouldBeFalse(plain.Content);
        File.Exists(marker).ShouldBeTrue("the control run should have started the fsmonitor or hook");
    }
}
