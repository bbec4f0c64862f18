using System.Diagnostics;
using Herd.Fleet.Engines;
using Microsoft.Extensions.Time.Testing;

namespace Herd.Fleet.Tests.Engines;

/// <summary>A real process tree stopped gracefully, then forcefully, on an injected clock.</summary>
public sealed class ProcessTreeTests
{
    [Fact]
    public async Task A_process_that_ignores_SIGTERM_is_killed_when_the_grace_ends_on_the_clock()
    {
        // Given a process that ignores SIGTERM and says so once its trap is set
        var time = new FakeTimeProvider();
        using var tree = ProcessTree.Start("bash", ["-c", "trap '' TERM; echo ready; sleep 30"],
            new Dictionary<string, string> { ["PATH"] = Environment.GetEnvironmentVariable("PATH") ?? "/usr/bin:/bin" },
            Path.GetTempPath(), null, time);
        var ready = new TaskCompletionSource();
        _ = tree.ReadLinesAsync(_ => ready.TrySetResult());
        await ready.Task.WaitAsync(TimeSpan.FromSeconds(30));
        var real = Stopwatch.StartNew();

        // When it is stopped with an hour's grace, and the clock then moves on by that hour
        var stop = tree.StopAsync(TimeSpan.FromHours(1));
        stop.IsCompleted.ShouldBeFalse("SIGTERM alone does not end it");
        time.Advance(TimeSpan.FromHours(1));

        // Then SIGKILL ends it at once: the grace ran on the injected clock, not on the wall clock
        await stop.WaitAsync(TimeSpan.FromSeconds(20));
        real.Elapsed.ShouldBeLessThan(TimeSpan.FromSeconds(20));
        (await tree.WaitForExitAsync()).ShouldNotBe(0);
    }
}
