using Herd.Agent;
using Herd.Fleet.Isolation;
using Herd.Fleet.Reports;
using Herd.Fleet.Store;
using Herd.Fleet.Store.Postgres;

namespace Herd.Cli;

/// <summary>What <c>herd report</c> and <c>herd gate</c> share: finding a run by directory, id or shared store, and the findings flags.</summary>
internal static class ReportArguments
{
        public static readonly OptionSpec FindingsPath = new(["--findings"], Arity.Value, "Where the findings list sits in each task's structured output (default issues; e.g. review.findings)", "path");
    public static readonly OptionSpec SeverityMapOption = new(["--severity-map"], Arity.Value, "Extra severity words: word=level,… (levels info, minor, major, critical, blocker)", "map");
    public static readonly OptionSpec Root = new(["--root"], Arity.Value, "Where run ids are looked up (default .herd/runs)", "dir");
    public static readonly OptionSpec Store = new(["--store"], Arity.Value, "Read the run from a shared run store, postgres://user:password@host/db (env HERD_STORE; RUN is then its run id)", "url");

    public static readonly OptionSpec[] FindingsOptions =
    [
        FindingsPath,
        SeverityMapOption,
        Root,
        Store,
    ];

    /// <summary>
    /// Reads RUN for a report or a gate: from the shared store given by <c>--store</c> (or HERD_STORE, unless RUN is a
    /// local run directory, or the id of one under <c>--root</c>, with its own run.db), else from the run directory. A
    /// shared run's reports go to its local run directory (RUN when that directory exists, else the run id under
    /// <c>--root</c>), as <c>herd run --store</c> wrote it.
    /// </summary>
    /// <exception cref="HerdUsageException">No such run, or a bad --store.</exception>
    /// <exception cref="HerdFatalException">The store cannot be reached.</exception>
    /// <exception cref="RunDirectoryException">The run directory or a record is damaged.</exception>
    public static ReportContext Open(ParsedArguments args, string run, string cwd, Func<string, string?> environment, ReportOptions options) =>
        Locate(args, run, cwd, environment, dir => new ReportContext(RunReader.Open(dir), options), (open, dir) => new ReportContext(RunReader.Open(open, dir), options));

    /// <summary>
    /// Opens RUN as <see cref="Open"/> finds it, to be read one task at a time, and hands it to <paramref name="use"/>
    /// with the run's patches: the files of its run directory, or the shared store's (open meanwhile), wherever its
    /// workers ran.
    /// </summary>
    /// <exception cref="HerdUsageException">No such run, or a bad --store.</exception>
    /// <exception cref="HerdFatalException">The store cannot be reached.</exception>
    public static T WithPatches<T>(ParsedArguments args, string run, string cwd, Func<string, string?> environment, Func<RunStream, IPatchStore, T> use) =>
        Locate(args, run, cwd, environment, dir => use(RunReader.Open(dir), new PatchFiles(dir)), (open, dir) =>
        {
            using var patches = open();
            return use(RunReader.Open(open, dir), patches);
        });

    /// <summary>Opens RUN as <see cref="Open"/> finds it, to be read one task at a time (the reports of a run of any size).</summary>
    /// <exception cref="HerdUsageException">No such run, or a bad --store.</exception>
    /// <exception cref="HerdFatalException">The store cannot be reached.</exception>
    /// <exception cref="RunDirectoryException">The run directory or a record is damaged.</exception>
    public static RunDigest Digest(ParsedArguments args, string run, string cwd, Func<string, string?> environment, ReportOptions options) =>
        Locate(args, run, cwd, environment, dir => RunDigest.Build(RunReader.Open(dir), options), (open, dir) => RunDigest.Build(RunReader.Open(open, dir), options));

    private static T Locate<T>(ParsedArguments args, string run, string cwd, Func<string, string?> environment, Func<string, T> local, Func<Func<ISharedRunStore>, string, T> shared)
    {
        var root = args.Value(Root);
        var explicitStore = args.Value(Store);
        var asDir = Path.GetFullPath(run, cwd);
        var runs = Path.GetFullPath(root ?? Path.Combine(".herd", "runs"), cwd);
        var sqliteRun = File.Exists(Path.Combine(asDir, "run.db")) || File.Exists(Path.Combine(runs, run, "run.db"));
        if (Run.RunArguments.ParseStore(explicitStore ?? (sqliteRun ? null : environment("HERD_STORE"))) is not { } location)
            return local(ResolveRun(run, root, cwd));
        var runId = Run.SharedRunCommand.RunIdOf(run);
        var dir = Directory.Exists(asDir) ? asDir : Path.Combine(runs, runId);
        try
        {
            return shared(() => Run.SharedRunCommand.OpenExisting(location, runId), dir);
        }
        catch (System.Data.Common.DbException e)
        {
            throw new HerdFatalException($"Error: reading run '{runId}' from {location.Redacted} failed ({e.Message.TrimEnd('.')}). Check that PostgreSQL is running and --store / HERD_STORE is right.", e);
        }
    }

    /// <summary>A run directory, or the id of a run under <c>--root</c>.</summary>
    /// <exception cref="HerdUsageException">Neither exists.</exception>
    public static string ResolveRun(string run, string? root, string cwd)
    {
        var asDir = Path.GetFullPath(run, cwd);
        if (Directory.Exists(asDir))
            return asDir;
        var runs = Path.GetFullPath(root ?? Path.Combine(".herd", "runs"), cwd);
        var byId = Path.Combine(runs, run);
        if (Directory.Exists(byId))
            return byId;
        throw new HerdUsageException($"Error: no run directory '{run}' (looked in {asDir} and {byId}). Pass the directory `herd run --run-dir` wrote, or a run id from `herd runs list`.");
    }

    /// <exception cref="HerdUsageException">A bad --severity-map.</exception>
    public static FindingsOptions Findings(ParsedArguments args)
    {
        var map = args.Value(ReportArguments.SeverityMapOption) is { } m ? SeverityMap.Parse(m) : SeverityMap.Default;
        var path = args.Value(ReportArguments.FindingsPath) is { Length: > 0 } p ? p : Fleet.Reports.FindingsOptions.Default.Path;
        return new FindingsOptions(path, map);
    }
}
