using Herd.Fleet.Jobs;

namespace Herd.Fleet.Engines;

/// <summary>One attempt to run: the task, its attempt number, its slot and limits.</summary>
/// <param name="Prompt">The prompt with <c>{%}</c> rendered for this slot.</param>
/// <param name="SpentBeforeUsd">What the task's earlier attempts cost; a per-task cap leaves this attempt only the rest.</param>
/// <param name="ResumeSessionId">The session an interrupted earlier attempt of this task reported; an engine whose CLI can resume continues it (issue #13).</param>
/// <param name="WorkingDirectory">
/// Where this attempt works and what its tools are confined to (the task's own tree under <c>--isolate</c>); null = the
/// run's working directory.
/// </param>
/// <param name="TurnsBefore">Turns this attempt already used in earlier rounds (verify fix rounds): the turn cap covers them all.</param>
/// <param name="Conversation">
/// Set when the attempt may be continued in the same session (a verify fix round): the in-process engine keeps its
/// conversation there, so the next round starts from it.
/// </param>
public sealed record TaskAttempt(FleetTask Task, int Number, int Slot, string Prompt, string SessionId, TimeSpan? Timeout, TimeSpan? IdleTimeout, double SpentBeforeUsd = 0, string? ResumeSessionId = null,
    string? WorkingDirectory = null, int TurnsBefore = 0, ConversationCarry? Conversation = null);

/// <summary>
/// The conversation of one attempt, kept in memory between its rounds (the in-process engine writes it at the end of a
/// round and starts the next from it). It lives as long as the attempt, never in the run store.
/// </summary>
public sealed class ConversationCarry
{
    private IReadOnlyList<Herd.Agent.Chat.ChatMessage>? _history;

    public IReadOnlyList<Herd.Agent.Chat.ChatMessage>? History
    {
        get => Volatile.Read(ref _history);
        set => Volatile.Write(ref _history, value);
    }
}

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
