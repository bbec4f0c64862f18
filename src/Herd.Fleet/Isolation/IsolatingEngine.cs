using Herd.Fleet.Engines;
using Herd.Fleet.Jobs;
using Herd.Fleet.Store;

namespace Herd.Fleet.Isolation;

/// <summary>
/// The steps around an engine that give each attempt its own tree and check its work (<c>--isolate</c>,
/// <c>--verify</c>): take the slot's tree from the pool → run the inner engine confined to it → run the verify
/// command there, sending a failure back to the same session for up to <see cref="IsolationSpec.VerifyRetries"/> fix
/// rounds → capture the patch → reset the tree. A decorator, so every host (herd run, herd run --store, herd worker)
/// and every engine gets the same steps.
/// </summary>
/// <remarks>
/// The fix rounds are part of the attempt: the per-task budget and the turn cap cover them (each round gets what the
/// rounds before it left), the attempt's timeout covers them, and their cost is reported as it happens like any call.
/// </remarks>
/// <param name="pool">The run's trees; null with <c>--isolate none</c> (verify then runs in <paramref name="workingDirectory"/>).</param>
/// <param name="patches">Where captured patches go (the run directory, or the shared store); null keeps none.</param>
public sealed class IsolatingEngine(ITaskEngine inner, IsolationSpec spec, TreePool? pool, IPatchStore? patches, string workingDirectory, TimeProvider time) : ITaskEngine
{
    public string Name => inner.Name;

    public string Version => inner.Version;

    public ITaskEngine Inner => inner;

    /// <value>The run's turn cap (a task's own cap wins): fix rounds stop when the attempt has used it.</value>
    public int? MaxTurns { get; init; }

    /// <value>The run's per-task budget (a task's own cap wins): fix rounds stop when the task has spent it.</value>
    public double? TaskBudgetUsd { get; init; }

    public async Task<TaskOutcome> RunAsync(TaskAttempt attempt, IAttemptObserver observer, CancellationToken cancellationToken = default)
    {
        var start = time.GetUtcNow();
        string directory;
        try
        {
            directory = pool?.Acquire(attempt.Slot) ?? attempt.WorkingDirectory ?? workingDirectory;
        }
        catch (Exception ex) when (ex is GitException or IOException or UnauthorizedAccessException)
        {
            return new TaskOutcome
            {
                Class = OutcomeClass.Crash, Start = start, End = time.GetUtcNow(), SessionId = attempt.SessionId, IsError = true,
                Error = "The task's tree could not be prepared: " + ex.Message,
            };
        }
        try
        {
            var first = attempt with
            {
                WorkingDirectory = directory,
                Conversation = spec.VerifyCommand is null ? attempt.Conversation : new ConversationCarry(),
            };
            var outcome = await inner.RunAsync(first, observer, cancellationToken).ConfigureAwait(false);
            if (spec.VerifyCommand is { } command && outcome.Class.IsSuccess() && !cancellationToken.IsCancellationRequested)
                outcome = await VerifyAsync(first, outcome, RenderVerify(command, first), directory, observer, cancellationToken).ConfigureAwait(false);
            if (pool is not null && !outcome.Class.IsRequeue())
                outcome = outcome with { Changes = Capture(attempt) };
            return outcome;
        }
        finally
        {
            pool?.Reset(attempt.Slot);
        }
    }

    private TreeChanges Capture(TaskAttempt attempt)
    {
        try
        {
            var (patch, files) = pool!.Capture(attempt.Slot);
            if (files.Count == 0)
                return TreeChanges.Empty;
            return new TreeChanges(patches?.SavePatch(attempt.Task.Key, attempt.Number, patch), files);
        }
        catch (Exception ex) when (ex is GitException or IOException or UnauthorizedAccessException or System.Data.Common.DbException)
        {
            // The agent's work could not be read back or kept: not a success anyone could apply.
            return new TreeChanges(null, [new FileChange("(capture failed: " + ex.Message + ")", null, null)]);
        }
    }

    /// <summary>Verify; on failure a fix round in the same session; until it passes, the rounds run out, or a round fails.</summary>
    private async Task<TaskOutcome> VerifyAsync(TaskAttempt attempt, TaskOutcome outcome, string command, string directory, IAttemptObserver observer, CancellationToken cancellationToken)
    {
        var total = TimeSpan.Zero;
        var rounds = 0;
        var runs = 0;
        while (true)
        {
            var run = await Verifier.RunAsync(command, directory, spec.VerifyTimeout, time, cancellationToken).ConfigureAwait(false);
            runs++;
            total += run.Duration;
            VerifyReport Report(bool passed) => new(command, passed, runs, rounds, run.ExitCode, total, run.OutputTail);
            if (cancellationToken.IsCancellationRequested)
                return outcome with { Class = OutcomeClass.Cancelled, IsError = true, Error = "cancelled during --verify", Verify = Report(false) };
            if (run.Passed)
                return outcome with { Verify = Report(true) };
            var left = Remaining(attempt, outcome);
            if (rounds >= spec.VerifyRetries || left is { } l && l <= TimeSpan.Zero || TurnsExhausted(attempt, outcome) || BudgetExhausted(attempt, outcome))
            {
                return outcome with
                {
                    Class = OutcomeClass.VerifyFailed, IsError = true, Degraded = false, Verify = Report(false),
                    Error = $"--verify failed (exit {run.ExitCode}) after {rounds} fix round(s): {LastLine(run.OutputTail)}",
                };
            }
            rounds++;
            var next = attempt with
            {
                Prompt = Feedback(command, run),
                ResumeSessionId = outcome.SessionId,
                SpentBeforeUsd = attempt.SpentBeforeUsd + outcome.CostUsd,
                TurnsBefore = attempt.TurnsBefore + outcome.NumTurns,
                Timeout = left,
            };
            var fix = await inner.RunAsync(next, observer, cancellationToken).ConfigureAwait(false);
            outcome = Merge(outcome, fix);
            if (!fix.Class.IsSuccess())
                return outcome with { Verify = Report(false) };
        }
    }

    /// <summary>
    /// The verify template with the task's replacement strings, each value quoted for the shell. Unlike a prompt, a
    /// template without any is used as written (GNU parallel would append the input: a verify command is not that).
    /// </summary>
    public static string RenderVerify(string template, TaskAttempt attempt) =>
        Template.ReferencesInput(template, attempt.Task.Named) ? CommandEngine.Render(template, attempt) : template;

    /// <summary>The user turn a fix round starts with.</summary>
    public static string Feedback(string command, VerifyRun run) =>
        $"""
        The verification command failed after your changes (exit code {run.ExitCode}):

            {command}

        The end of its output:

        ```
        {run.OutputTail}
        ```

        Fix the cause in the working directory. The command runs again when you end your turn.
        """;

    /// <summary>One outcome of the whole attempt: the last round's verdict, the sums of all rounds.</summary>
    private static TaskOutcome Merge(TaskOutcome before, TaskOutcome round) => round with
    {
        Start = before.Start,
        CostUsd = before.CostUsd + round.CostUsd,
        Usage = before.Usage.Add(round.Usage),
        NumTurns = before.NumTurns + round.NumTurns,
        CostNotional = before.CostNotional || round.CostNotional,
    };

    private TimeSpan? Remaining(TaskAttempt attempt, TaskOutcome sofar) =>
        attempt.Timeout is { } limit ? limit - (time.GetUtcNow() - sofar.Start) : null;

    private bool TurnsExhausted(TaskAttempt attempt, TaskOutcome sofar) =>
        (attempt.Task.Caps.MaxTurns ?? MaxTurns) is { } cap && attempt.TurnsBefore + sofar.NumTurns >= cap;

    private bool BudgetExhausted(TaskAttempt attempt, TaskOutcome sofar) =>
        (attempt.Task.Caps.MaxBudgetUsd ?? TaskBudgetUsd) is { } cap && attempt.SpentBeforeUsd + sofar.CostUsd >= cap;

    private static string LastLine(string text)
    {
        var lines = text.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        return lines.Length == 0 ? "no output" : lines[^1];
    }
}
