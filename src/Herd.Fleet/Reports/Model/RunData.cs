using System.Text.Json;

namespace Herd.Fleet.Reports;

/// <summary>One attempt of a task as the reports draw it: when, on which slot, and how it ended.</summary>
/// <param name="Slot">The scheduler slot the attempt ran in (a row of the timeline); null in runs written before slots were stored.</param>
public sealed record ReportAttempt(int N, int? Slot, DateTimeOffset Start, DateTimeOffset? End, string? Class, double CostUsd);

/// <summary>A finished task: the fields of its spec §8 record that the reports use, plus its attempts from run.db.</summary>
public sealed record ReportTask(
    int Seq,
    string Key,
    string Name,
    string Class,
    string? Shard,
    DateTimeOffset Start,
    DateTimeOffset End,
    double RuntimeS,
    double CostUsd,
    long InputTokens,
    long OutputTokens,
    long CacheReadTokens,
    long CacheWriteTokens,
    int Retries,
    string? Model,
    string SessionId,
    string ResultText,
    string? Error,
    JsonElement? StructuredOutput,
    IReadOnlyList<ReportAttempt> Attempts)
{
    /// <value>The class as Herd's type; null for a class this Herd does not know (a record written by a newer one).</value>
    public Herd.Fleet.Engines.OutcomeClass? Outcome => Herd.Fleet.Engines.OutcomeClasses.Parse(Class);

    public bool Succeeded => Outcome is { } c && Herd.Fleet.Engines.OutcomeClasses.IsSuccess(c);

    /// <value>Cancelled tasks are resumable, not failures.</value>
    public bool Failed => !Succeeded && Outcome != Herd.Fleet.Engines.OutcomeClass.Cancelled;

    /// <value>What the task changed in its own tree (<c>herd run --isolate</c>); null when the run did not isolate tasks.</value>
    public ReportChanges? Changes { get; init; }

    /// <value>How <c>--verify</c> went; null without it.</value>
    public ReportVerify? Verify { get; init; }
}

/// <summary>A task's patch (relative to the run directory) and its size: files changed, lines added and removed.</summary>
public sealed record ReportChanges(string? Patch, IReadOnlyList<string> Files, int LinesAdded, int LinesRemoved);

/// <summary>A task's verification: passed or not, how many runs and fix rounds, the last output's tail.</summary>
public sealed record ReportVerify(bool Passed, int Runs, int FixRounds, double Seconds, string OutputTail);

/// <summary>A fleet-wide pause (usage window or rate limit) as recorded in run.db's events, when the run recorded any.</summary>
public sealed record ReportPause(DateTimeOffset Start, DateTimeOffset End, string Reason);

/// <summary>Everything a report reads from a run directory, read once.</summary>
/// <param name="Planned">Tasks in the plan (finished or not).</param>
/// <param name="CeilingUsd">The run's <c>--budget-usd</c>, from summary.json, if it had one.</param>
/// <param name="WallS">Wall-clock seconds of the run from summary.json, else first start to last end.</param>
public sealed record RunData(
    string Directory,
    string RunId,
    string Status,
    int? ExitCode,
    string Cwd,
    int Planned,
    IReadOnlyList<ReportTask> Tasks,
    IReadOnlyList<ReportPause> Pauses,
    double? CeilingUsd,
    double WallS)
{
    public int Unfinished => Math.Max(0, Planned - Tasks.Count);

    public double CostUsd => Tasks.Sum(t => t.CostUsd);
}
