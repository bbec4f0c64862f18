namespace Herd.Fleet.Engines;

/// <summary>
/// The outcome class of an external engine's attempt, from the whole evidence (spec §4 and §14): why Herd stopped it,
/// the terminal event, the API status and error texts in the stream, stderr, and only last the exit code. Pure, so
/// each row is unit-tested. The vocabulary is <see cref="OutcomeClass"/>, the same as the in-process engine's.
/// </summary>
public static class ExternalOutcomeClassifier
{
    /// <param name="stop">Why Herd ended the process, if it did.</param>
    /// <param name="exitCode">The process exit code (−1 when killed by a signal).</param>
    /// <param name="schemaGiven">A --json-schema was given: success needs structured output.</param>
    public static (OutcomeClass Class, string? Error) Classify(EngineProgress p, EngineStop stop, int exitCode, string stderr, bool schemaGiven, bool denialIsSuccess)
    {
        switch (stop)
        {
            case EngineStop.Timeout:
                return (OutcomeClass.Timeout, "Timed out (--timeout)");
            case EngineStop.Idle:
                return (OutcomeClass.Hang, "No engine event for --idle-timeout");
            case EngineStop.Cancelled:
                return (OutcomeClass.Cancelled, "Cancelled");
            case EngineStop.TaskBudget:
                return (OutcomeClass.TaskBudget, $"Stopped by Herd: the task's cost ${p.CostUsd:0.######} reached its --max-budget-usd cap");
            case EngineStop.RunBudget:
                return (OutcomeClass.RunBudget, "The run-wide --budget-usd ceiling cannot hold the next call");
            case EngineStop.TurnCap:
                return (OutcomeClass.MaxTurns, $"Stopped by Herd: {p.Turns} model turns exceed --max-turns");
        }
        var firstError = p.Errors.Count > 0 ? p.Errors[^1] : null;
        switch (p.Subtype)
        {
            case "error_max_turns":
                return (OutcomeClass.MaxTurns, firstError ?? "Reached maximum number of turns");
            case "error_max_budget_usd":
                return (OutcomeClass.TaskBudget, firstError ?? "Reached the task's budget");
            case "error_max_structured_output_retries":
                return (OutcomeClass.StructuredRetries, firstError ?? "Structured output retries exhausted");
        }
        if (p.ExplicitClass is { } explicitClass)
            return (explicitClass, firstError ?? Tail(stderr) ?? explicitClass.Name());
        var failed = p.IsError || exitCode != 0 || !p.SawResult;
        if (failed)
        {
            if (p.ApiErrorStatus is { } status && FromStatus(status) is { } byStatus)
                return (byStatus, firstError ?? $"API error {status}");
            // Errors in the stream first (they are the engine's own words), then stderr.
            for (var i = p.Errors.Count - 1; i >= 0; i--)
            {
                if (FromText(p.Errors[i]) is { } byText)
                    return (byText, p.Errors[i]);
            }
            if (FromText(stderr) is { } byStderr)
                return (byStderr, Tail(stderr));
        }
        if (p.PermissionDenials.Count > 0 && !denialIsSuccess)
            return (OutcomeClass.Denied, $"{p.PermissionDenials.Count} tool call(s) were denied by permission rules");
        if (failed)
        {
            var why = firstError ?? (p.SawResult ? null : "The engine ended without a result") ?? Tail(stderr);
            return (OutcomeClass.Crash, why is null ? $"The engine exited with {exitCode}" : $"{why} (exit {exitCode})");
        }
        if (schemaGiven && p.StructuredOutput is null)
            return (OutcomeClass.NoStructuredOutput, "A --json-schema was given but the result has no structured output");
        if (!schemaGiven && string.IsNullOrWhiteSpace(p.ResultText))
            return (OutcomeClass.SuccessDegraded, null);
        return (OutcomeClass.Success, null);
    }

    /// <summary>An HTTP status an engine reported for its failing call.</summary>
    public static OutcomeClass? FromStatus(int status) => status switch
    {
        429 => OutcomeClass.RateLimited,
        529 or 503 => OutcomeClass.Overloaded,
        401 or 403 => OutcomeClass.Auth,
        400 or 404 or 413 or 422 => OutcomeClass.InvalidRequest,
        >= 500 and < 600 => OutcomeClass.ServerError,
        _ => null,
    };

    /// <summary>
    /// Classifies an error text by the patterns the CLIs use. Order matters: a spend cap says "429" too on some
    /// providers, so it is tested first; "overloaded" before the generic 5xx.
    /// </summary>
    public static OutcomeClass? FromText(string? text)
    {
        if (string.IsNullOrWhiteSpace(text))
            return null;
        bool Has(string s) => s.All(char.IsAsciiDigit) ? HasCode(text, s) : text.Contains(s, StringComparison.OrdinalIgnoreCase);
        if (Has("insufficient_quota") || Has("spend cap") || Has("spending cap") || Has("credit balance") || Has("usage limit") || Has("quota exceeded") || Has("billing"))
            return OutcomeClass.SpendCap;
        if (Has("429") || Has("rate limit") || Has("rate_limit") || Has("too many requests"))
            return OutcomeClass.RateLimited;
        if (Has("529") || Has("overloaded") || Has("high demand") || Has("503") || Has("service unavailable"))
            return OutcomeClass.Overloaded;
        if (Has("401") || Has("403") || Has("invalid api key") || Has("invalid_api_key") || Has("authentication") || Has("unauthorized") || Has("not logged in") || Has("please run /login") || Has("permission_error"))
            return OutcomeClass.Auth;
        if (Has("500") || Has("502") || Has("504") || Has("internal server error") || Has("server_error") || Has("api_error"))
            return OutcomeClass.ServerError;
        if (Has("econnrefused") || Has("econnreset") || Has("etimedout") || Has("stream disconnected") || Has("connection refused") || Has("connection reset") || Has("network") || Has("error sending request"))
            return OutcomeClass.Network;
        if (Has("400") || Has("invalid_request") || Has("context length") || Has("context_length_exceeded") || Has("prompt is too long"))
            return OutcomeClass.InvalidRequest;
        return null;
    }

    /// <summary>The back-pressure status (429 or 529) an error text reports, if any: feeds AIMD while the engine still runs.</summary>
    public static int? BackPressureOf(string? text) => FromText(text) switch
    {
        OutcomeClass.RateLimited => 429,
        OutcomeClass.Overloaded => 529,
        _ => null,
    };

    /// <summary>A status code as a number of its own: "429" in "status 429", not in "14290 tokens".</summary>
    private static bool HasCode(string text, string code)
    {
        for (var i = text.IndexOf(code, StringComparison.Ordinal); i >= 0; i = text.IndexOf(code, i + 1, StringComparison.Ordinal))
        {
            var before = i == 0 || !char.IsAsciiDigit(text[i - 1]);
            var after = i + code.Length >= text.Length || !char.IsAsciiDigit(text[i + code.Length]);
            if (before && after)
                return true;
        }
        return false;
    }

    private static string? Tail(string stderr)
    {
        var t = stderr.Trim();
        if (t.Length == 0)
            return null;
        var lines = t.Split('\n');
        return lines[^1].Trim();
    }
}
