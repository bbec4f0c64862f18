using Herd.Fleet.Jobs;

namespace Herd.Fleet.Engines;

/// <summary>One attempt to run: the task, its attempt number, its slot and limits.</summary>
/// <param name="Prompt">The prompt with <c>{%}</c> rendered for this slot.</param>
/// <param name="SpentBeforeUsd">What the task's earlier attempts cost; a per-task cap leaves this attempt only the rest.</param>
/// <param name="ResumeSessionId">The session an interrupted earlier attempt of this task reported; an engine whose CLI can resume continues it (issue #13).</param>
public sealed record TaskAttempt(FleetTask Task, int Number, int Slot, string Prompt, string SessionId, TimeSpan? Timeout, TimeSpan? IdleTimeout, double SpentBeforeUsd = 0, string? ResumeSessionId = null);

/// <summary>What an engine reports while an attempt runs, so the scheduler can react before the attempt ends.</summary>
public interface IAttemptObserver
{
    /// <summary>A 429/529 seen by an inner retry (spec §5 "one retry layer": inner retries are read as back-pressure).</summary>
    void OnBackPressure(int status, TimeSpan? retryAfter);

    /// <summary>
    /// A finished API call of a running attempt and its cost. Recorded as it happens, so a run killed mid-attempt still
    /// counts what that attempt spent when it is resumed (the run-wide budget must hold across kill -9).
    /// </summary>
    void OnCallCost(TaskAttempt attempt, double costUsd);
}

/// <summary>
/// The seam between the scheduler and what runs a task (design.md): the in-process agent here; claude, codex and plain
/// commands later. An engine never throws for a task failure; it returns a classified <see cref="TaskOutcome"/>.
/// </summary>
public interface ITaskEngine
{
    /// <value>e.g. <c>herd</c>; part of the task key.</value>
    string Name { get; }

    string Version { get; }

    /// <summary>The engine that runs <paramref name="task"/> (its name and version go into the task's record).</summary>
    ITaskEngine EngineFor(FleetTask task) => this;

    /// <summary>Runs one attempt. Cancelling the token ends it as <see cref="OutcomeClass.Cancelled"/>.</summary>
    Task<TaskOutcome> RunAsync(TaskAttempt attempt, IAttemptObserver observer, CancellationToken cancellationToken = default);
}
