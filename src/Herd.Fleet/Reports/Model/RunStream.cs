namespace Herd.Fleet.Reports;

/// <summary>What a report knows about a run before it reads a single record: small, whatever the run's size.</summary>
/// <param name="Planned">Tasks in the plan (finished or not).</param>
/// <param name="CeilingUsd">The run's <c>--budget-usd</c>, if it had one.</param>
/// <param name="WallS">Wall-clock seconds from summary.json; null when the run left none (the reports then use first start to last end).</param>
public sealed record RunHeader(
    string Directory,
    string RunId,
    string Status,
    int? ExitCode,
    string Cwd,
    int Planned,
    IReadOnlyList<ReportPause> Pauses,
    double? CeilingUsd,
    double? WallS,
    Runs.RunDefinition? Definition = null);

/// <summary>
/// A run read one task at a time (issue #23: reports for any size). <see cref="Tasks"/> reads the finished tasks in the
/// order they finished, each with its attempts, and may be enumerated again (each pass reads the store afresh). A task's
/// <see cref="ReportTask.StructuredOutput"/> is valid only until the enumeration moves on: a consumer that keeps
/// something from a task copies it.
/// </summary>
public sealed class RunStream(RunHeader header, Func<IEnumerable<ReportTask>> tasks)
{
    public RunHeader Header { get; } = header;

    public IEnumerable<ReportTask> Tasks() => tasks();

    /// <summary>A run already in memory (tests, merged reads) as a stream, so every report has one code path.</summary>
    public static RunStream Of(RunData run) =>
        new(new RunHeader(run.Directory, run.RunId, run.Status, run.ExitCode, run.Cwd, run.Planned, run.Pauses, run.CeilingUsd, run.WallS), () => run.Tasks);
}
