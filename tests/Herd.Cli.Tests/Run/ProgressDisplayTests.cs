using Herd.Cli.Run;

namespace Herd.Cli.Tests.Run;

public sealed class ProgressDisplayTests
{
    [Fact]
    public void A_status_line_longer_than_the_terminal_is_cut_in_the_middle_so_it_never_wraps()
    {
        var line = "[####] 33/200 done, 0 failed, 16 running, 0 retrying, 150 queued | L 16/16 | $0.0174 | ETA 4s | 3s";

        var fitted = ProgressDisplay.FitTo(line, 60);

        fitted.Length.ShouldBeLessThan(60);
        fitted.ShouldStartWith("[####] 33/200 done");
        fitted.ShouldEndWith("ETA 4s | 3s");
    }

    [Fact]
    public void A_status_line_that_fits_is_left_alone() =>
        ProgressDisplay.FitTo("short", 80).ShouldBe("short");
}
