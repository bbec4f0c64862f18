using Herd.Agent.Permissions;
using Herd.Agent.Tools;

namespace Herd.Agent.Tests.Permissions;

/// <summary>Read/Edit path rules, the working-directory boundary, symlinks and modes, on a real temp folder.</summary>
public sealed class PathRuleTests : IDisposable
{
    private readonly TempProject _p = new();

    public void Dispose() => _p.Dispose();

    private PermissionDecision Read(string path, PermissionPolicy policy) =>
        new PermissionEngine(policy).Evaluate(new ReadTool(), TempProject.Input(("file_path", path)), _p.Context);

    private PermissionDecision Write(string path, PermissionPolicy policy) =>
        new PermissionEngine(policy).Evaluate(new WriteTool(), TempProject.Input(("file_path", path), ("content", "x")), _p.Context);

    private static PermissionPolicy Allow(params string[] rules) => new(PermissionMode.Default, rules, [], []);

    public static TheoryData<string> EscapingPaths() => new()
    {
        "/etc/shadow",
        "/etc/passwd",
        "~/.ssh/id_rsa",
        "../secret",
        "src/../../secret",
        "../outside/secret",
        "//etc/passwd",
        "/proc/self/environ",
    };

    [Theory]
    [MemberData(nameof(EscapingPaths))]
    public void Reading_outside_the_working_directory_needs_a_rule(string path)
    {
        var full = path.StartsWith('~') || path.StartsWith('/') ? path : Path.Combine(_p.Cwd, path);

        var decision = Read(full, Allow("Read(./src/**)"));

        decision.IsAllowed.ShouldBeFalse(path);
        decision.Message.ShouldStartWith("Claude requested permissions to read from ");
    }

    [Fact]
    public void Reading_inside_the_working_directory_needs_no_rule_and_add_dir_extends_it()
    {
        Read(Path.Combine(_p.Cwd, "src/a.cs"), PermissionPolicy.Default).IsAllowed.ShouldBeTrue();
        Read(Path.Combine(_p.Outside, "x"), PermissionPolicy.Default).IsAllowed.ShouldBeFalse();
        var withDir = new PermissionEngine(PermissionPolicy.Default).Evaluate(new ReadTool(),
            TempProject.Input(("file_path", Path.Combine(_p.Outside, "x"))), new ToolContext(_p.Cwd, [_p.Outside]));
        withDir.IsAllowed.ShouldBeTrue();
        Read(Path.Combine(_p.Outside, "x"), PermissionPolicy.Default with { AdditionalDirectories = [_p.Outside] }).IsAllowed.ShouldBeTrue();
    }

    [Fact]
    public void Encoded_or_backslashed_tricks_stay_literal_names_inside_the_project()
    {
        // On Linux these are ordinary file names below the cwd; the tool and the engine resolve them the same way.
        foreach (var odd in new[] { "%2e%2e/%2e%2e/etc/passwd", "..\\..\\etc\\passwd" })
        {
            var resolved = _p.Context.ResolvePath(odd);
            resolved.ShouldStartWith(_p.Cwd + "/");
            Read(resolved, Allow()).IsAllowed.ShouldBeTrue();
        }
    }

    [Fact]
    public void A_symlink_inside_src_pointing_outside_is_denied()
    {
        var secret = Path.Combine(_p.Outside, "secret.txt");
        File.WriteAllText(secret, "s");
        Directory.CreateDirectory(Path.Combine(_p.Cwd, "src"));
        File.CreateSymbolicLink(Path.Combine(_p.Cwd, "src", "link.txt"), secret);
        Directory.CreateSymbolicLink(Path.Combine(_p.Cwd, "src", "linkdir"), _p.Outside);

        Read(Path.Combine(_p.Cwd, "src", "link.txt"), Allow("Read(./src/**)")).IsAllowed.ShouldBeFalse();
        Read(Path.Combine(_p.Cwd, "src", "linkdir", "secret.txt"), Allow("Read(./src/**)")).IsAllowed.ShouldBeFalse();
        Read(Path.Combine(_p.Cwd, "src", "link.txt"), PermissionPolicy.Default).IsAllowed.ShouldBeFalse();
        var bash = new PermissionEngine(Allow("Read(./src/**)")).EvaluateBash("cat src/link.txt", _p.Context);
        bash.IsAllowed.ShouldBeFalse();
        // With both the link and its target covered by rules, the read is allowed.
        Read(Path.Combine(_p.Cwd, "src", "link.txt"), Allow("Read(./src/**)", $"Read(/{_p.Outside}/**)")).IsAllowed.ShouldBeTrue();
    }

    [Fact]
    public void A_deny_rule_fires_when_either_the_link_or_its_target_matches()
    {
        _p.Write(".env", "KEY=1");
        File.CreateSymbolicLink(Path.Combine(_p.Cwd, "harmless.txt"), Path.Combine(_p.Cwd, ".env"));
        var policy = new PermissionPolicy(PermissionMode.Default, [], ["Read(.env)"], []);

        var direct = Read(Path.Combine(_p.Cwd, ".env"), policy);
        direct.IsAllowed.ShouldBeFalse();
        direct.Message.ShouldBe($"Permission to read {Path.Combine(_p.Cwd, ".env")} has been denied.");
        Read(Path.Combine(_p.Cwd, "harmless.txt"), policy).IsAllowed.ShouldBeFalse();
        Read(Path.Combine(_p.Cwd, "deep", "er", ".env"), policy).IsAllowed.ShouldBeFalse();
        Read(Path.Combine(_p.Cwd, "other.txt"), policy).IsAllowed.ShouldBeTrue();
        new PermissionEngine(policy).EvaluateBash("cat .env", _p.Context).IsAllowed.ShouldBeFalse();
        var withRule = new PermissionEngine(policy with { Allow = ["Bash(git diff *)"] });
        withRule.EvaluateBash("git diff --no-index .env /dev/null", _p.Context).IsAllowed.ShouldBeFalse();
        withRule.EvaluateBash("git diff --no-index harmless.txt /dev/null", _p.Context).IsAllowed.ShouldBeFalse("the link's target is .env");
        withRule.EvaluateBash("git diff --no-index other.txt /dev/null", _p.Context).IsAllowed.ShouldBeTrue();
    }

    [Fact]
    public void A_read_deny_also_blocks_edits_even_in_accept_edits()
    {
        var policy = new PermissionPolicy(PermissionMode.AcceptEdits, [], ["Read(secrets/**)"], []);

        Write(Path.Combine(_p.Cwd, "secrets", "k"), policy).IsAllowed.ShouldBeFalse();
        Write(Path.Combine(_p.Cwd, "a", "secrets", "k"), policy).IsAllowed.ShouldBeFalse();
        Write(Path.Combine(_p.Cwd, "notes.txt"), policy).IsAllowed.ShouldBeTrue();
    }

    [Fact]
    public void Edits_follow_the_mode_and_edit_rules()
    {
        var inside = Path.Combine(_p.Cwd, "src", "a.cs");
        var outside = Path.Combine(_p.Outside, "a.cs");

        var denied = Write(inside, PermissionPolicy.Default);
        denied.IsAllowed.ShouldBeFalse();
        denied.Message.ShouldBe($"Claude requested permissions to write to {inside}, but you haven't granted it yet.");
        Write(inside, PermissionPolicy.Default with { Mode = PermissionMode.AcceptEdits }).IsAllowed.ShouldBeTrue();
        Write(outside, PermissionPolicy.Default with { Mode = PermissionMode.AcceptEdits }).IsAllowed.ShouldBeFalse();
        // Measured against Claude Code 2.1.332 (docs/permissions.md, RuleScopeTests): Edit(path) approves Write, a
        // Write(path) rule approves nothing, a bare Write approves Write anywhere, Write(*) inside the working directories.
        Write(inside, Allow("Edit(src/**)")).IsAllowed.ShouldBeTrue();
        Write(Path.Combine(_p.Cwd, "lib", "src", "a.cs"), Allow("Edit(src/**)")).IsAllowed.ShouldBeFalse();
        Write(inside, Allow("Write(src/**)")).IsAllowed.ShouldBeFalse();
        Write(inside, Allow("Write")).IsAllowed.ShouldBeTrue();
        Write(outside, Allow("Write")).IsAllowed.ShouldBeTrue();
        Write(inside, Allow("Write(*)")).IsAllowed.ShouldBeTrue();
        Write(outside, Allow("Write(*)")).IsAllowed.ShouldBeFalse();
        Write(inside, Allow("Edit")).IsAllowed.ShouldBeFalse();
        Write(inside, PermissionPolicy.Default with { Mode = PermissionMode.Plan }).IsAllowed.ShouldBeFalse();
        Write(outside, PermissionPolicy.Default with { Mode = PermissionMode.BypassPermissions }).IsAllowed.ShouldBeTrue();
        Write(outside, Allow($"Write(/{_p.Outside}/*.cs)")).IsAllowed.ShouldBeFalse();
        Write(outside, Allow($"Edit(/{_p.Outside}/*.cs)")).IsAllowed.ShouldBeTrue();
    }

    [Theory]
    [InlineData(".git/config")]
    [InlineData(".git/hooks/pre-commit")]
    [InlineData(".claude/settings.json")]
    [InlineData(".herd/settings.local.json")]
    public void Protected_paths_are_not_edited_by_any_mode(string relative)
    {
        var path = Path.Combine(_p.Cwd, relative);

        Write(path, PermissionPolicy.Default with { Mode = PermissionMode.AcceptEdits }).IsAllowed.ShouldBeFalse();
        Write(path, PermissionPolicy.Default with { Mode = PermissionMode.BypassPermissions }).IsAllowed.ShouldBeFalse();
        Write(path, Allow("Edit")).IsAllowed.ShouldBeFalse();
    }

    [Fact]
    public void Bypass_mode_still_honours_deny_and_ask_rules()
    {
        var policy = new PermissionPolicy(PermissionMode.BypassPermissions, [], ["Read(//etc/**)"], ["Edit(./docs/**)"]);

        Read("/etc/hostname", policy).IsAllowed.ShouldBeFalse();
        Write(Path.Combine(_p.Cwd, "docs", "x.md"), policy).IsAllowed.ShouldBeFalse();
        Read("/usr/share/x", policy).IsAllowed.ShouldBeTrue();
    }

    [Fact]
    public void Anchors_resolve_as_documented()
    {
        var home = ToolContext.Home;
        var engine = new PermissionEngine(Allow("Read(~/notes/**)", "Read(//opt/data/*.csv)"));

        engine.Evaluate(new ReadTool(), TempProject.Input(("file_path", Path.Combine(home, "notes", "a", "b.txt"))), _p.Context).IsAllowed.ShouldBeTrue();
        engine.Evaluate(new ReadTool(), TempProject.Input(("file_path", "/opt/data/x.csv")), _p.Context).IsAllowed.ShouldBeTrue();
        engine.Evaluate(new ReadTool(), TempProject.Input(("file_path", "/opt/data/sub/x.csv")), _p.Context).IsAllowed.ShouldBeFalse();
        // "/path" in a settings file is anchored at the file's root, not the filesystem root.
        var rule = PermissionRule.Parse("Read(/shared/**)", RuleBehavior.Allow, new RuleSource("project settings", "x", _p.Outside));
        var settingsEngine = new PermissionEngine(PermissionPolicy.Default with { Rules = [rule] });
        settingsEngine.Evaluate(new ReadTool(), TempProject.Input(("file_path", Path.Combine(_p.Outside, "shared", "f"))), _p.Context).IsAllowed.ShouldBeTrue();
        settingsEngine.Evaluate(new ReadTool(), TempProject.Input(("file_path", "/shared/f")), _p.Context).IsAllowed.ShouldBeFalse();
    }

    [Fact]
    public void Glob_grep_and_ls_are_checked_on_the_folder_they_read()
    {
        var engine = new PermissionEngine(PermissionPolicy.Default);

        engine.Evaluate(new GlobTool(), TempProject.Input(("pattern", "**/*.cs")), _p.Context).IsAllowed.ShouldBeTrue();
        engine.Evaluate(new GlobTool(), TempProject.Input(("pattern", "/etc/*")), _p.Context).IsAllowed.ShouldBeFalse();
        engine.Evaluate(new GlobTool(), TempProject.Input(("pattern", "*"), ("path", _p.Outside)), _p.Context).IsAllowed.ShouldBeFalse();
        engine.Evaluate(new GrepTool(), TempProject.Input(("pattern", "x"), ("path", "/etc")), _p.Context).IsAllowed.ShouldBeFalse();
        engine.Evaluate(new GrepTool(), TempProject.Input(("pattern", "x")), _p.Context).IsAllowed.ShouldBeTrue();
        engine.Evaluate(new LsTool(), TempProject.Input(("path", "/")), _p.Context).IsAllowed.ShouldBeFalse();
        engine.Evaluate(new LsTool(), TempProject.Input(("path", _p.Cwd)), _p.Context).IsAllowed.ShouldBeTrue();
    }

    [Fact]
    public void Bare_deny_rules_remove_tools_and_mcp_patterns_match_servers()
    {
        var engine = new PermissionEngine(new PermissionPolicy(PermissionMode.Default, [], ["Bash", "mcp__github"], []));

        engine.IsToolListed("Bash").ShouldBeFalse();
        engine.IsToolListed("Read").ShouldBeTrue();
        engine.IsToolListed("mcp__github__create_issue").ShouldBeFalse();
        engine.IsToolListed("mcp__gitlab__x").ShouldBeTrue();
        new PermissionEngine(new PermissionPolicy(PermissionMode.Default, [], ["Bash(rm *)"], [])).IsToolListed("Bash").ShouldBeTrue();
    }

    [Theory]
    [InlineData("Bash(git diff *)", "Bash", "git diff *")]
    [InlineData("Bash(echo \\(hi\\))", "Bash", "echo (hi)")]
    [InlineData("Bash(echo (a) (b))", "Bash", "echo (a) (b)")]
    [InlineData("Read", "Read", null)]
    public void Rules_parse_to_tool_and_specifier(string text, string tool, string? specifier)
    {
        var rule = PermissionRule.Parse(text, RuleBehavior.Allow, RuleSource.Cli);
        rule.ToolName.ShouldBe(tool);
        rule.Specifier.ShouldBe(specifier);
    }

    [Theory]
    [InlineData("Bash(git diff")]
    [InlineData("(x)")]
    [InlineData("Bash()")]
    [InlineData("Read)")]
    public void Malformed_rules_are_rejected(string text)
    {
        Should.Throw<FormatException>(() => PermissionRule.Parse(text, RuleBehavior.Allow, RuleSource.Cli));
    }
}
