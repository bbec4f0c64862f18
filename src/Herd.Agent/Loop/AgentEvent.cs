using System.Text.Json.Nodes;
using Herd.Agent.Models;

namespace Herd.Agent.Loop;

/// <summary>
/// Everything an agent run observes. The loop emits these and nothing else; writers, transcripts, audit logs and
/// the fan-out engine consume them.
/// </summary>
public abstract record AgentEvent;

/// <summary>First event of each query: <c>system/init</c>.</summary>
public sealed record InitEvent(
    string SessionId,
    string Cwd,
    IReadOnlyList<string> Tools,
    string Model,
    string PermissionMode,
    string ApiKeySource) : AgentEvent
{
    /// <value>The MCP servers and their status (docs/mcp.md); none by default.</value>
    public IReadOnlyList<Mcp.McpServerStatus> McpServers { get; init; } = [];
}

/// <summary>The user's message that starts a query. Not printed (the prompt is not echoed) but kept in transcripts.</summary>
public sealed record PromptEvent(JsonObject Message) : AgentEvent;

/// <summary><c>system/status</c>, e.g. <c>requesting</c> before an API call.</summary>
public sealed record StatusEvent(string? Status) : AgentEvent;

/// <summary>A raw Messages API stream event, forwarded verbatim (<c>stream_event</c>).</summary>
public sealed record StreamEvent(string RawJson) : AgentEvent;

/// <summary>One complete assistant content block (<c>assistant</c>, one per block).</summary>
public sealed record AssistantBlockEvent(string MessageId, string Model, JsonObject Block, Usage StartUsage, string? RequestId = null) : AgentEvent;

/// <summary>A user message the loop added: a tool result, or a nudge such as the structured-output reminder.</summary>
public sealed record UserMessageEvent(JsonObject Message, JsonNode? ToolUseResult, bool IsReplay = false) : AgentEvent;

/// <summary>The client is about to retry a failed call (<c>system/api_retry</c>).</summary>
public sealed record ApiRetryEvent(ApiRetryInfo Retry) : AgentEvent;

/// <summary>
/// The call went to a fallback model (<c>system/model_fallback</c>): <paramref name="Trigger"/> is <c>overloaded</c>
/// or <c>model_not_found</c>, <paramref name="Content"/> Claude Code's sentence about it.
/// </summary>
public sealed record ModelFallbackEvent(string Trigger, string OriginalModel, string FallbackModel, string Content) : AgentEvent;

/// <summary>
/// A model call failed for good: Claude Code prints the error as a synthetic assistant message (model
/// <c>&lt;synthetic&gt;</c>) before the result, carrying the error text and its category.
/// </summary>
public sealed record ApiErrorMessageEvent(string Text, string Category, int? Status, string? ErrorType) : AgentEvent;

/// <summary>A tool call that the permission engine refused (<c>system/permission_denied</c>).</summary>
public sealed record PermissionDeniedEvent(string ToolName, string ToolUseId, JsonNode? ToolInput, string Message) : AgentEvent;

/// <summary>A finished model call with its cost, for budgets and ledgers outside the loop.</summary>
public sealed record ModelCallEvent(string Model, string MessageId, Usage Usage, double CostUsd, TimeSpan Duration, string? StopReason) : AgentEvent;

/// <summary>One tool call, decided and (if allowed) run; the audit log's line.</summary>
public sealed record ToolCallEvent(
    string ToolName,
    string ToolUseId,
    JsonNode? Input,
    Permissions.PermissionBehavior Decision,
    string? Rule,
    string Reason,
    TimeSpan Duration,
    int? ExitCode,
    bool IsError) : AgentEvent;

/// <summary>The last event of a query (<c>result</c>).</summary>
public sealed record ResultEvent(AgentResult Result) : AgentEvent;

/// <summary>Receives agent events as they happen.</summary>
public interface IAgentEventSink
{
    void OnEvent(AgentEvent agentEvent);
}

/// <summary>Hands each event to several sinks in order.</summary>
public sealed class CompositeSink(params IAgentEventSink[] sinks) : IAgentEventSink
{
    public void OnEvent(AgentEvent agentEvent)
    {
        foreach (var sink in sinks)
            sink.OnEvent(agentEvent);
    }
}
