namespace Herd.Fleet.Isolation;

/// <summary>One file a task changed; added/removed are null for a binary file.</summary>
public sealed record FileChange(string Path, int? Added, int? Removed);

/// <summary>What one task changed in its tree, against the run's starting commit.</summary>
/// <param name="Patch">The patch's path relative to the run directory (<c>patches/KEY.patch</c>); null when nothing changed.</param>
public sealed record TreeChanges(string? Patch, IReadOnlyList<FileChange> Files)
{
    public static TreeChanges Empty { get; } = new(null, []);

    public int LinesAdded => Files.Sum(f => f.Added ?? 0);

    public int LinesRemoved => Files.Sum(f => f.Removed ?? 0);
}

/// <summary>How <c>--verify</c> went for one task.</summary>
/// <param name="Runs">How many times the command ran.</param>
/// <param name="FixRounds">How many times its failure went back to the session.</param>
/// <param name="ExitCode">The last run's exit code (−1 when it was stopped at its timeout).</param>
/// <param name="OutputTail">The end of the last run's output (stdout and stderr), at most <see cref="Verifier.TailChars"/> characters.</param>
public sealed record VerifyReport(string Command, bool Passed, int Runs, int FixRounds, int ExitCode, TimeSpan Duration, string OutputTail);
