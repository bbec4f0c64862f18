using System.Security.Cryptography;
using System.Text;

namespace Herd.Fleet.Reports;

/// <summary>How the reports read a run: where findings sit, which severity fails a JUnit case, the SARIF category, the repository root.</summary>
/// <param name="FailSeverity">A task with a finding at or above this severity is a failed JUnit test case.</param>
/// <param name="Category">
/// SARIF <c>automationDetails.id</c> prefix, GitHub code scanning's category: keep it stable between runs so alerts are
/// tracked. Null (the default) writes no <c>automationDetails</c>, so the category the upload names applies
/// (<c>upload-sarif</c> keeps an id already in the file and ignores its own <c>category</c> input).
/// </param>
/// <param name="RepoRoot">Finding paths are made relative to it; default: the git work tree around the run's working directory.</param>
public sealed record ReportOptions(FindingsOptions Findings, Severity FailSeverity = Severity.Major, string? Category = null, string? RepoRoot = null)
{
    public static ReportOptions Default { get; } = new(FindingsOptions.Default);
}

/// <summary>What a format produced: the bytes to write, and notes for stderr (e.g. results left out to stay within a limit).</summary>
public sealed record ReportOutput(string Content, IReadOnlyList<string> Notes)
{
    /// <summary>A format written to a stream, collected as text: for a run small enough to hold its report (tests, comments).</summary>
    public static ReportOutput Collect(Func<Stream, IReadOnlyList<string>> write)
    {
        using var buffer = new MemoryStream();
        var notes = write(buffer);
        return new ReportOutput(new UTF8Encoding(false).GetString(buffer.GetBuffer(), 0, (int)buffer.Length), notes);
    }
}

/// <summary>
/// A run opened for the formats, read one task at a time (issue #23): each format makes its own pass over
/// <see cref="Run"/>, extracting a task's findings as it reads it, and keeps only what its output needs.
/// </summary>
public sealed class ReportContext
{
    public ReportContext(RunStream run, ReportOptions options)
    {
        Run = run;
        Options = options;
        RepoRoot = RepoPaths.Root(options.RepoRoot, run.Header.Cwd);
    }

    /// <summary>A run already in memory (tests, a small run read whole).</summary>
    public ReportContext(RunData run, ReportOptions options)
        : this(RunStream.Of(run), options)
    {
    }

    public RunStream Run { get; }

    public RunHeader Header => Run.Header;

    public ReportOptions Options { get; }

    public string RepoRoot { get; }

    /// <summary>A task's findings, in the order its structured output lists them.</summary>
    public IEnumerable<Finding> FindingsOf(ReportTask task) => FindingExtractor.Extract(task, Options.Findings);

    /// <summary>A finding's file as a repository-relative path with forward slashes (what SARIF, Code Quality and GitHub annotations want).</summary>
    public string? RelativePath(string? file) => RepoPaths.Relative(file, RepoRoot, Run.Header.Cwd);

    /// <summary>
    /// A stable fingerprint of a finding: its rule, path and the text of its line when the file is there (so it
    /// survives edits that move the line), else its message. 16 hex digits of SHA-256.
    /// </summary>
    public string Fingerprint(Finding f, string rule)
    {
        var path = RelativePath(f.File) ?? "";
        var anchor = LineText(path, f.Line) ?? f.Message.Trim();
        var hash = SHA256.HashData(Encoding.UTF8.GetBytes($"{rule}\0{path}\0{anchor}"));
        return Convert.ToHexStringLower(hash)[..16];
    }

    // The files read for fingerprints, a few at a time: a run's findings name files by the hundred thousand, and the
    // findings of one file come together (one task reviews one file), so a small cache serves them in bounded memory.
    private const int CachedFiles = 64;
    private readonly Dictionary<string, string[]?> _files = new(StringComparer.Ordinal);

    private string? LineText(string path, int? line)
    {
        if (path.Length == 0 || line is not { } n)
            return null;
        if (!_files.TryGetValue(path, out var lines))
        {
            var full = Path.Combine(RepoRoot, path);
            try
            {
                lines = File.Exists(full) && new FileInfo(full).Length < 4 * 1024 * 1024 ? File.ReadAllLines(full) : null;
            }
            catch (IOException)
            {
                lines = null;
            }
            catch (UnauthorizedAccessException)
            {
                lines = null;
            }
            if (_files.Count >= CachedFiles)
                _files.Clear();
            _files[path] = lines;
        }
        return lines is not null && n <= lines.Length ? string.Concat(lines[n - 1].Where(c => !char.IsWhiteSpace(c))) : null;
    }

    /// <summary>The rule a finding belongs to: its own rule/check/category, else one rule per severity.</summary>
    public static string RuleId(Finding f)
    {
        if (f.Rule is { Length: > 0 } r)
        {
            var slug = new string(r.Trim().Select(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.' or '/' ? char.ToLowerInvariant(c) : '-').ToArray()).Trim('-');
            if (slug.Length > 0)
                return "herd/" + (slug.Length > 64 ? slug[..64] : slug);
        }
        return "herd/review-" + f.Severity.Name();
    }
}

/// <summary>Where findings' paths are relative to: the repository around the run's working directory.</summary>
public static class RepoPaths
{
    /// <param name="configured">--repo-root, when given.</param>
    public static string Root(string? configured, string cwd) => Path.GetFullPath(configured ?? FindRepoRoot(cwd));

    /// <summary>A finding's file as a repository-relative path with forward slashes (what SARIF, Code Quality and GitHub annotations want).</summary>
    public static string? Relative(string? file, string repoRoot, string cwd)
    {
        if (string.IsNullOrWhiteSpace(file))
            return null;
        var f = file.Trim().Replace('\\', '/');
        if (f.StartsWith("file://", StringComparison.Ordinal))
            f = Uri.UnescapeDataString(f[7..]);
        if (Path.IsPathRooted(f))
        {
            var rel = Path.GetRelativePath(repoRoot, f).Replace('\\', '/');
            return rel.StartsWith("../", StringComparison.Ordinal) ? f : rel;
        }
        while (f.StartsWith("./", StringComparison.Ordinal))
            f = f[2..];
        // A path relative to the run's working directory, when that is below the repository root.
        var cwdRel = Path.GetRelativePath(repoRoot, cwd).Replace('\\', '/');
        return cwdRel is "." || cwdRel.StartsWith("..", StringComparison.Ordinal) || File.Exists(Path.Combine(repoRoot, f)) ? f : cwdRel + "/" + f;
    }

    private static string FindRepoRoot(string cwd)
    {
        for (var d = new DirectoryInfo(cwd); d is not null; d = d.Parent)
        {
            if (Directory.Exists(Path.Combine(d.FullName, ".git")) || File.Exists(Path.Combine(d.FullName, ".git")))
                return d.FullName;
        }
        return cwd;
    }
}
