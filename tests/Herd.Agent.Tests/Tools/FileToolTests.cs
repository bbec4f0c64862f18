using System.Text;
using Herd.Agent.Tools;

namespace Herd.Agent.Tests.Tools;

/// <summary>Read, Write and Edit on real files, including the read-before-write rules and exact error texts (spec §10.3).</summary>
public sealed class FileToolTests : IDisposable
{
    private readonly TempProject _p = new();

    public void Dispose() => _p.Dispose();

    private Task<ToolResult> Read(string path, int? offset = null, int? limit = null) =>
        new ReadTool().InvokeAsync(TempProject.Input(("file_path", path), ("offset", offset), ("limit", limit)), _p.Context);

    private Task<ToolResult> Edit(string path, string oldString, string newString, bool replaceAll = false) =>
        new EditTool().InvokeAsync(TempProject.Input(("file_path", path), ("old_string", oldString), ("new_string", newString), ("replace_all", replaceAll)), _p.Context);

    private Task<ToolResult> Write(string path, string content) =>
        new WriteTool().InvokeAsync(TempProject.Input(("file_path", path), ("content", content)), _p.Context);

    [Fact]
    public async Task Read_numbers_lines_like_claude_code_2_1_332()
    {
        var path = _p.Write("a.txt", "hi there\n");

        var result = await Read(path);

        result.IsError.ShouldBeFalse();
        result.Content.ShouldBe("1\thi there\n2\t");
    }

    [Fact]
    public async Task Read_honours_offset_and_limit_and_the_default_of_2000_lines()
    {
        var path = _p.Write("many.txt", string.Join('\n', Enumerable.Range(1, 2500).Select(i => $"line {i}")));

        (await Read(path, offset: 10, limit: 2)).Content.ShouldBe("10\tline 10\n11\tline 11");
        var all = (await Read(path)).Content.Split('\n');
        all.Length.ShouldBe(2000);
        all[^1].ShouldBe("2000\tline 2000");
        (await Read(path, offset: 3000)).Content.ShouldContain("shorter than the provided offset");
    }

    [Fact]
    public async Task Read_cuts_long_lines_and_refuses_binary_files_and_explains_images()
    {
        var longLine = _p.Write("long.txt", new string('x', 5000));
        var binary = Path.Combine(_p.Cwd, "b.bin");
        File.WriteAllBytes(binary, [1, 2, 0, 3]);
        var image = Path.Combine(_p.Cwd, "p.png");
        File.WriteAllBytes(image, [0x89, 0x50, 0x4E, 0x47, 0]);

        (await Read(longLine)).Content.Length.ShouldBeLessThan(2100);
        var bin = await Read(binary);
        bin.IsError.ShouldBeTrue();
        bin.Content.ShouldContain("binary");
        (await Read(image)).Content.ShouldContain("image/png");
        (await Read(Path.Combine(_p.Cwd, "missing.txt"))).Content.ShouldBe("<tool_use_error>File does not exist.</tool_use_error>");
        (await Read(_p.Write("empty.txt", ""))).Content.ShouldContain("contents are empty");
    }

    [Fact]
    public async Task Edit_requires_a_prior_read_and_an_unchanged_file()
    {
        var path = _p.Write("a.cs", "int x = 1;\n");

        (await Edit(path, "1", "2")).Content.ShouldBe("<tool_use_error>File has not been read yet. Read it first before writing to it.</tool_use_error>");
        await Read(path);
        File.WriteAllText(path, "int x = 5;\n");
        File.SetLastWriteTimeUtc(path, DateTime.UtcNow.AddMinutes(1));
        (await Edit(path, "5", "6")).Content.ShouldBe("<tool_use_error>File has been modified since read, either by the user or by a linter.</tool_use_error>");
    }

    [Fact]
    public async Task Edit_replaces_a_unique_match_and_a_second_edit_works_without_rereading()
    {
        var path = _p.Write("a.cs", "alpha beta gamma\n");
        await Read(path);

        (await Edit(path, "beta", "BETA")).IsError.ShouldBeFalse();
        (await Edit(path, "gamma", "GAMMA")).IsError.ShouldBeFalse();

        File.ReadAllText(path).ShouldBe("alpha BETA GAMMA\n");
    }

    [Fact]
    public async Task Edit_reports_missing_ambiguous_and_identical_strings_with_claude_codes_texts()
    {
        var path = _p.Write("a.cs", "x x x");
        await Read(path);

        (await Edit(path, "y", "z")).Content.ShouldBe("<tool_use_error>String to replace not found in file.\nString: y</tool_use_error>");
        (await Edit(path, "x", "z")).Content.ShouldBe(
            "<tool_use_error>Found 3 matches of the string to replace, but replace_all is false. To replace all occurrences, set replace_all to true. " +
            "To replace only one occurrence, please provide more context to uniquely identify the instance.\nString: x</tool_use_error>");
        (await Edit(path, "x", "x")).IsError.ShouldBeTrue();
        (await Edit(path, "x", "z", replaceAll: true)).IsError.ShouldBeFalse();
        File.ReadAllText(path).ShouldBe("z z z");
    }

    [Fact]
    public async Task Edit_preserves_crlf_line_endings_and_a_utf8_bom()
    {
        var path = Path.Combine(_p.Cwd, "win.txt");
        File.WriteAllBytes(path, [.. new UTF8Encoding(true).GetPreamble(), .. Encoding.UTF8.GetBytes("one\r\ntwo\r\nthree\r\n")]);
        await Read(path);

        (await Edit(path, "one\ntwo", "uno\ndos")).IsError.ShouldBeFalse();

        var bytes = File.ReadAllBytes(path);
        bytes[..3].ShouldBe(new byte[] { 0xEF, 0xBB, 0xBF });
        Encoding.UTF8.GetString(bytes[3..]).ShouldBe("uno\r\ndos\r\nthree\r\n");
    }

    [Fact]
    public async Task Write_creates_parent_folders_but_overwrites_only_what_was_read()
    {
        var fresh = Path.Combine(_p.Cwd, "new", "dir", "f.txt");
        // Claude Code 2.1.332's text, recorded against the scripted server.
        (await Write(fresh, "hello")).Content.ShouldBe($"File created successfully at: {fresh} (file state is current in your context — no need to Read it back)");
        File.ReadAllText(fresh).ShouldBe("hello");
        (await Write(fresh, "again")).IsError.ShouldBeFalse("a file we wrote counts as read");

        var existing = _p.Write("old.txt", "old");
        (await Write(existing, "new")).Content.ShouldContain("File has not been read yet");
        await Read(existing);
        (await Write(existing, "new")).IsError.ShouldBeFalse();
        File.ReadAllText(existing).ShouldBe("new");
        (await Write("relative.txt", "x")).Content.ShouldContain("absolute path");
    }

    [Fact]
    public async Task Read_state_is_per_context_so_one_tool_instance_serves_many_sessions()
    {
        var path = _p.Write("shared.txt", "a");
        var tool = new EditTool();
        var other = new ToolContext(_p.Cwd);
        await new ReadTool().InvokeAsync(TempProject.Input(("file_path", path)), other);

        var result = await tool.InvokeAsync(TempProject.Input(("file_path", path), ("old_string", "a"), ("new_string", "b")), _p.Context);

        result.Content.ShouldContain("File has not been read yet");
    }
}
