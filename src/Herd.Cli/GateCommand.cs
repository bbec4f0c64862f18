using Herd.Agent;
using Herd.Fleet.Reports;

namespace Herd.Cli;

/// <summary>
/// <c>herd gate RUN --max-failed N|P% --max-severity LEVEL --max-findings N --max-cost USD</c> (issue #11 item 4).
/// Exit 0 when every condition holds; 1 with one line per failed condition; 255 bad flags or an unreadable run
/// (<see cref="ExitCodes"/>).
/// </summary>
public static class GateCommand
{
        public static readonly OptionSpec MaxFailed = new(["--max-failed"], Arity.Value, "At most this many failed or unfinished tasks, or this share of the plan (5%)", "n|p%");
    public static readonly OptionSpec MaxSeverity = new(["--max-severity"], Arity.Value, "No finding above this level (info, minor, major, critical, blocker)", "level");
    public static readonly OptionSpec MaxFindings = new(["--max-findings"], Arity.Value, "At most this many findings", "n");
    public static readonly OptionSpec MaxCost = new(["--max-cost"], Arity.Value, "At most this many US dollars spent", "usd");
    public static readonly OptionSpec Help = new(["-h", "--help"], Arity.Flag, "Show this help");

    private static readonly IReadOnlyList<OptionSpec> Options =
    [
        MaxFailed,
        MaxSeverity,
        MaxFindings,
        MaxCost,
        .. ReportArguments.FindingsOptions,
        Help,
    ];

    public static int Run(string[] argv, TextWriter stdout, TextWriter stderr, string cwd) =>
        ErrorEdge.Run(HerdCommand.Gate, stderr, () =>
        {
            var args = CommandLineParser.Parse(argv, Options, ExitCodes.For(HerdCommand.Gate));
            if (args.Has(GateCommand.Help))
            {
                stdout.Write(CommandLineParser.FormatHelp("herd gate RUN [--max-failed N|P%] [--max-severity LEVEL] [--max-findings N] [--max-cost USD]",
                    "Checks a run against quality gates. Exit 0 when all hold; 1 with one line per failed condition;\n255 bad flag, unreadable run directory or unreachable run store. Unfinished tasks count as failed.\nRUN is a run directory, a run id under --root, or with --store (or HERD_STORE) a run in a shared PostgreSQL store.", Options));
                return 0;
            }
            if (args.Positionals.Count != 1)
                throw new HerdUsageException("Error: herd gate needs one run directory (or run id): herd gate RUN --max-failed 0");
            var gate = new GateOptions();
            foreach (var condition in new[] { MaxFailed, MaxSeverity, MaxFindings, MaxCost })
            {
                if (args.Value(condition) is { } v)
                    gate = gate.With(condition.Key[2..], v);
            }
            var findings = ReportArguments.Findings(args);
            var run = ReportArguments.Digest(args, args.Positionals[0], cwd, Environment.GetEnvironmentVariable, ReportOptions.Default with { Findings = findings });
            // Without conditions, the run is checked against the gate it was created with (--gate, in its stored definition).
            if (gate.IsEmpty)
                gate = run.Header.Definition?.Gate is { IsEmpty: false } stored ? stored
                    : throw new HerdUsageException("Error: herd gate needs at least one condition (the run was created without --gate): --max-failed, --max-severity, --max-findings or --max-cost");
            var result = Gate.Evaluate(run, gate);
            foreach (var line in result.Failures)
                stderr.WriteLine(line);
            if (result.Passed)
                stderr.WriteLine("gate passed");
            return result.ExitCode;
        });
}
