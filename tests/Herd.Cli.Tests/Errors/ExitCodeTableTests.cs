using Herd.Testing;

namespace Herd.Cli.Tests.Errors;

/// <summary>
/// The exit-code table of docs/architecture.md, command by command, against the real herd process: a usage error and a
/// fatal one (a damaged run, an unreachable store, an unwritable file) each end in one line on stderr, in the house
/// form, with the code the table gives (<see cref="ExitCodes"/>).
/// </summary>
public sealed class ExitCodeTableTests : HerdTestBase
{
    private const string Garbage = "this is not a database at all, just text that is long enough to be read as a header......";

    /// <summary>A run directory whose run.db is damaged, as a torn copy or a wrong file leaves it.</summary>
    private string DamagedRun()
    {
        var dir = Path.Combine(Work.Path, ".herd", "runs", "damaged");
        Directory.CreateDirectory(dir);
        File.WriteAllText(Path.Combine(dir, "run.db"), Garbage);
        File.WriteAllText(Path.Combine(dir, "results.ndjson"), "");
        return dir;
    }

    public static TheoryData<string, string[], int, string> UsageErrors => new()
    {
        { "print", ["-p", "hi", "--bogus"], 1, "error: unknown option '--bogus'" },
        { "sessions", ["sessions", "list", "--bogus"], 1, "Error: unknown option '--bogus'. See `herd sessions --help`." },
        { "sessions", ["sessions", "show"], 1, "Error: missing session id." },
        { "run", ["run", "--bogus", "--prompt", "x", ":::", "a"], 255, "Error: unknown option '--bogus'. See `herd run --help`." },
        { "runs", ["runs", "show", "no-such-run"], 255, "Error: no run 'no-such-run'" },
        { "merge", ["merge", "--bogus"], 255, "Error: unknown option '--bogus'. See `herd merge --help`." },
        { "worker", ["worker", "--bogus"], 255, "Error: unknown option '--bogus'. See `herd worker --help`." },
        { "report", ["report", "r", "--format", "sarif", "--bogus"], 255, "Error: unknown option '--bogus'. See `herd report --help`." },
        { "gate", ["gate", "r", "--max-failed", "0", "--bogus"], 255, "Error: unknown option '--bogus'. See `herd gate --help`." },
        { "ci", ["ci", "init", "github", "--bogus"], 255, "Error: unknown option '--bogus'. See `herd ci --help`." },
    };

    [Theory]
    [MemberData(nameof(UsageErrors))]
    public async Task A_usage_error_is_one_line_and_the_tables_usage_code(string command, string[] args, int exit, string message)
    {
        // When the command gets a bad command line
        var run = await Herd.RunAsync(args);

        // Then it exits with the table's code and one line in the house form
        run.ExitCode.ShouldBe(exit, $"{command}: {run}");
        run.Stderr.ShouldStartWith(message, customMessage: run.ToString());
        // (herd -p adds Claude Code's second line, "Run 'herd --help' to see the options.")
        if (command != "print")
            run.Stderr.TrimEnd('\n').ShouldNotContain("\n", customMessage: run.ToString());
    }

    [Theory]
    [InlineData("runs")]
    [InlineData("report")]
    [InlineData("gate")]
    [InlineData("merge")]
    [InlineData("run")]
    public async Task A_damaged_run_is_one_line_and_exit_255(string command)
    {
        // Given a run directory whose run.db is damaged
        var dir = DamagedRun();

        // When a command reads it
        string[] args = command switch
        {
            "runs" => ["runs", "show", dir],
            "report" => ["report", dir, "--format", "markdown"],
            "gate" => ["gate", dir, "--max-failed", "0"],
            "merge" => ["merge", Path.Combine(Work.Path, "merged"), dir],
            _ => ["run", "--resume", "--run-dir", dir],
        };
        var run = await Herd.RunAsync(args);

        // Then it exits 255 with one line that starts as every Herd error does, and no stack trace
        run.ExitCode.ShouldBe(ExitCodes.CouldNotRun, run.ToString());
        run.Stderr.ShouldStartWith("Error: ", customMessage: run.ToString());
        run.Stderr.ShouldNotContain("   at ");
    }

    [Fact]
    public async Task A_worker_whose_store_cannot_be_reached_exits_255()
    {
        // Port 1 on loopback refuses at once: the store cannot be reached
        var run = await Herd.RunAsync("worker", "--store", "postgres://herd:herd@127.0.0.1:1/herd", "--run", "r");

        run.ExitCode.ShouldBe(ExitCodes.CouldNotRun, run.ToString());
        run.Stderr.ShouldStartWith("Error: ", customMessage: run.ToString());
        run.Stderr.ShouldNotContain("   at ");
    }

    [Fact]
    public async Task A_pipeline_that_cannot_be_written_exits_255()
    {
        // Given a repository where .github is a file, so the workflow's folder cannot be made
        File.WriteAllText(Path.Combine(Work.Path, ".github"), "");

        var run = await Herd.RunAsync("ci", "init", "github", "--dir", Work.Path);

        run.ExitCode.ShouldBe(ExitCodes.CouldNotRun, run.ToString());
        run.Stderr.ShouldStartWith("Error: ", customMessage: run.ToString());
        run.Stderr.ShouldNotContain("   at ");
    }

    [Fact]
    public async Task A_mistyped_command_names_the_nearest_command_instead_of_asking_to_quote_a_prompt()
    {
        var run = await Herd.RunAsync("runz", "list");

        run.ExitCode.ShouldBe(ExitCodes.PrintError, run.ToString());
        run.Stderr.ShouldStartWith("Error: unknown command 'runz'. Did you mean `herd runs`?");
        run.Stderr.ShouldNotContain("too many arguments");
        Server.RequestCount.ShouldBe(0);
    }

    [Fact]
    public async Task Every_help_lists_every_flag_the_command_parses()
    {
        // max-turns was hidden from herd --help and herd run --help although the README promised every flag
        var print = await Herd.RunAsync("--help");
        var run = await Herd.RunAsync("run", "--help");

        print.Stdout.ShouldContain("--max-turns");
        run.Stdout.ShouldContain("--max-turns");
        foreach (var listed in new[] { "herd merge", "herd ci init", "runs list|show|watch|export", "HERD_STORE", "HERD_CLIS", "OTEL_" })
            print.Stdout.ShouldContain(listed);
        // Flags kept only for Claude Code's command lines are named as such
        print.Stdout.ShouldContain("--effort");
    }

    [Fact]
    public async Task Herd_copied_without_its_native_SQLite_library_says_so_in_one_line_and_exit_255()
    {
        // Given herd's managed files copied somewhere without the native library published beside them (runtimes/)
        var copy = Path.Combine(Work.Path, "herd-without-native");
        Directory.CreateDirectory(copy);
        foreach (var file in Directory.EnumerateFiles(AppContext.BaseDirectory))
            File.Copy(file, Path.Combine(copy, Path.GetFileName(file)));
        var start = new System.Diagnostics.ProcessStartInfo("dotnet")
        {
            WorkingDirectory = Work.Path,
            RedirectStandardError = true,
            RedirectStandardOutput = true,
            RedirectStandardInput = true,
        };
        foreach (var arg in (string[])[Path.Combine(copy, "herd.dll"), "run", "--prompt", "x", "--run-dir", "r", "--progress", "none", ":::", "a"])
            start.ArgumentList.Add(arg);
        start.Environment["ANTHROPIC_API_KEY"] = "sk-test";
        start.Environment["ANTHROPIC_BASE_URL"] = "http://127.0.0.1:9";

        // When herd run needs its store
        using var process = System.Diagnostics.Process.Start(start)!;
        process.StandardInput.Close();
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = await process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync().WaitAsync(TimeSpan.FromMinutes(1));
        await stdout;

        // Then one line names the missing library and the fix, with the table's fatal code, and no stack trace
        process.ExitCode.ShouldBe(ExitCodes.CouldNotRun, stderr);
        stderr.ShouldStartWith("Error: a native library herd needs could not be loaded", customMessage: stderr);
        stderr.TrimEnd('\n').ShouldNotContain("\n", customMessage: stderr);
    }
}
