using Herd.Agent;
using System.Text;
using Herd.Fleet.Reports;

namespace Herd.Cli;

/// <summary>
/// <c>herd report RUN --format sarif|codequality|junit|github|markdown|html [-o FILE]</c> (issues #11, #12). Reads the
/// run directory (or the shared store, <c>--store</c>) read-only. Exit 0 written; 255 bad flags, an unreadable run or an
/// unwritable output (one line on stderr; <see cref="ExitCodes"/>).
/// </summary>
public static class ReportCommand
{
    public static readonly OptionSpec Format = new(["--format"], Arity.Value, "sarif | codequality | junit | github | markdown | html | patch", "format");
    public static readonly OptionSpec Output = new(["-o", "--output"], Arity.Value, "Write to this file instead of stdout (html: default report.html in the run directory)", "file");
    public static readonly OptionSpec FailSeverity = new(["--fail-severity"], Arity.Value, "junit: findings at or above this level fail their task's test case (default major)", "level");
    public static readonly OptionSpec Category = new(["--category"], Arity.Value, "sarif: the code-scanning category, kept stable between runs (default: none in the file, so the uploader's category applies)", "name");
    public static readonly OptionSpec RepoRoot = new(["--repo-root"], Arity.Value, "Finding paths are made relative to it (default: the git work tree of the run's directory)", "dir");
    public static readonly OptionSpec Help = new(["-h", "--help"], Arity.Flag, "Show this help");

    private static readonly IReadOnlyList<OptionSpec> Options =
    [
        Format,
        Output,
        .. ReportArguments.FindingsOptions,
        FailSeverity,
        Category,
        RepoRoot,
        Help,
    ];

    private const string Description = """
        Writes a report of a finished (or running) herd run. Findings come from tasks run with --json-schema whose
        structured output holds a list, by default {"issues":[{"severity","file","line","message"}]}.
          sarif        SARIF 2.1.0 for GitHub code scanning (github/codeql-action/upload-sarif)
          codequality  GitLab Code Quality (artifacts:reports:codequality)
          junit        JUnit XML, one test case per task (GitLab, Jenkins)
          github       ::error/::warning/::notice workflow commands; the step summary goes to $GITHUB_STEP_SUMMARY
          markdown     the human summary, for any CI page or a pull-request comment
          html         one self-contained page with charts and a task table
          patch        every patch that would land (herd run --isolate), in task order, each after a
                       "# herd: task …" line; -o FILE keeps the bytes exact
        RUN is a run directory, a run id under --root, or with --store (or HERD_STORE) a run in a shared PostgreSQL store.
        Exit codes: 0 written; 255 bad flag, unreadable run directory, unreachable run store or unwritable output.
        """;

    public static int Run(string[] argv, TextWriter stdout, TextWriter stderr, string cwd, Func<string, string?>? environment = null)
    {
        var env = environment ?? Environment.GetEnvironmentVariable;
        return ErrorEdge.Run(HerdCommand.Report, stderr, () =>
        {
            var args = CommandLineParser.Parse(argv, Options, ExitCodes.For(HerdCommand.Report));
            if (args.Has(ReportCommand.Help))
            {
                stdout.Write(CommandLineParser.FormatHelp("herd report RUN --format FORMAT [-o FILE] [options]", Description, Options));
                return 0;
            }
            if (args.Positionals.Count != 1)
                throw new HerdUsageException("Error: herd report needs one run directory (or run id): herd report RUN --format sarif -o results.sarif");
            if (args.Value(ReportCommand.Format) is not { } formatName)
                throw new HerdUsageException("Error: herd report needs --format sarif|codequality|junit|github|markdown|html|patch");
            if (!ReportFormats.TryParse(formatName, out var format))
                throw new HerdUsageException($"Error: --format '{formatName}' is not one of sarif, codequality, junit, github, markdown, html, patch");
            if (format == ReportFormat.Patch)
                return WritePatches(args, cwd, env, stdout, stderr);
            var failSeverity = Severity.Major;
            if (args.Value(ReportCommand.FailSeverity) is { } fs && !SeverityExtensions.TryParse(fs, out failSeverity))
                throw new HerdUsageException($"Error: --fail-severity '{fs}' is not a level: use info, minor, major, critical or blocker");
            var options = new ReportOptions(ReportArguments.Findings(args), failSeverity, args.Value(ReportCommand.Category),
                args.Value(ReportCommand.RepoRoot) is { } root ? Path.GetFullPath(root, cwd) : null);
            // Every format is built from one pass over the run in bounded memory (issue #23) and written as it is made:
            // the machine formats list every finding and task without holding the document.
            var ctx = ReportArguments.Open(args, args.Positionals[0], cwd, env, options);
            var target = args.Value(ReportCommand.Output) is { } o ? Path.GetFullPath(o, cwd) : format == ReportFormat.Html ? Path.Combine(ctx.Header.Directory, RunReports.HtmlFileName) : null;
            IReadOnlyList<string> notes;
            try
            {
                notes = Write(ctx, format, target, stdout, stderr);
            }
            catch (System.Data.Common.DbException e)
            {
                // A shared run is read while its report is written, after the store answered once already.
                throw new HerdFatalException($"Error: reading run '{ctx.Header.RunId}' from its store failed ({e.Message.TrimEnd('.')}). Check that PostgreSQL is running and --store / HERD_STORE is right.", e);
            }
            if (format == ReportFormat.GitHub && env("GITHUB_STEP_SUMMARY") is { Length: > 0 } summary)
                File.AppendAllText(summary, MarkdownReport.Write(ctx).Content + "\n", new UTF8Encoding(false));
            foreach (var note in notes)
                stderr.WriteLine("herd report: " + note);
            return 0;
        });
    }

    /// <summary>Writes the report to <paramref name="target"/> (atomically) or stdout as it is made.</summary>
    /// <returns>The notes for stderr.</returns>
    private static IReadOnlyList<string> Write(ReportContext ctx, ReportFormat format, string? target, TextWriter stdout, TextWriter stderr)
    {
        if (target is null || target == "-")
        {
            using var sink = new TextWriterStream(stdout);
            var notes = ReportFormats.Render(ctx, format, sink);
            sink.Flush();
            return notes;
        }
        IReadOnlyList<string> written = [];
        try
        {
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            RunReports.WriteAtomically(target, file => written = ReportFormats.Render(ctx, format, file));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new HerdFatalException($"Error: cannot write the report: {e.Message} Choose a writable -o path.", e);
        }
        stderr.WriteLine($"herd report: wrote {target}");
        return written;
    }

    /// <summary>
    /// <c>--format patch</c>: the patches that would land, read one at a time from where the run keeps them (the run
    /// directory, or the shared store whichever worker ran the task). Bytes as stored with <c>-o</c>; stdout is text.
    /// </summary>
    private static int WritePatches(ParsedArguments args, string cwd, Func<string, string?> env, TextWriter stdout, TextWriter stderr)
    {
        var target = args.Value(ReportCommand.Output) is { } o && o != "-" ? Path.GetFullPath(o, cwd) : null;
        var (written, missing) = ReportArguments.WithPatches(args, args.Positionals[0], cwd, env, (run, patches) =>
        {
            if (target is null)
                return PatchSeries.Write(run, patches, bytes => stdout.Write(Encoding.UTF8.GetString(bytes)));
            try
            {
                Directory.CreateDirectory(Path.GetDirectoryName(target)!);
                using var file = File.Create(target);
                return PatchSeries.Write(run, patches, bytes => file.Write(bytes));
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw new HerdFatalException($"Error: cannot write the patches: {e.Message} Choose a writable -o path.", e);
            }
        });
        if (target is not null)
            stderr.WriteLine($"herd report: wrote {target}");
        stderr.WriteLine($"herd report: {written} patch(es) would land{(missing > 0 ? $"; {missing} missing from the run's store" : "")}.");
        return 0;
    }
}
