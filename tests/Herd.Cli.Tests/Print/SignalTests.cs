using System.Diagnostics;
using System.Runtime.InteropServices;
using Herd.Testing;

namespace Herd.Cli.Tests.Print;

/// <summary>Exit codes 130 on SIGINT and 143 on SIGTERM, end to end (style.md §5).</summary>
public sealed partial class SignalTests : HerdTestBase
{
    [LibraryImport("libc", EntryPoint = "kill")]
    private static partial int Kill(int pid, int signal);

    private static async Task<string> ReadUntilAsync(Process process, string marker)
    {
        var seen = new System.Text.StringBuilder();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        while (await process.StandardOutput.ReadLineAsync(cts.Token) is { } line)
        {
            seen.AppendLine(line);
            if (line.Contains(marker, StringComparison.Ordinal))
                return seen.ToString();
        }
        throw new InvalidOperationException($"herd ended before printing {marker}: {seen}");
    }

    [Fact]
    public async Task SIGINT_ends_the_turn_prints_a_result_and_exits_130()
    {
        Server.Reset(new ModelScript { LatencyMs = 20_000 });
        using var process = Herd.Start(["-p", "slow", "--output-format", "stream-json", "--verbose"]);
        process.StandardInput.Close();
        await ReadUntilAsync(process, "\"subtype\":\"status\"");

        Kill(process.Id, 2).ShouldBe(0);
        var rest = await process.StandardOutput.ReadToEndAsync();
        await process.WaitForExitAsync();

        process.ExitCode.ShouldBe(130);
        rest.ShouldContain("\"subtype\":\"error_during_execution\"");
        rest.ShouldContain("\"terminal_reason\":\"aborted_streaming\"");
    }

    [Fact]
    public async Task SIGTERM_prints_no_result_and_exits_143()
    {
        Server.Reset(new ModelScript { LatencyMs = 20_000 });
        using var process = Herd.Start(["-p", "slow", "--output-format", "stream-json", "--verbose"]);
        process.StandardInput.Close();
        await ReadUntilAsync(process, "\"subtype\":\"status\"");

        Kill(process.Id, 15).ShouldBe(0);
        var rest = await process.StandardOutput.ReadToEndAsync();
        await process.WaitForExitAsync();

        process.ExitCode.ShouldBe(143);
        rest.ShouldNotContain("\"type\":\"result\"");
    }

    [Fact]
    public async Task SIGTERM_during_herd_run_exits_143_and_leaves_the_run_resumable()
    {
        // Given a run whose tasks are all in flight on a slow model
        Server.Reset(new ModelScript { LatencyMs = 20_000 });
        using var process = Herd.Start(["run", "--prompt", "Do {}", "--run-dir", "run", "--progress", "none", ":::", "a", "b", "c"]);
        process.StandardInput.Close();
        using (var wait = new CancellationTokenSource(TimeSpan.FromSeconds(30)))
        {
            while (Server.RequestCount < 3)
                await Task.Delay(20, wait.Token);
        }

        // When it gets SIGTERM
        Kill(process.Id, 15).ShouldBe(0);
        await process.WaitForExitAsync();

        // Then it exits 143 (as herd -p and Claude Code do), and the run says interrupted and can be resumed
        process.ExitCode.ShouldBe(143);
        var summary = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(Path.Combine(Work.Path, "run", "summary.json")))!;
        summary["status"]!.GetValue<string>().ShouldBe("interrupted");
        summary["exit_code"]!.GetValue<int>().ShouldBe(143);
        (await process.StandardError.ReadToEndAsync()).ShouldContain("continue with: herd run --resume --run-dir");
    }
}
