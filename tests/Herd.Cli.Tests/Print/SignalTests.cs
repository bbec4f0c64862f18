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
}
