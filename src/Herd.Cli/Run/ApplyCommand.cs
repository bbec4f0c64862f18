using Herd.Agent;
using Herd.Fleet.Isolation;
using Herd.Fleet.Reports;
using Herd.Fleet.Runs;
using Herd.Fleet.Store;

namespace Herd.Cli.Run;

/// <summary>
/// <c>herd apply RUN [--branch NAME] [--commit-per-task] [--check] [--allow-path GLOB]</c>: lands the patches of a
/// run's successful tasks (<c>herd run --isolate</c>) in the current git repository, in task order, through
/// <see cref="PatchApplier"/>. Output: one tab-separated line per patch on stdout (verdict, key, task, files).
/// </summary>
public static class ApplyCommand
{
    public const int Skipped = 1;

    public static readonly OptionSpec Branch = new(["--branch"], Arity.Value, "Create this branch at HEAD and land the patches on it (one commit, or one per task)", "name");
    public static readonly OptionSpec CommitPerTask = new(["--commit-per-task"], Arity.Flag, "One commit per task, its message naming the task and the run");
    public static readonly OptionSpec Check = new(["--check"], Arity.Flag, "Report what would apply on HEAD, in order; change nothing");
    public static readonly OptionSpec AllowPath = new(["--allow-path"], Arity.Value, "Let patches touch this protected path glob (.github/**, .gitlab-ci.yml, Jenkinsfile, .claude/, .herd/); repeatable", "glob");
    public static readonly OptionSpec Help = new(["-h", "--help"], Arity.Flag, "Show this help");

    private static readonly IReadOnlyList<OptionSpec> Options = [Branch, CommitPerTask, Check, AllowPath, ReportArguments.Root, ReportArguments.Store, Help];

    private const string Usage = "herd apply RUN [--branch NAME] [--commit-per-task] [--check] [--allow-path GLOB]";

    private const string Description = """
        Apply the patches of a run's successful tasks (herd run --isolate worktree|copy) to the git repository of the
        current directory, in task order. Each patch is checked before it is applied, so none is ever half-applied: a
        patch that conflicts with the ones before it is skipped and listed with its files. A patch that touches .git/,
        .claude/, .herd/ or CI configuration (.github/, .gitlab-ci.yml, Jenkinsfile) is refused unless --allow-path
        names the path. Without --branch or --commit-per-task the changes are left uncommitted in the working tree.
        With --store (or HERD_STORE) RUN is a shared run's id, and its records and patches are read from the store,
        whichever machine ran each task.
        """;

    private const string Footer = """
        Examples:
          herd apply .herd/runs/20261203-1400-ab12 --check
          herd apply 20261203-1400-ab12 --branch herd/migrate-logging --commit-per-task
          herd apply slf4j --store postgres://user:pass@db/herd --branch herd/slf4j

        Output: one line per patch on stdout: applied|conflict|refused|missing, task key, task name, files.
        Exit codes: 0 every patch applied (or would), 1 some were skipped (conflict, refused, missing),
        255 could not run (no such run, not a git repository, staged changes, git failed on the repository or branch).
        See docs/migrations.md.
        """;

    public static int Run(string[] argv, TextWriter stdout, TextWriter stderr, string cwd) =>
        ErrorEdge.Run(HerdCommand.Apply, stderr, () => RunCore(argv, stdout, stderr, cwd));

    private static int RunCore(string[] argv, TextWriter stdout, TextWriter stderr, string cwd)
    {
        var args = CommandLineParser.Parse(argv, Options);
        if (args.Has(Help))
        {
            stdout.Write(CommandLineParser.FormatHelp(Usage, Description, Options, Footer + "\n"));
            return 0;
        }
        if (args.Positionals.Count != 1)
            throw new HerdUsageException($"Error: herd apply needs one RUN (a run directory or id). Usage: {Usage}");
        // From the run directory, or from the shared store (--store): the records say which tasks succeeded, and the
        // patches are read from where the run keeps them (the shared store's, whichever machine ran the task).
        return ReportArguments.WithPatches(args, args.Positionals[0], cwd, Environment.GetEnvironmentVariable, (run, patches) => Land(run, patches, args, stdout, stderr, cwd));
    }

    private static int Land(RunStream run, IPatchStore store, ParsedArguments args, TextWriter stdout, TextWriter stderr, string cwd)
    {
        var top = Git.Run(cwd, "rev-parse", "--show-toplevel");
        if (!top.Ok)
            throw new HerdUsageException($"Error: herd apply lands patches in a git repository, and '{cwd}' is not in one. Run it from the repository the run changed.");
        var repository = top.Text;
        var options = new ApplyOptions(run.Header.RunId, args.Value(Branch), args.Has(CommitPerTask), args.Has(Check), args.Values(AllowPath));
        if (!options.Check && (options.Branch is not null || options.CommitPerTask) && !Git.Run(repository, "diff", "--cached", "--quiet").Ok)
            throw new HerdUsageException("Error: the index has staged changes, and herd apply would commit them with the patches. Commit or unstage them first (git stash).");
        if (options.Branch is { } branch && Git.Run(repository, "rev-parse", "--verify", "--quiet", "refs/heads/" + branch).Ok)
            throw new HerdUsageException($"Error: branch '{branch}' already exists. Pass a new --branch NAME, or delete it first.");

        var results = PatchApplier.Apply(repository, Patches(run), store, options);
        foreach (var r in results)
            stdout.WriteLine($"{Verdict(r.Verdict, options.Check)}\t{r.Patch.Key[..Math.Min(12, r.Patch.Key.Length)]}\t{OneLine(r.Patch.Task)}\t{string.Join(' ', r.Files)}");
        foreach (var r in results.Where(r => r.Verdict != ApplyVerdict.Applied))
            stderr.WriteLine($"herd apply: {Verdict(r.Verdict, false)}: task '{r.Patch.Task}' ({string.Join(", ", r.Files)}): {r.Detail}");
        var landed = results.Count(r => r.Verdict == ApplyVerdict.Applied);
        var where = options.Check ? "would apply on HEAD" : options.Branch is { } b ? $"applied on branch {b}" : "applied to the working tree";
        stderr.WriteLine($"herd apply: {landed}/{results.Count} patch(es) {where}; {results.Count(r => r.Verdict == ApplyVerdict.Conflict)} conflict(s), {results.Count(r => r.Verdict == ApplyVerdict.Refused)} refused, {results.Count(r => r.Verdict == ApplyVerdict.Missing)} missing.");
        return landed == results.Count ? 0 : Skipped;
    }

    /// <summary>The patches of successful tasks, in task order: what <c>herd report --format patch</c> lists too.</summary>
    internal static IReadOnlyList<TaskPatch> Patches(RunStream run) =>
        PatchSeries.Landing(run).Select(p => new TaskPatch(p.Seq, p.Key, p.Name)).ToArray();

    private static string Verdict(ApplyVerdict v, bool check) => v switch
    {
        ApplyVerdict.Applied => check ? "would-apply" : "applied",
        ApplyVerdict.Conflict => "conflict",
        ApplyVerdict.Refused => "refused",
        _ => "missing",
    };

    private static string OneLine(string s) => s.Replace('\t', ' ').Replace('\n', ' ');
}
