using Herd.Agent;
using Herd.Fleet.Reports;

namespace Herd.Cli;

/// <summary>What <c>herd report</c> and <c>herd gate</c> share: finding a run by directory or id, and the findings flags.</summary>
internal static class ReportArguments
{
        public static readonly OptionSpec FindingsPath = new(["--findings"], Arity.Value, "Where the findings list sits in each task's structured output (default issues; e.g. review.findings)", "path");
    public static readonly OptionSpec SeverityMapOption = new(["--severity-map"], Arity.Value, "Extra severity words: word=level,… (levels info, minor, major, critical, blocker)", "map");
    public static readonly OptionSpec Root = new(["--root"], Arity.Value, "Where run ids are looked up (default .herd/runs)", "dir");

    public static readonly OptionSpec[] FindingsOptions =
    [
        FindingsPath,
        SeverityMapOption,
        Root,
    ];

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
        try
        {
            var map = args.Value(ReportArguments.SeverityMapOption) is { } m ? SeverityMap.Parse(m) : SeverityMap.Default;
            var path = args.Value(ReportArguments.FindingsPath) is { Length: > 0 } p ? p : Fleet.Reports.FindingsOptions.Default.Path;
            return new FindingsOptions(path, map);
        }
        catch (FormatException e)
        {
            throw new HerdUsageException("Error: " + e.Message);
        }
    }
}
