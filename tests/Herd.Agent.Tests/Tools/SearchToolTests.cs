using Herd.Agent.Tools;

namespace Herd.Agent.Tests.Tools;

public sealed class SearchToolTests : IDisposable
{
    private readonly TempProject _p = new();

    public SearchToolTests()
    {
        var old = _p.Write("src/old.cs", "class Old { }\n// TODO: remove\n");
        File.SetLastWriteTimeUtc(old, DateTime.UtcNow.AddHours(-2));
        var neu = _p.Write("src/new.cs", "class New {\n  int a;\n  // todo later\n  int b;\n}\n");
        File.SetLastWriteTimeUtc(neu, DateTime.UtcNow.AddHours(-1));
        _p.Write("web/app.ts", "const todo = 1;\n");
        _p.Write(".git/HEAD", "TODO in git\n");
        File.WriteAllBytes(Path.Combine(_p.Cwd, "src", "blob.bin"), [84, 79, 68, 79, 0, 1]);
    }

    public void Dispose() => _p.Dispose();

    private Task<ToolResult> Grep(params (string, object?)[] input) => new GrepTool().InvokeAsync(TempProject.Input(input), _p.Context);

    [Fact]
    public async Task Glob_lists_matches_oldest_first_relative_to_the_working_directory_as_claude_code_does()
    {
        var result = await new GlobTool().InvokeAsync(TempProject.Input(("pattern", "**/*.cs")), _p.Context);

        result.Content.Split('\n').ShouldBe(["src/old.cs", "src/new.cs"]);
        (await new GlobTool().InvokeAsync(TempProject.Input(("pattern", "**/*s")), _p.Context)).Content.Split('\n')[^1].ShouldBe("web/app.ts");
        (await new GlobTool().InvokeAsync(TempProject.Input(("pattern", "*.ts"), ("path", Path.Combine(_p.Cwd, "web"))), _p.Context)).Content
            .ShouldBe("web/app.ts");
        (await new GlobTool().InvokeAsync(TempProject.Input(("pattern", "*.cs"), ("path", Path.Combine(_p.Cwd, "src"))), new ToolContext(Path.Combine(_p.Cwd, "web"))))
            .Content.Split('\n')[0].ShouldBe(Path.Combine(_p.Cwd, "src/old.cs"), "outside the working directory paths stay absolute");
        (await new GlobTool().InvokeAsync(TempProject.Input(("pattern", "**/*.{ts,cs}")), _p.Context)).Content.Split('\n').Length.ShouldBe(3);
        (await new GlobTool().InvokeAsync(TempProject.Input(("pattern", "*.nothing")), _p.Context)).Content.ShouldBe("No files found");
        (await new GlobTool().InvokeAsync(TempProject.Input(("pattern", "../**")), _p.Context)).IsError.ShouldBeTrue();
    }

    [Fact]
    public async Task Grep_lists_files_with_matches_by_default_and_skips_git_and_binary_files()
    {
        var result = await Grep(("pattern", "TODO"), ("-i", true));

        result.Content.ShouldBe("Found 3 files\nweb/app.ts\nsrc/new.cs\nsrc/old.cs");
        result.Content.ShouldNotContain(".git");
        result.Content.ShouldNotContain("blob.bin");
    }

    [Fact]
    public async Task Grep_content_mode_prints_line_numbers_and_context()
    {
        var file = Path.Combine(_p.Cwd, "src/new.cs");

        var result = await Grep(("pattern", "todo"), ("path", file), ("output_mode", "content"), ("-C", 1));

        result.Content.ShouldBe("2-  int a;\n3:  // todo later\n4-  int b;");
        (await Grep(("pattern", "int"), ("glob", "*.cs"), ("output_mode", "content"))).Content
            .ShouldBe("src/new.cs:2:  int a;\nsrc/new.cs:4:  int b;");
    }

    [Fact]
    public async Task Grep_counts_filters_by_type_and_honours_head_limit()
    {
        (await Grep(("pattern", "int"), ("output_mode", "count"))).Content.ShouldStartWith("src/new.cs:2");
        (await Grep(("pattern", "todo"), ("type", "ts"))).Content.ShouldBe("Found 1 file\nweb/app.ts");
        var limited = await Grep(("pattern", "."), ("output_mode", "content"), ("head_limit", 2));
        limited.Content.Split('\n').Take(2).All(l => l.Contains(':')).ShouldBeTrue();
        limited.Content.ShouldContain("limit: 2");
        (await Grep(("pattern", "zzz"))).Content.ShouldBe("No files found");
    }

    [Fact]
    public async Task Grep_rejects_backtracking_only_constructs_instead_of_hanging()
    {
        var result = await Grep(("pattern", "(a+)+\\1"));

        result.IsError.ShouldBeTrue();
        result.Content.ShouldContain("Invalid regex");
    }

    [Fact]
    public async Task Grep_multiline_matches_across_lines()
    {
        var result = await Grep(("pattern", "a;\\s+// todo"), ("multiline", true), ("output_mode", "content"), ("path", Path.Combine(_p.Cwd, "src/new.cs")));

        result.Content.ShouldBe("2:  int a;\n3:  // todo later");
    }

    [Fact]
    public async Task LS_lists_a_tree_without_hidden_entries()
    {
        var result = await new LsTool().InvokeAsync(TempProject.Input(("path", _p.Cwd)), _p.Context);

        result.Content.ShouldBe($"- {_p.Cwd}/\n  - src/\n    - blob.bin\n    - new.cs\n    - old.cs\n  - web/\n    - app.ts");
        (await new LsTool().InvokeAsync(TempProject.Input(("path", _p.Cwd)), _p.Context)).Content.ShouldNotContain(".git");
    }
}
