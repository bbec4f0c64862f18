using System.Text.Json.Nodes;
using Herd.Agent.Models;

namespace Herd.Agent.Loop;

/// <summary>Result subtypes (spec §3.3).</summary>
public static class ResultSubtype
{
    public const string Success = "success";
    public const string MaxTurns = "error_max_turns";
    public const string DuringExecution = "error_during_execution";
    public const string MaxBudget = "error_max_budget_usd";
    public const string MaxStructuredOutputRetries = "error_max_structured_output_retries";
}

/// <summary>Per-model running totals (<c>modelUsage</c>).</summary>
public sealed record ModelUsageEntry(Usage Usage, double CostUsd, int ContextWindow, int MaxOutputTokens);

/// <summary>A denied tool call as the result lists it.</summary>
public sealed record PermissionDenial(string ToolName, string ToolUseId, JsonNode? ToolInput);

/// <summary>The outcome of one query: the <c>result</c> object of json / stream-json output.</summary>
public sealed record AgentResult
{
    public required string Subtype { get; init; }
    public required bool IsError { get; init; }
    public required long DurationMs { get; init; }
    public required long DurationApiMs { get; init; }
    public required int NumTurns { get; init; }

    /// <summary>Final text; present on <c>success</c> only.</summary>
    public string? Result { get; init; }

    public string? StopReason { get; init; }
    public required string SessionId { get; init; }
    public required double TotalCostUsd { get; init; }
    public required Usage Usage { get; init; }
    public required IReadOnlyDictionary<string, ModelUsageEntry> ModelUsage { get; init; }
    public required IReadOnlyList<PermissionDenial> PermissionDenials { get; init; }

    /// <summary>Set only when a schema was given; <see cref="HasStructuredOutput"/> tells null from absent.</summary>
    public JsonNode? StructuredOutput { get; init; }
    public bool HasStructuredOutput { get; init; }

    public IReadOnlyList<string>? Errors { get; init; }
    public required string TerminalReason { get; init; }
    public int? ApiErrorStatus { get; init; }

    /// <summary>The failure kind when a model call ended the run (for classifiers); not printed.</summary>
    public ModelErrorKind? ApiErrorKind { get; init; }

    /// <summary>The server's <c>retry-after</c> on the call that ended the run, for the fan-out's fleet-wide pause; not printed.</summary>
    public TimeSpan? RetryAfter { get; init; }

    public long? TtftMs { get; init; }
    public string? UserMessageUuid { get; init; }
    public required string Uuid { get; init; }

    /// <summary>The text printed by <c>--output-format text</c> (spec §3.2).</summary>
    public string ToText() => Subtype switch
    {
        ResultSubtype.Success => Result ?? "",
        ResultSubtype.MaxTurns => $"Error: Reached max turns ({MaxTurnsLimit})",
        ResultSubtype.MaxBudget => $"Error: Exceeded USD budget ({BudgetLimit?.ToString(System.Globalization.CultureInfo.InvariantCulture)})",
        ResultSubtype.MaxStructuredOutputRetries => "Error: Failed to provide valid structured output after maximum retries",
        _ => "Execution error",
    };

    /// <summary>The limits that ended the run, for the text form.</summary>
    public int? MaxTurnsLimit { get; init; }
    public double? BudgetLimit { get; init; }
}
