namespace Herd.Fleet.Reports;

/// <summary>The formats of <c>herd report</c>.</summary>
public enum ReportFormat
{
    Sarif,
    CodeQuality,
    JUnit,
    GitHub,
    Markdown,
    Html,

    /// <summary>Every patch that would land, in task order (<see cref="PatchSeries"/>); needs the run's patch store.</summary>
    Patch,
}

public static class ReportFormats
{
    public static bool TryParse(string value, out ReportFormat format)
    {
        (var ok, format) = value.ToLowerInvariant() switch
        {
            "sarif" => (true, ReportFormat.Sarif),
            "codequality" or "code-quality" or "gitlab" => (true, ReportFormat.CodeQuality),
            "junit" => (true, ReportFormat.JUnit),
            "github" => (true, ReportFormat.GitHub),
            "markdown" or "md" => (true, ReportFormat.Markdown),
            "html" => (true, ReportFormat.Html),
            "patch" => (true, ReportFormat.Patch),
            _ => (false, ReportFormat.Markdown),
        };
        return ok;
    }

    /// <summary>Writes <paramref name="format"/> to <paramref name="output"/> from one pass over the run.</summary>
    /// <returns>The notes for stderr.</returns>
    public static IReadOnlyList<string> Render(ReportContext ctx, ReportFormat format, Stream output)
    {
        switch (format)
        {
            case ReportFormat.Sarif:
                return SarifReport.Write(ctx, output, SarifReport.MaxResultsPerRun, SarifReport.MaxGzipBytes);
            case ReportFormat.CodeQuality:
                return CodeQualityReport.Write(ctx, output);
            case ReportFormat.JUnit:
                return JUnitReport.Write(ctx, output);
            case ReportFormat.GitHub:
                return GitHubReport.Write(ctx, output);
            default:
                // The human formats are built from the run summed up (RunDigest), so they are small whatever its size.
                var digest = RunDigest.Build(ctx);
                var page = format == ReportFormat.Html ? HtmlReport.Write(digest) : MarkdownReport.Write(digest);
                output.Write(new System.Text.UTF8Encoding(false).GetBytes(page.Content));
                return page.Notes;
        }
    }

    public static ReportOutput Render(ReportContext ctx, ReportFormat format) => ReportOutput.Collect(output => Render(ctx, format, output));
}

/// <summary>Whether <c>herd run</c> writes CI integrations by itself.</summary>
public enum CiMode
{
    /// <summary>Under <c>GITHUB_ACTIONS=true</c>, append the step summary to <c>$GITHUB_STEP_SUMMARY</c>.</summary>
    Auto,

    /// <summary><c>--ci none</c>: nothing beyond the run directory.</summary>
    None,
}

/// <summary>What <see cref="RunReports.AfterRun(string, RunReportOptions?)"/> does.</summary>
/// <param name="Environment">Reads an environment variable (injected for tests); default: the process environment.</param>
public sealed record RunReportOptions(CiMode Ci = CiMode.Auto, ReportOptions? Report = null, Func<string, string?>? Environment = null);

/// <summary>What the end of a run wrote.</summary>
/// <param name="Run">The run as the reports read it, summed up (null when it could not be read): the gate judges this same reading.</param>
public sealed record AfterRunResult(string? HtmlPath, string? StepSummaryPath, IReadOnlyList<string> Warnings, RunDigest? Run = null);

/// <summary>
/// The reports a run leaves by itself (issues #11, #12): <c>report.html</c> in the run directory, and under GitHub Actions
/// the Markdown step summary appended to <c>$GITHUB_STEP_SUMMARY</c>. Both come from one pass over the run's records
/// (<see cref="RunDigest"/>), so a run of a million tasks gets them in bounded memory (issue #23). A report that cannot
/// be written never changes the run's outcome: the problem comes back as a warning line for stderr.
/// </summary>
public static class RunReports
{
    public const string HtmlFileName = "report.html";

    public static AfterRunResult AfterRun(string runDirectory, RunReportOptions? options = null) => AfterRun(() => RunReader.Open(runDirectory), options);

    /// <param name="open">Opens the run: its directory (SQLite), or its store (<see cref="RunReader.Open(Func{Herd.Fleet.Store.IRunStore}, string)"/>).
    /// A failure to read is a warning, like a failure to write.</param>
    public static AfterRunResult AfterRun(Func<RunStream> open, RunReportOptions? options = null)
    {
        options ??= new RunReportOptions();
        var env = options.Environment ?? System.Environment.GetEnvironmentVariable;
        var warnings = new List<string>();
        string? html = null, summary = null;
        RunDigest? run = null;
        try
        {
            run = RunDigest.Build(open(), options.Report ?? ReportOptions.Default);
            var target = Path.Combine(run.Header.Directory, HtmlFileName);
            WriteAtomically(target, HtmlReport.Write(run).Content);
            html = target;
            if (options.Ci == CiMode.Auto && env("GITHUB_ACTIONS") == "true" && env("GITHUB_STEP_SUMMARY") is { Length: > 0 } stepSummary)
            {
                File.AppendAllText(stepSummary, MarkdownReport.Write(run).Content + "\n");
                summary = stepSummary;
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or Herd.Agent.HerdException or System.Data.Common.DbException)
        {
            warnings.Add($"herd: warning: the run's reports were not written: {e.Message}");
        }
        return new AfterRunResult(html, summary, warnings, run);
    }

    /// <summary>Temp file + rename, so a reader (or a CI artifact upload) never sees half a report.</summary>
    public static void WriteAtomically(string path, string content) =>
        WriteAtomically(path, output => output.Write(new System.Text.UTF8Encoding(false).GetBytes(content)));

    /// <summary>As <see cref="WriteAtomically(string, string)"/>, the content written straight to the file as it is made.</summary>
    public static void WriteAtomically(string path, Action<Stream> write)
    {
        var tmp = path + ".tmp";
        try
        {
            using (var file = new FileStream(tmp, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 16))
                write(file);
            File.Move(tmp, path, overwrite: true);
        }
        catch
        {
            if (File.Exists(tmp))
                File.Delete(tmp);
            throw;
        }
    }
}
