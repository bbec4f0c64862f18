using System.Globalization;
using Herd.Fleet.Engines;
using Herd.Fleet.Runs;

namespace Herd.Fleet.Scheduling;

/// <summary>What happens to a task after one of its attempts ended; decided by <see cref="AttemptDecision.Decide"/>.</summary>
public abstract record AttemptVerdict
{
    private AttemptVerdict()
    {
    }

    /// <summary>Not a verdict on the task (cancelled, interrupted, refused by the run budget): back to the queue, no retry used.</summary>
    public sealed record Requeue : AttemptVerdict;

    /// <summary>Run again, not before <paramref name="At"/>; this is the task's <paramref name="RetryNumber"/>-th retry.</summary>
    public sealed record Retry(DateTimeOffset At, int RetryNumber) : AttemptVerdict;

    /// <summary>The task's final state: its one record is written now.</summary>
    public sealed record Final : AttemptVerdict;
}

/// <summary>What one task's earlier attempts decide about the next (as stored, before the attempt that just ended).</summary>
/// <param name="Retries">Retries the task already used.</param>
/// <param name="SameClassBefore">How many of its earlier attempts ended with the class of the one that just ended.</param>
public readonly record struct TaskHistory(int Retries, int SameClassBefore);

/// <summary>Why and how a run stops early, as one host decided it; every host words and codes it alike.</summary>
/// <param name="ExitCode">The run's exit code when this halt ends it (spec §2).</param>
public sealed record HaltVerdict(HaltReason Reason, HaltMode Mode, string Detail, int ExitCode);

/// <summary>
/// The one attempt lifecycle decision (issue #18): given how an attempt ended, the task's history and the run's
/// <see cref="Schedule"/>, requeue, retry at a time, or final; and, after a final state, whether the run halts. Every
/// scheduler — <see cref="FleetRunner"/> for one process, <see cref="Workers.WorkerLoop"/> for many — asks here, so a
/// task is retried or a run halted by the same rule whichever host ran it. Pure: the clock reading and the random
/// source (<see cref="RetryPolicy.Random"/>) come in.
/// </summary>
public static class AttemptDecision
{
    /// <param name="stopping">The run is halting or interrupted: nothing is retried, a failure is final.</param>
    /// <param name="now">The clock's reading when the attempt's end is handled; a retry is due after it.</param>
    public static AttemptVerdict Decide(TaskOutcome outcome, TaskHistory history, Schedule schedule, bool stopping, DateTimeOffset now)
    {
        var cls = outcome.Class;
        if (cls.IsRequeue())
            return new AttemptVerdict.Requeue();
        if (!cls.IsRunFatal() && !stopping && schedule.Retry.ShouldRetry(cls, history.Retries, history.SameClassBefore + 1))
        {
            var number = history.Retries + 1;
            return new AttemptVerdict.Retry(now + schedule.Retry.Delay(number, outcome.RetryAfter), number);
        }
        return new AttemptVerdict.Final();
    }

    /// <summary>
    /// After a task became final: a run-fatal class halts the run now; else the <c>--halt</c> policy is checked against
    /// the run's final counts so far. Null: the run goes on.
    /// </summary>
    /// <param name="succeeded">Final successes of the run so far, this task included.</param>
    /// <param name="failed">Final failures of the run so far, this task included.</param>
    /// <param name="total">Tasks in the run.</param>
    public static HaltVerdict? HaltAfterFinal(TaskOutcome outcome, int succeeded, int failed, int total, HaltPolicy policy)
    {
        if (outcome.Class.IsRunFatal())
            return new HaltVerdict(HaltReason.Fatal, HaltMode.Now, $"{outcome.Class.Name()}: {outcome.Error}", RunExitCodes.Fatal);
        return HaltByPolicy(succeeded, failed, total, policy);
    }

    /// <summary>The <c>--halt</c> policy against the run's final counts so far; null: the run goes on.</summary>
    public static HaltVerdict? HaltByPolicy(int succeeded, int failed, int total, HaltPolicy policy)
    {
        var mode = policy.Check(succeeded, failed, total);
        if (mode == HaltMode.None)
            return null;
        var detail = string.Create(CultureInfo.InvariantCulture,
            $"--halt {policy.Mode.ToString().ToLowerInvariant()},{policy.ConditionName}={policy.Threshold}{(policy.Percent ? "%" : "")} reached ({succeeded} succeeded, {failed} failed)");
        return new HaltVerdict(HaltReason.Policy, mode, detail, Math.Min(failed, RunExitCodes.MoreThan100Failed));
    }

    /// <summary>
    /// An attempt refused by the run budget: while other attempts hold reservations the ceiling is busy, not spent (the
    /// task waits for one to settle); with none held it cannot hold another call and the run halts soon.
    /// </summary>
    /// <param name="ceilingUsd">The <c>--budget-usd</c> ceiling, for the message; null when the host does not know it.</param>
    public static HaltVerdict? AfterBudgetRefusal(bool reservationsHeld, double? ceilingUsd)
    {
        if (reservationsHeld)
            return null;
        // Without a dollar ceiling the refusing one was the token ceiling (--budget-tokens).
        var detail = ceilingUsd is { } c ? string.Create(CultureInfo.InvariantCulture, $"the --budget-usd ceiling ${c:0.####}") : "the --budget-tokens ceiling";
        return new HaltVerdict(HaltReason.Budget, HaltMode.Soon, $"budget: {detail} cannot hold another call", RunExitCodes.Budget);
    }
}
