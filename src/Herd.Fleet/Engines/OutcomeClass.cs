namespace Herd.Fleet.Engines;

/// <summary>The outcome classes of spec §4, plus two bookkeeping classes that are never final.</summary>
public enum OutcomeClass
{
    Success,
    SuccessDegraded,
    Denied,
    NoStructuredOutput,
    MaxTurns,
    TaskBudget,
    StructuredRetries,
    RateLimited,
    Overloaded,
    ServerError,
    Network,
    SpendCap,
    Auth,
    InvalidRequest,
    Timeout,
    Hang,
    Crash,
    Cancelled,

    /// <summary>
    /// The agent ended but <c>--verify</c> still failed after the allowed fix rounds (the changes are kept as a patch
    /// for review, never applied).
    /// </summary>
    VerifyFailed,

    /// <summary>An attempt found without a terminal event at restart (spec §7.1): requeued without using a retry.</summary>
    Interrupted,

    /// <summary>The run-wide ceiling could not hold the next call (spec §10): the task stays queued and the run halts with 102.</summary>
    RunBudget,

    /// <summary>
    /// The model endpoint refused every connection this process made (nothing listens there): the run halts now, since
    /// every other task would fail the same way after minutes of retries.
    /// </summary>
    Unreachable,
}

public static class OutcomeClasses
{
    public static string Name(this OutcomeClass c) => c switch
    {
        OutcomeClass.Success => "success",
        OutcomeClass.SuccessDegraded => "success_degraded",
        OutcomeClass.Denied => "denied",
        OutcomeClass.NoStructuredOutput => "no_structured_output",
        OutcomeClass.MaxTurns => "max_turns",
        OutcomeClass.TaskBudget => "task_budget",
        OutcomeClass.StructuredRetries => "structured_retries",
        OutcomeClass.RateLimited => "rate_limited",
        OutcomeClass.Overloaded => "overloaded",
        OutcomeClass.ServerError => "server_error",
        OutcomeClass.Network => "network",
        OutcomeClass.SpendCap => "spend_cap",
        OutcomeClass.Auth => "auth",
        OutcomeClass.InvalidRequest => "invalid_request",
        OutcomeClass.Timeout => "timeout",
        OutcomeClass.Hang => "hang",
        OutcomeClass.Crash => "crash",
        OutcomeClass.Cancelled => "cancelled",
        OutcomeClass.VerifyFailed => "verify_failed",
        OutcomeClass.Interrupted => "interrupted",
        OutcomeClass.RunBudget => "run_budget",
        OutcomeClass.Unreachable => "unreachable",
        _ => c.ToString().ToLowerInvariant(),
    };

    public static OutcomeClass? Parse(string name)
    {
        foreach (var c in Enum.GetValues<OutcomeClass>())
        {
            if (c.Name() == name)
                return c;
        }
        return null;
    }

    /// <summary>Counted as success (success_degraded is flagged but succeeds).</summary>
    public static bool IsSuccess(this OutcomeClass c) => c is OutcomeClass.Success or OutcomeClass.SuccessDegraded;

    /// <summary>Retry allowed at all, and how many times at most (null = the run's --retries). Spec §4 "Retry" column.</summary>
    public static bool IsRetryable(this OutcomeClass c) => c is OutcomeClass.NoStructuredOutput or OutcomeClass.RateLimited
        or OutcomeClass.Overloaded or OutcomeClass.ServerError or OutcomeClass.Network or OutcomeClass.Timeout
        or OutcomeClass.Hang or OutcomeClass.Crash;

    /// <summary>Classes the spec limits to one retry.</summary>
    public static int? RetryLimit(this OutcomeClass c) => c is OutcomeClass.NoStructuredOutput or OutcomeClass.Crash ? 1 : null;

    /// <summary>Back-pressure classes: they drive AIMD decreases (spec §6), unlike ordinary task failures.</summary>
    public static bool IsBackPressure(this OutcomeClass c) => c is OutcomeClass.RateLimited or OutcomeClass.Overloaded;

    /// <summary>Run-fatal classes halt the run now with exit 103 (spec §2, §4).</summary>
    public static bool IsRunFatal(this OutcomeClass c) => c is OutcomeClass.Auth or OutcomeClass.SpendCap or OutcomeClass.Unreachable;

    /// <summary>Not a final outcome: the task goes back to the queue without using a retry.</summary>
    public static bool IsRequeue(this OutcomeClass c) => c is OutcomeClass.Cancelled or OutcomeClass.Interrupted or OutcomeClass.RunBudget;
}
