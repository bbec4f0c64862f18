using Herd.Fleet.Runs;

namespace Herd.Cli;

/// <summary>The commands of the <c>herd</c> executable, as the exit-code table names them.</summary>
public enum HerdCommand
{
    Print,
    Sessions,
    Run,
    Runs,
    Merge,
    Worker,
    Report,
    Gate,
    Ci,
    Apply,
}

/// <summary>How one command ends when it cannot do what it was asked.</summary>
/// <param name="Name">The command as users type it, e.g. <c>herd run</c>; it names the help in hints.</param>
/// <param name="Usage">The command line or an input file is wrong: nothing was done, fix it and run again.</param>
/// <param name="Fatal">The command was right but its state or environment was not (a damaged run, a full disk).</param>
public sealed record CommandExits(string Name, int Usage, int Fatal)
{
    /// <summary>The hint that ends an unknown-option line: <c>See `herd run --help`.</c></summary>
    public string HelpHint => $"See `{Name} --help`.";
}

/// <summary>
/// The one exit-code table of the <c>herd</c> executable (docs/architecture.md, "Exit codes"). <see cref="ErrorEdge"/>
/// reads a command's usage and fatal codes from here; the commands' own outcome codes (failed tasks, a failed gate, an
/// incomplete merge) are listed beside them. <c>herd -p</c> and <c>herd sessions</c> exit 1 for every error, as Claude
/// Code's print mode does; the fleet commands keep 1–254 for their outcomes and exit 255 when they could not run.
/// </summary>
public static class ExitCodes
{
    public const int Success = 0;

    /// <summary><c>herd -p</c> and <c>herd sessions</c>: any error (Claude Code's print mode).</summary>
    public const int PrintError = 1;

    /// <summary>A fleet command could not run: a usage error, or damaged state or environment.</summary>
    public const int CouldNotRun = RunExitCodes.Usage;

    /// <summary><c>herd gate</c>: a condition failed (one line each).</summary>
    public const int GateFailed = 1;

    /// <summary><c>herd merge</c>: merged, with shards or tasks missing (each named).</summary>
    public const int MergeIncomplete = 1;

    /// <summary><c>herd apply</c>: some patches were skipped (conflict, refused, missing; each listed).</summary>
    public const int ApplySkipped = 1;

    /// <summary><c>herd runs list</c>: listed, but damaged runs were skipped (each named).</summary>
    public const int ListSkippedDamaged = 1;

    public const int Interrupted = RunExitCodes.Interrupted;
    public const int Terminated = RunExitCodes.Terminated;

    public static CommandExits For(HerdCommand command) => command switch
    {
        HerdCommand.Print => new("herd", PrintError, PrintError),
        HerdCommand.Sessions => new("herd sessions", PrintError, PrintError),
        HerdCommand.Run => new("herd run", CouldNotRun, CouldNotRun),
        HerdCommand.Runs => new("herd runs", CouldNotRun, CouldNotRun),
        HerdCommand.Merge => new("herd merge", CouldNotRun, CouldNotRun),
        HerdCommand.Worker => new("herd worker", CouldNotRun, CouldNotRun),
        HerdCommand.Report => new("herd report", CouldNotRun, CouldNotRun),
        HerdCommand.Gate => new("herd gate", CouldNotRun, CouldNotRun),
        HerdCommand.Ci => new("herd ci", CouldNotRun, CouldNotRun),
        HerdCommand.Apply => new("herd apply", CouldNotRun, CouldNotRun),
        _ => throw new ArgumentOutOfRangeException(nameof(command), command, null),
    };
}
