using System.Runtime.InteropServices;

namespace Herd.Cli.Tests.Run;

/// <summary>SIGTERM to the real `herd run` with an external engine: every child process tree is stopped (issue #13).</summary>
public sealed partial class EngineSignalTests : HerdTestBase
{
    [LibraryImport("libc", EntryPoint = "kill")]
    private static partial int Kill(int pid, int signal);

    [Fact]
    public async Task SIGTERM_stops_every_engine_process_tree_exits_143_and_the_run_resumes()
    {
        // Given a run of four tasks whose commands each start a background child and wait
        var marker = "herd-sigterm-" + Guid.NewGuid().ToString("N")[..8];
        var flag = Path.Combine(Work.Path, "second");
        var cmd = $"if [ -f {flag} ]; then echo resumed {{}}; else (exec -a {marker} sleep 60) & exec -a {marker} sleep 60; fi";
        using var process = Herd.Start(["run", "--engine", "cmd", "--cmd", cmd, "-j", "4", "--prompt", "p", "--run-dir", "run", "--progress", "none", ":::", "a", "b", "c", "d"]);
        process.StandardInput.Close();
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (Alive(marker, process.Id) < 8 && DateTime.UtcNow < deadline)
            await Task.Delay(20);
        Alive(marker, process.Id).ShouldBe(8);

        // When herd receives SIGTERM
        Kill(process.Id, 15).ShouldBe(0);
        var stderr = await process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(30));

        // Then it exits 143 with no engine process left, and --resume finishes the run
        process.ExitCode.ShouldBe(143, stderr);
        Alive(marker, process.Id).ShouldBe(0);
        await File.WriteAllTextAsync(flag, "");
        var resumed = await Herd.RunAsync("run", "--resume", "--run-dir", "run", "--progress", "none");
        resumed.ExitCode.ShouldBe(0, resumed.ToString());
    }

    /// <summary>Live processes with <paramref name="marker"/> in their command line, other than herd itself (whose --cmd holds it).</summary>
    private static int Alive(string marker, int herd)
    {
        var n = 0;
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out var pid) || pid == herd)
                continue;
            try
            {
                var stat = File.ReadAllText(Path.Combine(dir, "stat"));
                if (stat[(stat.LastIndexOf(')') + 2)..][0] != 'Z' && File.ReadAllText(Path.Combine(dir, "cmdline")).Contains(marker, StringComparison.Ordinal))
                    n++;
            }
            catch (IOException)
            {
            }
        }
        return n;
    }
}
