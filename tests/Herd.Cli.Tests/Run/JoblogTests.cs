using System.Globalization;
using Herd.Testing;

namespace Herd.Cli.Tests.Run;

/// <summary><c>--joblog FILE</c>: GNU parallel's joblog format, checked by parsing it as its tooling does.</summary>
public sealed class JoblogTests
{
    [Fact]
    public async Task The_joblog_has_gnu_parallels_header_and_one_tab_separated_line_per_finished_task_matching_the_records()
    {
        // Given three tasks, one of which the model refuses, and a prompt with a tab and a newline
        await using var h = await FleetHarness.StartAsync(new ModelScript { Conversations = [new Conversation("bad", [Reply.Error(400)])], Default = Reply.WithText("ok") });

        // When the run writes a joblog
        var exit = await h.RunAsync("-j", "2", "--joblog", "run.joblog", "--prompt", "Check {}\tnow\nplease", "--run-dir", "run", "--progress", "none", ":::", "good-1", "bad-2", "good-3");

        // Then the joblog parses as GNU parallel's: its header, then nine tab-separated columns per finished task
        exit.ShouldBe(1, h.Err.ToString());
        var lines = File.ReadAllText(Path.Combine(h.Dir, "run.joblog")).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        lines[0].ShouldBe("Seq\tHost\tStarttime\tJobRuntime\tSend\tReceive\tExitval\tSignal\tCommand");
        lines.Length.ShouldBe(4);
        var rows = lines[1..].Select(l => l.Split('\t')).ToArray();
        rows.ShouldAllBe(r => r.Length == 9);
        var records = h.Records().ToDictionary(r => r.GetProperty("Seq").GetInt32());
        foreach (var row in rows)
        {
            var record = records[int.Parse(row[0], CultureInfo.InvariantCulture)];
            row[1].ShouldBe(":");
            double.Parse(row[2], CultureInfo.InvariantCulture).ShouldBe(record.GetProperty("Starttime").GetDouble(), 0.0005);
            row[3].Length.ShouldBeGreaterThanOrEqualTo(10); // %10.3f, as GNU parallel pads it
            double.Parse(row[3].Trim(), CultureInfo.InvariantCulture).ShouldBe(record.GetProperty("JobRuntime").GetDouble(), 0.0005);
            row[6].ShouldBe(record.GetProperty("Exitval").GetInt32().ToString(CultureInfo.InvariantCulture));
            row[7].ShouldBe("0");
            row[8].ShouldStartWith("herd -p 'Check ");
            row[8].ShouldContain("\\tnow\\nplease");
        }
        rows.Single(r => r[8].Contains("bad-2", StringComparison.Ordinal))[6].ShouldBe("1");
        rows.Where(r => r[8].Contains("good", StringComparison.Ordinal)).ShouldAllBe(r => r[6] == "0");
    }

    [Fact]
    public async Task A_resumed_run_rewrites_the_joblog_with_one_line_per_finished_task()
    {
        // Given a run whose failed task is retried on resume
        await using var h = await FleetHarness.StartAsync(new ModelScript { Queue = [Reply.Error(400)], Default = Reply.WithText("ok") });
        (await h.RunAsync("-j", "1", "--joblog", "j.tsv", "--prompt", "Do {}", "--run-dir", "run", "--progress", "none", ":::", "a", "b")).ShouldBe(1, h.Err.ToString());

        // When it is resumed with --resume-failed
        var exit = await h.RunAsync("--resume-failed", "--run-dir", "run", "--progress", "none");

        // Then the joblog holds the header and exactly one line per task, both now successful
        exit.ShouldBe(0, h.Err.ToString());
        var lines = File.ReadAllText(Path.Combine(h.Dir, "j.tsv")).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        lines.Length.ShouldBe(3);
        lines[1..].Select(l => l.Split('\t')[6]).ShouldAllBe(e => e == "0");
    }

    [Fact]
    public async Task A_joblog_path_that_is_a_directory_is_refused_before_anything_runs()
    {
        await using var h = await FleetHarness.StartAsync(new ModelScript());
        Directory.CreateDirectory(Path.Combine(h.Dir, "logs"));

        var exit = await h.RunAsync("--joblog", "logs", "--prompt", "Do {}", "--run-dir", "run", ":::", "a");

        exit.ShouldBe(255);
        h.Err.ToString().Trim().ShouldBe("Error: --joblog 'logs' is a directory; pass a file path.");
        Directory.Exists(h.RunDir()).ShouldBeFalse();
        h.Server.RequestCount.ShouldBe(0);
    }
}
