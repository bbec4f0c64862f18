namespace Herd.Agent.Models;

/// <summary>What went wrong with a model call, in the terms the retry policy and the outcome classifier need.</summary>
public enum ModelErrorKind
{
    RateLimited,
    Overloaded,
    ServerError,
    Network,

    /// <summary>
    /// Every connection of this process to the endpoint so far was refused (nothing listens there): not retried, since
    /// more waiting only delays the answer (docs/print-mode.md, "An endpoint that refuses").
    /// </summary>
    Unreachable,
    StreamIdle,
    Truncated,
    Authentication,
    SpendCap,
    ModelNotFound,
    InvalidRequest,
}

/// <summary>A failed Messages API call. <see cref="IsRetryable"/> decides whether the client tries again.</summary>
public sealed class ModelApiException(
    ModelErrorKind kind,
    string message,
    int? status = null,
    string? errorType = null,
    string? responseBody = null,
    TimeSpan? retryAfter = null,
    Exception? inner = null) : HerdException(message, inner)
{
    /// <value>A model call the client gave up on: the command was right, the service was not (or refused it).</value>
    public override bool IsFatal => true;

    public ModelErrorKind Kind { get; } = kind;
    public int? Status { get; } = status;
    public string? ErrorType { get; } = errorType;
    public string? ResponseBody { get; } = responseBody;
    public TimeSpan? RetryAfter { get; } = retryAfter;

    /// <value>Why no connection could be made (<c>connection refused</c>, <c>host not found</c>…); null when the failure came later.</value>
    public string? ConnectionCause { get; init; }

    public bool IsRetryable => Kind is ModelErrorKind.RateLimited or ModelErrorKind.Overloaded or ModelErrorKind.ServerError
        or ModelErrorKind.Network or ModelErrorKind.StreamIdle or ModelErrorKind.Truncated;

    /// <summary>
    /// Claude Code's prose for an API failure, which lands in <c>result</c> (spec §3.4). [2.1.332]
    /// <c>API Error: 400 &lt;message&gt;</c>, and for a 401 <c>Failed to authenticate. API Error: 401 &lt;message&gt;</c>,
    /// where the message is the API's <c>error.message</c>, not the raw body.
    /// </summary>
    public string ToResultText() => Status switch
    {
        // The API's answer to a wrong key; Claude Code words it as a hint.
        401 when Message.Contains("invalid x-api-key", StringComparison.OrdinalIgnoreCase) => "Invalid API key · Fix external API key",
        401 => $"Failed to authenticate. API Error: 401 {Message}",
        { } s => $"API Error: {s} {Message}",
        null => $"API Error: {Message}",
    };

    /// <summary>
    /// The error as Claude Code names it in <c>system/api_retry</c>'s <c>error</c> and an error assistant message's
    /// <c>error</c> [2.1.332: 429 rate_limit, 529 overloaded, 500 server_error, 401 authentication_failed, a dropped
    /// connection unknown].
    /// </summary>
    public string Category => Kind switch
    {
        ModelErrorKind.RateLimited => "rate_limit",
        ModelErrorKind.Overloaded => "overloaded",
        ModelErrorKind.ServerError => "server_error",
        ModelErrorKind.Authentication => "authentication_failed",
        ModelErrorKind.SpendCap => "billing_error",
        ModelErrorKind.ModelNotFound => "model_not_found",
        _ => "unknown",
    };

    /// <summary>Maps an HTTP error status and body to a kind (spec fanout §4 classifier).</summary>
    public static ModelErrorKind Classify(int status, string? errorType, string? body) => status switch
    {
        429 when body?.Contains("enforced_spend_limit_reached", StringComparison.Ordinal) == true => ModelErrorKind.SpendCap,
        429 => ModelErrorKind.RateLimited,
        529 => ModelErrorKind.Overloaded,
        401 or 403 => ModelErrorKind.Authentication,
        404 => ModelErrorKind.ModelNotFound,
        400 when body?.Contains("API usage limits", StringComparison.Ordinal) == true => ModelErrorKind.SpendCap,
        408 or 409 => ModelErrorKind.ServerError,
        >= 500 => ModelErrorKind.ServerError,
        _ when errorType == "overloaded_error" => ModelErrorKind.Overloaded,
        _ => ModelErrorKind.InvalidRequest,
    };

    public static ModelErrorKind ClassifyStreamError(string? errorType) => errorType switch
    {
        "overloaded_error" => ModelErrorKind.Overloaded,
        "rate_limit_error" => ModelErrorKind.RateLimited,
        "api_error" or "internal_server_error" or "timeout_error" => ModelErrorKind.ServerError,
        "authentication_error" or "permission_error" => ModelErrorKind.Authentication,
        "not_found_error" => ModelErrorKind.ModelNotFound,
        "invalid_request_error" or "request_too_large" => ModelErrorKind.InvalidRequest,
        _ => ModelErrorKind.ServerError,
    };
}
