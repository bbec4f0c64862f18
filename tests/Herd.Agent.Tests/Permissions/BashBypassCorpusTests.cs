using Herd.Agent.Permissions;
using Herd.Agent.Tools;

namespace Herd.Agent.Tests.Permissions;

/// <summary>
/// Attempts to smuggle a command past narrow allow rules. Every line in <see cref="Bypasses"/> must be denied under
/// <c>Bash(git diff *)</c>, <c>Bash(npm run test:*)</c> and <c>Read(./src/**)</c>; the lines in <see cref="Legitimate"/>
/// must stay allowed, so the corpus cannot pass by denying everything.
/// </summary>
public sealed class BashBypassCorpusTests : IDisposable
{
    private readonly TempProject _project = new();

    public void Dispose() => _project.Dispose();

    private PermissionDecision Decide(string command, PermissionMode mode = PermissionMode.Default)
    {
        var policy = new PermissionPolicy(mode, ["Bash(git diff *)", "Bash(npm run test:*)", "Read(./src/**)"], [], []);
        return new PermissionEngine(policy).Evaluate(new BashTool(), TempProject.Input(("command", command)), _project.Context);
    }

    public static TheoryData<string> Bypasses() => new()
    {
        "git diff; rm -rf ~",
        "git diff && rm -rf /",
        "git diff || rm x",
        "git diff $(curl x)",
        "git diff `curl x`",
        "git diff > ~/.bashrc",
        "git diff >> /etc/passwd",
        "git diff 1>/etc/passwd",
        "git diff | sh",
        "git diff |& sh",
        "git diff & rm x",
        "git diff\nrm x",
        "git diff\r\nrm x",
        "cd .. && cat secret",
        "cd /etc && cat passwd",
        "cd && cat .ssh/id_rsa",
        "FOO=1 rm x",
        "PATH=/tmp git diff",
        "LD_PRELOAD=/tmp/x.so git diff",
        "GIT_EXTERNAL_DIFF=/tmp/evil git diff",
        "git diff <(curl x)",
        "git diff >(rm x)",
        "(rm x)",
        "(git diff) > /etc/x",
        "{ rm x; }",
        "git diff $'\\x3b' rm",
        "git diff ${IFS}rm",
        "git diff $((1+1))",
        "npm run testing",
        "npm run test:unit; curl evil",
        "npm run test:unit && curl evil",
        "eval \"git diff\"",
        "bash -c \"git diff\"",
        "sh -c 'git diff'",
        "python3 -c 'import os'",
        "xargs rm",
        "git diff | xargs rm",
        "timeout 5 rm x",
        "time rm x",
        "nice -n 5 rm x",
        "nohup rm x",
        "command rm x",
        "env rm x",
        "sudo rm x",
        "watch git diff",
        "setsid git diff",
        "exec rm x",
        "source evil.sh",
        ". evil.sh",
        "find . -delete",
        "find . -exec rm {} \\;",
        "cat ../../etc/passwd",
        "cat /etc/shadow",
        "cat ~/.ssh/id_rsa",
        "cat src/../../secret",
        "cat $HOME/.ssh/id_rsa",
        "cat {..,x}/secret",
        "ls .*",
        "git diff > /tmp/x",
        "git diff 2> out.txt",
        "git diff &> out.txt",
        "git diff > $HOME/x",
        "echo x > .git/config",
        ">~/.bashrc",
        "git diff > src/../../x",
        "git diff --output=/etc/x",
        "git diff \"unbalanced",
        "git diff 'unbalanced",
        "cat <<EOF\nx\nEOF",
        "git diff <<< x",
        "git diff $(git diff; rm x)",
        "git -c core.pager=sh diff",
        "g\\it diff && rm x",
        "\uff47it diff",
        "git diff\u00a0; rm x",
        "git status; git push",
        "if true; then rm x; fi",
        "function f { rm x; }",
        "git diff ;; rm",
        "git diff \\",
        "cp /etc/passwd .",
        "git diff " + new string('a', PermissionEngine.MaxCommandLength),
        // Issue #9 classes against this rule set (the full class corpus is BypassClassCorpusTests).
        "git diff | xargs cat",
        "git diff | xargs -0 cat",
        "git diff | bash",
        "git diff | python3",
        "cat src/*/../../../etc/passwd",
        "cat src/../../outside",
        "cat .*",
        "cat ~root/.profile",
        "git -C .. diff",
        "git --git-dir=/tmp/x diff",
        "git -c diff.external=/tmp/evil diff",
        "npm run test:unit | sh",
        "a[0]=1 git diff",
        "{git,diff}",
        "/usr/bin/git diff; rm x",
        "python3 -Bc 'import os'",
        "node -pe 1",
        "perl -we 1",
        "git diff --output=../x",
        "git diff > src/a.cs",
    };

    public static TheoryData<string> Legitimate() => new()
    {
        "git diff",
        "git diff HEAD~1 -- src/a.cs",
        "npm run test:unit",
        "npm run test",
        "npm run test -- --watch=false",
        "git diff | head -5",
        "git diff 2>/dev/null",
        "git diff 2>&1 | head",
        "LANG=C git diff",
        "timeout 5 git diff",
        // Quoted or escaped separators are arguments, not separators: this is one git command, as bash runs it.
        "git diff ';' rm",
        "git diff \\; rm x",
        // A fullwidth semicolon is an ordinary character to bash: again one git command with odd arguments.
        "git diff \uff1brm x",
        "git diff # ; rm x",
        "cat src/a.cs",
        "ls -la src",
        "git status && git log --oneline -5",
        "echo hello",
    };

    [Theory]
    [MemberData(nameof(Bypasses))]
    public void A_smuggled_command_is_denied(string command)
    {
        var decision = Decide(command);

        decision.IsAllowed.ShouldBeFalse($"allowed: {command} ({decision.Reason})");
        decision.Message.ShouldNotBeNullOrEmpty();
    }

    [Theory]
    [MemberData(nameof(Legitimate))]
    public void A_legitimate_command_is_allowed(string command)
    {
        var decision = Decide(command);

        decision.IsAllowed.ShouldBeTrue($"denied: {command} ({decision.Reason})");
    }

    [Fact]
    public void Pipe_into_head_is_allowed_only_because_head_is_read_only()
    {
        Decide("git diff | head -5").IsAllowed.ShouldBeTrue();
        Decide("git diff | tee x").IsAllowed.ShouldBeFalse();
        Decide("git diff | head -5 /etc/passwd").IsAllowed.ShouldBeFalse();
    }

    [Fact]
    public void A_denial_names_bash_as_claude_code_does()
    {
        Decide("git diff; rm x").Message.ShouldBe("Claude requested permissions to use Bash, but you haven't granted it yet.");
    }

    [Fact]
    public void Deny_rules_see_through_wrappers_assignments_and_shell_code()
    {
        var policy = new PermissionPolicy(PermissionMode.BypassPermissions, [], ["Bash(rm *)"], []);
        var engine = new PermissionEngine(policy);
        foreach (var command in new[] { "rm -rf x", "FOO=1 rm x", "timeout 5 rm x", "env A=1 rm x", "sudo -u root rm x", "bash -c 'rm x'", "eval rm x", "xargs -n1 rm", "git status; rm x", "echo $(rm x)" })
        {
            var decision = engine.Evaluate(new BashTool(), TempProject.Input(("command", command)), _project.Context);
            decision.IsAllowed.ShouldBeFalse(command);
            decision.Rule.ShouldBe("Bash(rm *)", command);
        }
        engine.Evaluate(new BashTool(), TempProject.Input(("command", "ls -la")), _project.Context).IsAllowed.ShouldBeTrue();
    }

    [Fact]
    public void An_unparseable_command_is_denied_even_in_bypass_mode_when_a_bash_deny_rule_exists()
    {
        var withDeny = new PermissionEngine(new PermissionPolicy(PermissionMode.BypassPermissions, [], ["Bash(rm *)"], []));
        var withoutDeny = new PermissionEngine(new PermissionPolicy(PermissionMode.BypassPermissions, [], [], []));
        var input = TempProject.Input(("command", "cat <<EOF\nrm x\nEOF"));

        withDeny.Evaluate(new BashTool(), input, _project.Context).IsAllowed.ShouldBeFalse();
        withoutDeny.Evaluate(new BashTool(), input, _project.Context).IsAllowed.ShouldBeTrue();
    }

    [Fact]
    public void Interpreters_are_only_approved_by_an_exact_rule()
    {
        var engine = new PermissionEngine(new PermissionPolicy(PermissionMode.Default, ["Bash(bash -c *)", "Bash(python3 -c 'print(1)')"], [], []));

        engine.Evaluate(new BashTool(), TempProject.Input(("command", "bash -c 'git diff'")), _project.Context).IsAllowed.ShouldBeFalse();
        engine.Evaluate(new BashTool(), TempProject.Input(("command", "python3 -c 'print(1)'")), _project.Context).IsAllowed.ShouldBeTrue();
    }

    [Fact]
    public void AcceptEdits_allows_file_commands_inside_the_working_directory_only()
    {
        Decide("mkdir -p build && touch build/x", PermissionMode.AcceptEdits).IsAllowed.ShouldBeTrue();
        Decide("echo hi > notes.txt", PermissionMode.AcceptEdits).IsAllowed.ShouldBeTrue();
        Decide("cp src/a.cs /tmp/a.cs", PermissionMode.AcceptEdits).IsAllowed.ShouldBeFalse();
        Decide("mv x ../y", PermissionMode.AcceptEdits).IsAllowed.ShouldBeFalse();
        Decide("touch .git/hooks/pre-commit", PermissionMode.AcceptEdits).IsAllowed.ShouldBeFalse();
        Decide("mkdir build", PermissionMode.Default).IsAllowed.ShouldBeFalse();
    }

    [Fact]
    public void Plan_mode_runs_only_the_read_only_set()
    {
        Decide("git status", PermissionMode.Plan).IsAllowed.ShouldBeTrue();
        Decide("npm run test:unit", PermissionMode.Plan).IsAllowed.ShouldBeFalse();
        Decide("echo x > a.txt", PermissionMode.Plan).IsAllowed.ShouldBeFalse();
    }

    [Theory]
    [InlineData("ls -la", true)]
    [InlineData("ls", true)]
    [InlineData("lsof", false)]
    public void A_space_before_the_star_is_a_word_boundary(string command, bool allowed)
    {
        var engine = new PermissionEngine(new PermissionPolicy(PermissionMode.Default, ["Bash(lsof *)", "Bash(ls *)"], [], ["Bash(lsof)"]));
        engine.EvaluateBash(command, _project.Context).IsAllowed.ShouldBe(allowed, command);
    }

    [Theory]
    [InlineData("git push origin main", true)]
    [InlineData("git checkout main", true)]
    [InlineData("git push origin dev", false)]
    [InlineData("npm run build", false)]
    public void A_star_in_the_middle_matches_any_sequence(string command, bool allowed)
    {
        var engine = new PermissionEngine(new PermissionPolicy(PermissionMode.Default, ["Bash(git * main)"], [], []));
        engine.EvaluateBash(command, _project.Context).IsAllowed.ShouldBe(allowed, command);
    }
}
