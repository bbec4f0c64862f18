using System.Diagnostics;
using Herd.Agent.Permissions;
using Herd.Agent.Tools;

namespace Herd.Agent.Tests.Tools;

/// <summary>
/// Issue #9/#10, crashes: inputs a hostile or confused model sends to the file tools end as a tool error within a
/// second and with bounded memory — never a hang, an abort or an exception out of the tool.
/// </summary>
public sealed class HostileInputTests : IDisposable
{
    private readonly TempProject _p = new();

    public void Dispose() => _p.Dispose();

    private static readonly ITool[] FileTools = [new ReadTool(), new WriteTool(), new EditTool(), new GlobTool(), new GrepTool(), new LsTool()];

    private async Task<ToolResult> Within1s(ITool tool, params (string, object?)[] input)
    {
        var watch = Stopwatch.StartNew();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        var result = await tool.InvokeAsync(TempProject.Input(input), _p.Context, cts.Token).WaitAsync(TimeSpan.FromSeconds(5));
        watch.Elapsed.ShouldBeLessThan(TimeSpan.FromSeconds(1), $"{tool.Name} took {watch.Elapsed}");
        return result;
    }

    [Fact]
    public async Task A_nul_byte_in_any_path_is_a_tool_error_and_a_permission_denial()
    {
        var engine = new PermissionEngine(PermissionPolicy.Default with { Mode = PermissionMode.BypassPermissions });
        var bad = _p.Cwd + "/a\0b";
        foreach (var tool in FileTools)
        {
            var key = tool is GlobTool ? "pattern" : tool is GrepTool or LsTool ? "path" : "file_path";
            var input = TempProject.Input((key, bad), ("pattern", tool is GlobTool ? bad : "x"), ("content", "x"), ("old_string", "a"), ("new_string", "b"));

            engine.Evaluate(tool, input, _p.Context).IsAllowed.ShouldBeFalse(tool.Name);
            (await tool.InvokeAsync(input, _p.Context)).IsError.ShouldBeTrue(tool.Name);
        }
        engine.Evaluate(new BashTool(), TempProject.Input(("command", "cat a\0b")), _p.Context).IsAllowed.ShouldBeFalse();
    }

    [Fact]
    public async Task A_fifo_is_refused_without_opening_it()
    {
        var fifo = Path.Combine(_p.Cwd, "pipe");
        Process.Start("mkfifo", fifo)!.WaitForExit();

        (await Within1s(new ReadTool(), ("file_path", fifo))).Content.ShouldContain("FIFO");
        (await Within1s(new WriteTool(), ("file_path", fifo), ("content", "x"))).IsError.ShouldBeTrue();
        (await Within1s(new EditTool(), ("file_path", fifo), ("old_string", "a"), ("new_string", "b"))).IsError.ShouldBeTrue();
        (await Within1s(new GrepTool(), ("pattern", "x"), ("path", fifo))).IsError.ShouldBeTrue();
        (await Within1s(new GrepTool(), ("pattern", "x"))).Content.ShouldBe("No files found", "a FIFO in the tree is skipped, not read");
    }

    [Theory]
    [InlineData("/dev/zero")]
    [InlineData("/dev/urandom")]
    [InlineData("/dev/stdin")]
    public async Task A_device_is_refused(string device)
    {
        var result = await Within1s(new ReadTool(), ("file_path", device));

        result.IsError.ShouldBeTrue();
        result.Content.ShouldContain("not a regular file");
    }

    [Fact]
    public async Task A_200_MB_file_is_refused_as_claude_code_refuses_files_over_256_KB()
    {
        var big = Path.Combine(_p.Cwd, "big.log");
        using (var f = File.Create(big))
            f.SetLength(200L * 1024 * 1024);
        var before = GC.GetTotalMemory(false);

        var read = await Within1s(new ReadTool(), ("file_path", big));
        var edit = await Within1s(new EditTool(), ("file_path", big), ("old_string", "a"), ("new_string", "b"));
        var grep = await Within1s(new GrepTool(), ("pattern", "x"));

        read.Content.ShouldBe("<tool_use_error>File content (200MB) exceeds maximum allowed size (256KB). Use offset and limit parameters to read specific portions of the file, or search for specific content instead of reading the whole file.</tool_use_error>");
        edit.IsError.ShouldBeTrue();
        grep.Content.ShouldBe("No files found");
        (GC.GetTotalMemory(false) - before).ShouldBeLessThan(50L * 1024 * 1024);
    }

    [Fact]
    public async Task A_large_file_can_be_read_by_range_with_bounded_memory()
    {
        var big = Path.Combine(_p.Cwd, "big.txt");
        File.WriteAllLines(big, Enumerable.Range(1, 100_000).Select(i => $"line {i} " + new string('x', 20)));

        var result = await Within1s(new ReadTool(), ("file_path", big), ("offset", 50_000), ("limit", 2));

        result.Content.ShouldBe($"50000\tline 50000 {new string('x', 20)}\n50001\tline 50001 {new string('x', 20)}");
    }

    [Fact]
    public async Task Write_replaces_the_file_so_a_hard_link_to_an_outside_file_keeps_its_content()
    {
        var outside = Path.Combine(_p.Outside, "victim");
        File.WriteAllText(outside, "original");
        var link = Path.Combine(_p.Cwd, "link.txt");
        Process.Start("ln", [outside, link])!.WaitForExit();
        await new ReadTool().InvokeAsync(TempProject.Input(("file_path", link)), _p.Context);

        var write = await new WriteTool().InvokeAsync(TempProject.Input(("file_path", link), ("content", "changed")), _p.Context);
        var edit = await new EditTool().InvokeAsync(TempProject.Input(("file_path", link), ("old_string", "changed"), ("new_string", "again")), _p.Context);

        write.IsError.ShouldBeFalse(write.Content);
        edit.IsError.ShouldBeFalse(edit.Content);
        File.ReadAllText(link).ShouldBe("again");
        File.ReadAllText(outside).ShouldBe("original");
    }

    [Fact]
    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    public async Task Write_keeps_the_files_permission_bits()
    {
        var script = _p.Write("run.sh", "#!/bin/sh\n");
        File.SetUnixFileMode(script, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        await new ReadTool().InvokeAsync(TempProject.Input(("file_path", script)), _p.Context);

        await new WriteTool().InvokeAsync(TempProject.Input(("file_path", script), ("content", "#!/bin/sh\necho hi\n")), _p.Context);

        File.GetUnixFileMode(script).HasFlag(UnixFileMode.UserExecute).ShouldBeTrue();
    }
}
