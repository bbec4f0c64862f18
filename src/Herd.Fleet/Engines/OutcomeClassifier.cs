using Herd.Agent.Loop;
using Herd.Agent.Models;

namespace Herd.Fleet.Engines;

/// <summary>How an attempt ended from the scheduler's side, before the result is looked at.</summary>
public enum AttemptEnd
{
    Completed,
    Timeout,
    Idle,
    Cancelled,
}

/// <summary>
/// Spec §4: the class is built from the whole result (subtype, is_error, API error kind, denials, structured output),
/// never from an exit code alone. Pure, so every row of the table is unit-tested.
/// </summary>
public static class OutcomeClassifier
{
    /// <param name="schemaGiven">A --json-schema was given: success needs structured_output.</param>
    /// <param name="runBudgetBinding">The run-wide ledger, not the task's own cap, refused the next call.</param>
    public static (OutcomeClass Class, string? Error) Classify(AgentResult r, AttemptEnd end, bool schemaGiven, bool runBudgetBinding, bool denialIsSuccess = false)
    {
        switch (end)
        {
            case AttemptEnd.Timeout:
                return (OutcomeClass.Timeout, "Timed out (--timeout)");
            case AttemptEnd.Idle:
                return (OutcomeClass.Hang, "No engine event for --idle-timeout");
            case AttemptEnd.Cancelled:
                return (OutcomeClass.Cancelled, "Cancelled");
        }
        if (r.ApiErrorKind is { } kind)
        {
            var cls = kind switch
            {
                ModelErrorKind.RateLimited => OutcomeClass.RateLimited,
                ModelErrorKind.Overloaded => OutcomeClass.Overloaded,
                ModelErrorKind.ServerError => OutcomeClass.ServerError,
                ModelErrorKind.Network or ModelErrorKind.StreamIdle or ModelErrorKind.Truncated => OutcomeClass.Network,
                ModelErrorKind.Unreachable => OutcomeClass.Unreachable,
                ModelErrorKind.Authentication => OutcomeClass.Auth,
                ModelErrorKind.SpendCap => OutcomeClass.SpendCap,
                _ => OutcomeClass.InvalidRequest,
            };
            return (cls, r.Result ?? "API error");
        }
        var firstError = r.Errors is { Count: > 0 } errors ? errors[0] : null;
        switch (r.Subtype)
        {
            case ResultSubtype.MaxTurns:
                return (OutcomeClass.MaxTurns, firstError ?? "Reached maximum number of turns");
            case ResultSubtype.MaxBudget:
                return runBudgetBinding
                    ? (OutcomeClass.RunBudget, "The run-wide --budget-usd ceiling cannot hold the next call")
                    : (OutcomeClass.TaskBudget, firstError ?? "Reached the task's budget");
            case ResultSubtype.MaxStructuredOutputRetries:
                return (OutcomeClass.StructuredRetries, firstError ?? "Structured output retries exhausted");
            case ResultSubtype.DuringExecution:
                return (OutcomeClass.Crash, firstError ?? "error_during_execution");
        }
        if (r.PermissionDenials.Count > 0 && !denialIsSuccess)
            return (OutcomeClass.Denied, $"{r.PermissionDenials.Count} tool call(s) were denied by permission rules");
        if (r.IsError)
            return (OutcomeClass.Crash, firstError ?? r.Result ?? "is_error true");
        if (schemaGiven && (!r.HasStructuredOutput || r.StructuredOutput is null))
            return (OutcomeClass.NoStructuredOutput, "A --json-schema was given but the result has no structured_output");
        if (!schemaGiven && string.IsNullOrEmpty(r.Result))
            return (OutcomeClass.SuccessDegraded, null);
        return (OutcomeClass.Success, null);
    }
}
