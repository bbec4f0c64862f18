using System.Diagnostics;
using System.Text.Json.Nodes;
using Herd.Agent.Tools;

namespace Herd.Agent.Tests.Tools;

/// <summary>Real bash processes: output, exit codes, timeouts, process-group kills and the environment.</summary>
public sealed class BashToolTests : IDisposable
{
    private readonly TempProject _p = new();

    public void Dispose() => _p.Dispose();

    private Task<ToolResult> Run(string command, int? timeout = null, CancellationToken ct = default) =>
        new BashTool().InvokeAsync(TempProject.Input(("command", command), ("timeout", timeout)), _p.Context, ct);

    [Fact]
    public async Task A_command_runs_in_the_working_directory_and_reports_stdout_and_stderr()
    {
        var result = await Run("pwd; echo oops >&2");

        result.IsError.ShouldBeFalse();
        result.ExitCode.ShouldBe(0);
        result.Content.ShouldBe($"{_p.Cwd}\noops");
        var s = (JsonObject)result.Structured!;
        ((string)s["stdout"]!).ShouldBe(_p.Cwd);
        ((string)s["stderr"]!).ShouldBe("oops");
        ((bool)s["interrupted"]!).ShouldBeFalse();
        ((bool)s["isImage"]!).ShouldBeFalse();
    }

    [Fact]
    public async Task A_failing_command_reports_its_exit_code_and_output()
    {
        var result = await Run("echo out; echo err >&2; exit 3");

        result.IsError.ShouldBeTrue();
        result.ExitCode.ShouldBe(3);
        result.Content.ShouldBe("Exit code 3\nout\nerr");
    }

    [Fact]
    public async Task A_timeout_kills_the_whole_process_group_including_background_children()
    {
        var marker = Path.Combine(_p.Cwd, "survivor");
        var sw = Stopwatch.StartNew();

        var result = await Run($"(sleep 30.0731; touch {marker}) & sleep 30", timeout: 500);

        sw.Elapsed.ShouldBeLessThan(TimeSpan.FromSeconds(10));
        result.IsError.ShouldBeTrue();
        result.Content.ShouldStartWith("Command timed out after 0.5s");
        ((bool)((JsonObject)result.Structured!)["interrupted"]!).ShouldBeTrue();
        (await GoneAsync("30.0731")).ShouldBeTrue("the background child was killed with its group");
        File.Exists(marker).ShouldBeFalse();
    }

    [Fact]
    public async Task The_timeout_runs_on_the_contexts_clock()
    {
        // Given a tool context on a fake clock and a command that would run for 30 s of real time
        var time = new Microsoft.Extensions.Time.Testing.FakeTimeProvider();
        var context = new ToolContext(_p.Cwd) { Time = time };
        var real = Stopwatch.StartNew();
        var run = new BashTool().InvokeAsync(TempProject.Input(("command", "sleep 30"), ("timeout", 60_000)), context);

        // When the fake clock passes the minute (it is moved until the tool has armed its timer and given up)
        while (!run.IsCompleted && real.Elapsed < TimeSpan.FromSeconds(20))
        {
            time.Advance(TimeSpan.FromMinutes(1));
            await Task.WhenAny(run, Task.Delay(20));
        }
        var result = await run;

        // Then the command timed out long before 30 real seconds
        real.Elapsed.ShouldBeLessThan(TimeSpan.FromSeconds(20));
        result.IsError.ShouldBeTrue();
        result.Content.ShouldStartWith("Command timed out after 1m 0.0s");
    }

    [Fact]
    public async Task Cancellation_kills_the_command_and_throws()
    {
        var marker = Path.Combine(_p.Cwd, "after-cancel");
        using var cts = new CancellationTokenSource(300);

        await Should.ThrowAsync<OperationCanceledException>(() => Run($"sleep 30.0732; touch {marker}", ct: cts.Token));

        (await GoneAsync("30.0732")).ShouldBeTrue("the command was killed");
        File.Exists(marker).ShouldBeFalse();
    }

    /// <summary>
    /// Waits (up to 10 s) until no live process has <paramref name="token"/> in its command line. A command that outlived
    /// its kill runs for 30 s, so it is still there when the wait gives up; nothing here waits a fixed time.
    /// </summary>
    private static async Task<bool> GoneAsync(string token)
    {
        var deadline = Stopwatch.StartNew();
        while (deadline.Elapsed < TimeSpan.FromSeconds(10))
        {
            var alive = Directory.GetDirectories("/proc").Any(d =>
            {
                try
                {
                    return int.TryParse(Path.GetFileName(d), out _) && File.ReadAllText(Path.Combine(d, "cmdline")).Contains(token, StringComparison.Ordinal);
                }
                catch (IOException)
                {
                    return false;
                }
                catch (UnauthorizedAccessException)
                {
                    return false;
                }
            });
            if (!alive)
                return true;
            await Task.Yield();
            Thread.Yield();
        }
        return false;
    }

    [Fact]
    public async Task Output_over_the_inline_limit_is_saved_to_a_file_and_the_model_gets_a_preview_and_the_path()
    {
        var result = await Run("seq 1 20000");

        // Claude Code 2.1.332's exact form for the same command (recorded from claude -p against the scripted server).
        var path = (string)result.Structured!["persistedOutputPath"]!;
        var expectedPreview = string.Join('\n', Enumerable.Range(1, 527));
        result.Content.ShouldBe(
            $"<persisted-output>\nOutput too large (106.3KB). Full output saved to: {path}\n\nPreview (first 2KB):\n{expectedPreview}\n...\n</persisted-output>");
        File.ReadAllText(path).ShouldBe(string.Join('\n', Enumerable.Range(1, 20000)) + "\n");
        ((long)result.Structured!["persistedOutputSize"]!).ShouldBe(108894);
        ((string)result.Structured!["stdout"]!).Length.ShouldBe(BashTool.MaxOutputChars);
        path.ShouldStartWith(_p.Context.ScratchDirectory);
    }

    [Fact]
    public async Task Output_within_the_inline_limit_stays_inline()
    {
        var result = await Run("seq 1 5000");

        result.Content.ShouldBe(string.Join('\n', Enumerable.Range(1, 5000)));
        ((JsonObject)result.Structured!).ContainsKey("persistedOutputPath").ShouldBeFalse();
    }

    [Fact]
    public async Task Endless_output_costs_bounded_memory_and_disk()
    {
        var result = await Run("head -c 80000000 /dev/zero | tr '\\0' x", timeout: 30_000);

        new FileInfo((string)result.Structured!["persistedOutputPath"]!).Length.ShouldBeLessThan(OutputCapture.MaxSpillBytes + 1000);
        result.Content.Length.ShouldBeLessThan(3000);
    }

    [Fact]
    public async Task The_api_key_and_claudecode_marker_never_reach_the_child()
    {
        Environment.SetEnvironmentVariable("ANTHROPIC_API_KEY", "sk-secret");
        Environment.SetEnvironmentVariable("CLAUDECODE", "1");
        try
        {
            var result = await Run("echo \"key=${ANTHROPIC_API_KEY:-none} cc=${CLAUDECODE:-none}\"");

            result.Content.ShouldBe("key=none cc=none");
        }
        finally
        {
            Environment.SetEnvironmentVariable("ANTHROPIC_API_KEY", null);
            Environment.SetEnvironmentVariable("CLAUDECODE", null);
        }
    }

    [Theory]
    [InlineData(120_000, "2m 0.0s")]
    [InlineData(1_500, "1.5s")]
    [InlineData(600_000, "10m 0.0s")]
    public void Durations_are_formatted_like_claude_code(int ms, string text) => BashTool.FormatDuration(ms).ShouldBe(text);

    [Fact]
    public void Every_builtin_is_registered_with_a_schema()
    {
        var tools = ToolRegistry.BuiltIns();

        tools.Select(t => t.Name).ShouldBe(["Bash", "Edit", "Glob", "Grep", "LS", "Read", "Write"]);
        foreach (var tool in tools)
        {
            ToolRegistry.KnownNames.ShouldContain(tool.Name);
            ((string)tool.InputSchema()["type"]!).ShouldBe("object");
        }
    }
}
