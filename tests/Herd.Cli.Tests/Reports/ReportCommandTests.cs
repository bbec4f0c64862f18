using System.Text.Json.Nodes;
using Herd.Cli;
using Herd.Fleet.Reports;
using Herd.Testing;

namespace Herd.Cli.Tests.Reports;

/// <summary>`herd report` and the end-of-run reports, through the real command on a real run directory.</summary>
[Collection(ReviewRunCollection.Name)]
public sealed class ReportCommandTests(ReviewRunFixture run) : IDisposable
{
    private readonly TempDirectory _temp = new();
    private readonly StringWriter _out = new();
    private readonly StringWriter _err = new();

    public void Dispose() => _temp.Dispose();

    private int Report(params string[] args) => ReportCommand.Run(args, _out, _err, run.Repo, _ => null);

    [Theory]
    [InlineData("sarif", "results.sarif")]
    [InlineData("codequality", "gl-code-quality-report.json")]
    [InlineData("junit", "junit.xml")]
    [InlineData("markdown", "summary.md")]
    [InlineData("html", "report.html")]
    public void I_can_write_each_report_format_to_a_file(string format, string file)
    {
        var target = Path.Combine(_temp.Path, file);

        var exit = Report("run", "--format", format, "-o", target);

        exit.ShouldBe(0, _err.ToString());
        new FileInfo(target).Length.ShouldBeGreaterThan(100);
        _out.ToString().ShouldBeEmpty();
        _err.ToString().ShouldContain("wrote " + target);
    }

    [Fact]
    public void The_github_format_prints_annotations_and_appends_the_step_summary_when_GITHUB_STEP_SUMMARY_is_set()
    {
        // Given a step summary file that already holds another step's text
        var summary = Path.Combine(_temp.Path, "step_summary.md");
        File.WriteAllText(summary, "earlier step\n");

        var exit = ReportCommand.Run(["run", "--format", "github"], _out, _err, run.Repo, name => name == "GITHUB_STEP_SUMMARY" ? summary : null);

        exit.ShouldBe(0, _err.ToString());
        _out.ToString().ShouldStartWith("::error file=src/file-");
        var text = File.ReadAllText(summary);
        text.ShouldStartWith("earlier step\n## ❌ Herd run `run`");
        text.ShouldContain("### Failed tasks (20)");
        _err.ToString().ShouldContain("more annotations left out");
    }

    [Fact]
    public void A_run_id_is_found_under_the_runs_root()
    {
        var exit = ReportCommand.Run(["run", "--format", "markdown", "--root", "."], _out, _err, run.Repo, _ => null);

        exit.ShouldBe(0, _err.ToString());
        _out.ToString().ShouldStartWith("## ❌ Herd run `run`");
    }

    [Fact]
    public void A_missing_run_directory_is_one_line_naming_it_and_exit_255()
    {
        var exit = ReportCommand.Run(["no-such-run", "--format", "sarif"], _out, _err, _temp.Path, _ => null);

        exit.ShouldBe(ExitCodes.CouldNotRun);
        var lines = _err.ToString().TrimEnd().Split('\n');
        lines.Length.ShouldBe(1);
        lines[0].ShouldStartWith("Error: no run directory 'no-such-run'");
        lines[0].ShouldContain("herd runs list");
    }

    [Fact]
    public void A_directory_that_is_not_a_run_is_one_line_naming_it()
    {
        Directory.CreateDirectory(Path.Combine(_temp.Path, "empty"));

        var exit = ReportCommand.Run([Path.Combine(_temp.Path, "empty"), "--format", "junit"], _out, _err, _temp.Path, _ => null);

        exit.ShouldBe(ExitCodes.CouldNotRun);
        _err.ToString().Trim().ShouldBe($"Error: '{Path.Combine(_temp.Path, "empty")}' is not a run directory (no run.db or results.ndjson). Pass the directory `herd run --run-dir` wrote, with its run.db and results.ndjson.");
    }

    [Fact]
    public void A_damaged_run_database_is_one_line_naming_it_and_the_fix()
    {
        // Given a copy of the run whose run.db is garbage
        var copy = CopyRun();
        File.WriteAllBytes(Path.Combine(copy, "run.db"), new byte[8192]);

        var exit = ReportCommand.Run([copy, "--format", "sarif"], _out, _err, _temp.Path, _ => null);

        exit.ShouldBe(ExitCodes.CouldNotRun);
        var err = _err.ToString().TrimEnd();
        err.Split('\n').Length.ShouldBe(1);
        err.ShouldStartWith($"Error: {Path.Combine(copy, "run.db")} is not a readable run database");
        err.ShouldContain("Restore the run directory");
    }

    [Fact]
    public void A_malformed_results_line_is_one_line_naming_the_line_and_the_fix()
    {
        // Given a run kept as a CI artifact without its run.db: the reports read results.ndjson
        var copy = CopyRun();
        foreach (var db in Directory.GetFiles(copy, "run.db*"))
            File.Delete(db);
        File.AppendAllText(Path.Combine(copy, "results.ndjson"), "{\"key\": tru\n");
        var lineNo = File.ReadAllLines(Path.Combine(copy, "results.ndjson")).Length;

        var exit = ReportCommand.Run([copy, "--format", "junit"], _out, _err, _temp.Path, _ => null);

        exit.ShouldBe(ExitCodes.CouldNotRun);
        _err.ToString().Trim().ShouldBe($"Error: {Path.Combine(copy, "results.ndjson")} line {lineNo} is not JSON. `herd run --resume --run-dir {copy}` rewrites results.ndjson from run.db; or restore the run directory from its artifact.");
    }

    [Theory]
    [InlineData(new[] { "run" }, "Error: herd report needs --format")]
    [InlineData(new[] { "run", "--format", "pdf" }, "Error: --format 'pdf' is not one of")]
    [InlineData(new[] { "run", "--format", "junit", "--fail-severity", "loud" }, "Error: --fail-severity 'loud' is not a level")]
    [InlineData(new[] { "run", "--format", "sarif", "--severity-map", "p1" }, "Error: --severity-map: 'p1' is not word=level")]
    [InlineData(new[] { "--format", "sarif" }, "Error: herd report needs one run directory")]
    [InlineData(new[] { "run", "--format", "sarif", "--bogus" }, "Error: unknown option '--bogus'. See `herd report --help`.")]
    public void Bad_flags_are_one_line_and_exit_255(string[] args, string message)
    {
        var exit = Report(args);

        exit.ShouldBe(ExitCodes.CouldNotRun);
        _err.ToString().ShouldStartWith(message);
        _err.ToString().TrimEnd().Split('\n').Length.ShouldBe(1);
    }

    [Fact]
    public void After_a_run_report_html_is_written_and_under_GitHub_Actions_the_step_summary_is_appended()
    {
        var copy = CopyRun();
        var summary = Path.Combine(_temp.Path, "summary.md");
        var env = new Dictionary<string, string> { ["GITHUB_ACTIONS"] = "true", ["GITHUB_STEP_SUMMARY"] = summary };

        var result = RunReports.AfterRun(copy, new RunReportOptions(Environment: name => env.GetValueOrDefault(name)));

        result.Warnings.ShouldBeEmpty();
        result.HtmlPath.ShouldBe(Path.Combine(copy, "report.html"));
        File.ReadAllText(result.HtmlPath!).ShouldStartWith("<!doctype html>");
        result.StepSummaryPath.ShouldBe(summary);
        File.ReadAllText(summary).ShouldContain("### Outcomes");
    }

    [Fact]
    public void With_ci_none_or_outside_GitHub_Actions_no_step_summary_is_written()
    {
        var copy = CopyRun();
        var summary = Path.Combine(_temp.Path, "summary.md");
        var env = new Dictionary<string, string> { ["GITHUB_ACTIONS"] = "true", ["GITHUB_STEP_SUMMARY"] = summary };

        var off = RunReports.AfterRun(copy, new RunReportOptions(CiMode.None, Environment: name => env.GetValueOrDefault(name)));
        var local = RunReports.AfterRun(copy, new RunReportOptions(Environment: name => name == "GITHUB_STEP_SUMMARY" ? summary : null));

        off.StepSummaryPath.ShouldBeNull();
        local.StepSummaryPath.ShouldBeNull();
        File.Exists(summary).ShouldBeFalse();
        File.Exists(Path.Combine(copy, "report.html")).ShouldBeTrue();
    }

    [Fact]
    public void A_report_that_cannot_be_written_after_a_run_is_a_warning_not_a_failure()
    {
        var result = RunReports.AfterRun(Path.Combine(_temp.Path, "gone"));

        result.HtmlPath.ShouldBeNull();
        result.Warnings.Single().ShouldStartWith("herd: warning: the run's reports were not written: Error: run directory");
    }

    [Fact]
    public void The_report_reads_the_run_without_changing_it()
    {
        // Given a copy of the run with its files' bytes and times noted
        var copy = CopyRun();
        var before = Directory.GetFiles(copy).ToDictionary(f => f, f => (File.ReadAllBytes(f), File.GetLastWriteTimeUtc(f)));

        Report(copy, "--format", "sarif", "-o", Path.Combine(_temp.Path, "r.sarif")).ShouldBe(0, _err.ToString());

        Directory.GetFiles(copy).Order().ShouldBe(before.Keys.Order());
        foreach (var (file, (bytes, time)) in before)
        {
            File.ReadAllBytes(file).ShouldBe(bytes, file);
            File.GetLastWriteTimeUtc(file).ShouldBe(time, file);
        }
    }

    [Fact]
    public void Fleet_pauses_recorded_as_pause_events_are_read_for_the_timeline()
    {
        // Given a run whose events hold one fleet-wide pause of 90 s
        var copy = CopyRun();
        var at = new DateTimeOffset(2026, 11, 29, 10, 0, 0, TimeSpan.Zero);
        using (var db = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={Path.Combine(copy, "run.db")};Pooling=false"))
        {
            db.Open();
            using var cmd = db.CreateCommand();
            cmd.CommandText = "INSERT INTO events(at, key, kind, detail) VALUES ($a, NULL, 'pause', $d)";
            cmd.Parameters.AddWithValue("$a", Herd.Fleet.Store.StoreNames.Iso(at));
            cmd.Parameters.AddWithValue("$d", Herd.Fleet.Store.StoreNames.Iso(at.AddSeconds(90)) + " usage_window resetsAt");
            cmd.ExecuteNonQuery();
        }

        var data = RunReader.Read(copy);

        data.Pauses.ShouldBe([new ReportPause(at, at.AddSeconds(90), "usage_window resetsAt")]);
    }

    private string CopyRun()
    {
        var copy = Path.Combine(_temp.Path, "copy-" + Guid.NewGuid().ToString("N")[..6]);
        Directory.CreateDirectory(copy);
        foreach (var f in Directory.GetFiles(run.RunDir).Where(f => !f.EndsWith("-shm") && !f.EndsWith("-wal") || new FileInfo(f).Length > 0))
            File.Copy(f, Path.Combine(copy, Path.GetFileName(f)));
        return copy;
    }
}
