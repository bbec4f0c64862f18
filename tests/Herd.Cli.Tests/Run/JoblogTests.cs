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
        // (Command is the last column and may hold tabs, as GNU parallel reads it: the rest of the line)
        var rows = lines[1..].Select(l => l.Split('\t', 9)).ToArray();
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
            // The command reads back through bash as exactly the argv it stands for (newlines are NULs in the joblog).
            var argv = await ArgvOf(row[8].Replace('\0', '\n'), h.Dir);
            argv.ShouldBe(["herd", "-p", "Check " + record.GetProperty("V")[0].GetString() + "\tnow\nplease"]);
        }
        rows.Single(r => r[8].Contains("bad-2", StringComparison.Ordinal))[6].ShouldBe("1");
        rows.Where(r => r[8].Contains("good", StringComparison.Ordinal)).ShouldAllBe(r => r[6] == "0");
    }

    /// <summary>Inputs that are invalid or different shell when a quoted command is quoted again, or run when left bare.</summary>
    private static readonly string[] HostileInputs =
    [
        "it's", "two 'quoted' words $(touch pwned1)", "back`touch pwned2`tick", "line one\nline two", "tab\there",
        "a\\'b\\", "'$(touch pwned3)'", "\"$(touch pwned4)\"", "$HOME", "*",
    ];

    [Fact]
    public async Task GNU_parallels_retry_failed_reruns_the_joblogs_commands_with_exactly_the_same_arguments()
    {
        // Given a failed cmd-engine run whose inputs hold quotes, $( ), backticks, newlines and tabs
        await using var h = await FleetHarness.StartAsync(new ModelScript());
        var exit = await h.RunAsync(["--engine", "cmd", "--cmd", "printf '%s\\0' {} >> out.bin; exit 1", "--prompt", "p {}", "-j", "1",
            "--joblog", "run.joblog", "--run-dir", "run", "--progress", "none", ":::", .. HostileInputs]);
        exit.ShouldNotBe(0, h.Err.ToString());
        var before = Values(h.Dir);
        before.Distinct().ShouldBe(HostileInputs, ignoreOrder: true); // (each attempt of each task ran once more on retry)

        // When GNU parallel itself retries the failed jobs from Herd's joblog, one at a time (bash's printf writes a value
        // with a newline in pieces, so two jobs appending at once interleave their values in out.bin)
        var (code, stderr) = await Exec("parallel", h.Dir, "--will-cite", "-j1", "--retry-failed", "--joblog", "run.joblog");

        // Then each command ran again with the very same argument, and nothing inside a value ran
        code.ShouldBe(HostileInputs.Length, stderr); // every retried job fails again (exit 1): parallel exits with the count
        var values = Values(h.Dir);
        values.Length.ShouldBe(before.Length + HostileInputs.Length, string.Join(" | ", values));
        values[before.Length..].ShouldBe(HostileInputs, ignoreOrder: true);
        Directory.GetFiles(h.Dir, "pwned*").ShouldBeEmpty();
    }

    [Fact]
    public async Task GNU_parallels_resume_skips_every_job_herd_finished()
    {
        // Given a successful run with hostile inputs (none with a newline: GNU parallel splits a ::: value at newlines
        // into two jobs, so its job numbers would no longer be Herd's)
        string[] inputs = [.. HostileInputs.Where(i => !i.Contains('\n'))];
        await using var h = await FleetHarness.StartAsync(new ModelScript());
        var exit = await h.RunAsync(["--engine", "cmd", "--cmd", "printf '%s\\0' {} >> out.bin", "--prompt", "p {}",
            "--joblog", "run.joblog", "--run-dir", "run", "--progress", "none", ":::", .. inputs]);
        exit.ShouldBe(0, h.Err.ToString());

        // When GNU parallel resumes the same job list from Herd's joblog
        var (code, stderr) = await Exec("parallel", h.Dir, ["--will-cite", "-j1", "--resume", "--joblog", "run.joblog", "printf '%s\\0' {} >> out.bin", ":::", .. inputs]);

        // Then it reads the joblog as its own and runs nothing again
        code.ShouldBe(0, stderr);
        stderr.ShouldBeEmpty();
        Values(h.Dir).Length.ShouldBe(inputs.Length);
        Directory.GetFiles(h.Dir, "pwned*").ShouldBeEmpty();
    }

    private static string[] Values(string dir) => File.ReadAllText(Path.Combine(dir, "out.bin")).Split('\0', StringSplitOptions.RemoveEmptyEntries);

    /// <summary>The argv bash builds from a command line, printed by a function standing before its first word.</summary>
    private static async Task<string[]> ArgvOf(string command, string dir)
    {
        var (code, output) = await Exec("bash", dir, "-c", "args() { printf '%s\\0' \"$@\"; }; args " + command);
        code.ShouldBe(0, output);
        return output.Split('\0', StringSplitOptions.RemoveEmptyEntries);
    }

    /// <summary>Runs a program to its end; returns its exit code and its stdout (or stderr when it failed).</summary>
    private static async Task<(int Code, string Output)> Exec(string file, string dir, params string[] args)
    {
        var psi = new System.Diagnostics.ProcessStartInfo(file) { WorkingDirectory = dir, RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true };
        foreach (var a in args)
            psi.ArgumentList.Add(a);
        using var p = System.Diagnostics.Process.Start(psi)!;
        p.StandardInput.Close();
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await p.WaitForExitAsync(cts.Token);
        return (p.ExitCode, file == "parallel" ? await stderr : p.ExitCode == 0 ? await stdout : await stderr);
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
