using Herd.Agent.Permissions;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Herd.Agent.Loop;
using Herd.Agent.Models;

namespace Herd.Agent.Telemetry;

/// <summary>
/// Turns one session's <see cref="AgentEvent"/>s into GenAI spans and metrics: a <c>chat {model}</c> span per model call
/// (retries as events on it) and an <c>execute_tool {tool}</c> span per tool call, under <paramref name="agentSpan"/>.
/// </summary>
/// <remarks>
/// Built from events rather than inside the loop and the client, so the agent code carries no telemetry and the
/// spans see exactly what the records see. A call begins when the loop finished its previous step (the prompt, a
/// status, a tool result); the first event that belongs to a call (a stream event, a retry, the finished call) opens
/// the span back-dated to that moment, so its duration covers the retries and back-off inside the client. The loop
/// runs one step at a time, so events arrive in order and this class needs no lock.
/// No attribute carries a secret: the API key never reaches an event, and prompt, completion and tool input text are
/// recorded only when <see cref="HerdTelemetry.CaptureContent"/> is set.
/// </remarks>
public sealed class TelemetrySink(string sessionId, Activity? agentSpan, TimeProvider? time = null) : IAgentEventSink
{
    private readonly TimeProvider _time = time ?? TimeProvider.System;
    private readonly ActivityContext _parent = agentSpan?.Context ?? default;
    private DateTimeOffset _stepEnded = (time ?? TimeProvider.System).GetUtcNow();
    private string _requestModel = "";
    private Activity? _chat;
    private DateTimeOffset _chatStart;
    private string? _pendingInput;
    private StringBuilder? _output;

    public void OnEvent(AgentEvent agentEvent)
    {
        switch (agentEvent)
        {
            case InitEvent init:
                _requestModel = init.Model;
                _stepEnded = _time.GetUtcNow();
                break;
            case PromptEvent prompt:
                if (HerdTelemetry.CaptureContent)
                    _pendingInput = prompt.Message.ToJsonString();
                _stepEnded = _time.GetUtcNow();
                break;
            case StatusEvent or UserMessageEvent:
                _stepEnded = _time.GetUtcNow();
                break;
            case StreamEvent:
                EnsureChat();
                break;
            case AssistantBlockEvent block:
                EnsureChat();
                if (HerdTelemetry.CaptureContent && (string?)block.Block["type"] == "text")
                    (_output ??= new StringBuilder()).Append((string?)block.Block["text"]);
                break;
            case ApiRetryEvent retry:
                OnRetry(retry.Retry);
                break;
            case ModelCallEvent call:
                EndChat(call);
                break;
            case ToolCallEvent tool:
                RecordTool(tool);
                _stepEnded = _time.GetUtcNow();
                break;
            case ResultEvent result:
                OnResult(result.Result);
                break;
        }
    }

    private void EnsureChat()
    {
        if (_chat is not null || _chatStart != default)
            return;
        _chatStart = _stepEnded;
        _chat = HerdTelemetry.StartDetached("chat " + _requestModel, ActivityKind.Client, _parent, _stepEnded);
        _chat?.SetTag("gen_ai.operation.name", "chat")
            .SetTag("gen_ai.provider.name", HerdTelemetry.Provider)
            .SetTag("gen_ai.request.model", _requestModel)
            .SetTag("gen_ai.conversation.id", sessionId);
        if (HerdTelemetry.ModelServer is { } server)
            _chat?.SetTag("server.address", server.Host).SetTag("server.port", server.Port);
        if (_pendingInput is not null)
        {
            _chat?.SetTag("gen_ai.input.messages", "[" + _pendingInput + "]");
            _pendingInput = null;
        }
    }

    private void OnRetry(ApiRetryInfo retry)
    {
        EnsureChat();
        if (_chat is null)
            return;
        var tags = new ActivityTagsCollection
        {
            ["herd.retry.attempt"] = retry.Attempt,
            ["herd.retry.delay_s"] = retry.Delay.TotalSeconds,
            ["error.type"] = retry.ErrorStatus is { } s ? s.ToString(CultureInfo.InvariantCulture) : "connection_reset",
        };
        if (retry.ErrorStatus is { } status)
            tags["http.response.status_code"] = status;
        if (retry.RetryAfter is { } after)
            tags["herd.retry.after_s"] = after.TotalSeconds;
        _chat.AddEvent(new ActivityEvent("herd.api_retry", tags: tags));
    }

    private void EndChat(ModelCallEvent call)
    {
        EnsureChat();
        var usage = call.Usage;
        var responseModel = string.IsNullOrEmpty(call.Model) ? _requestModel : call.Model;
        if (_chat is { } chat)
        {
            // GenAI semconv for Anthropic: input_tokens counts cache reads and cache writes too.
            chat.SetTag("gen_ai.response.model", responseModel)
                .SetTag("gen_ai.response.id", call.MessageId)
                .SetTag("gen_ai.usage.input_tokens", usage.TotalInputTokens)
                .SetTag("gen_ai.usage.output_tokens", usage.OutputTokens)
                .SetTag("gen_ai.usage.cache_read.input_tokens", usage.CacheReadInputTokens)
                .SetTag("gen_ai.usage.cache_creation.input_tokens", usage.CacheCreationInputTokens)
                .SetTag("herd.cost_usd", call.CostUsd);
            if (call.StopReason is { } reason)
                chat.SetTag("gen_ai.response.finish_reasons", new[] { reason });
            if (_output is { Length: > 0 } text)
                chat.SetTag("gen_ai.output.messages", OutputMessages(text.ToString(), call.StopReason));
            chat.Stop();
        }
        RecordCallMetrics(responseModel, usage, call.CostUsd, errorType: null);
        Reset();
    }

    private void OnResult(AgentResult result)
    {
        // A call refused outright (e.g. 400), or cut off by an interrupt or a timeout before its first byte, produced no
        // event of its own: its span opens and closes here.
        if (result.ApiErrorKind is not null || result.TerminalReason == "aborted_streaming")
            EnsureChat();
        if (_chat is not null || _chatStart != default)
        {
            // The call in flight never finished: an API error after the retries, a timeout or an interrupt.
            var errorType = result.ApiErrorKind is { } kind ? ErrorType(kind, result.ApiErrorStatus) : result.TerminalReason;
            HerdTelemetry.Fail(_chat, errorType);
            _chat?.Stop();
            RecordCallMetrics(_requestModel, Usage.Zero, 0, errorType);
            Reset();
        }
        if (agentSpan is null)
            return;
        var u = result.Usage;
        agentSpan.SetTag("gen_ai.usage.input_tokens", u.TotalInputTokens)
            .SetTag("gen_ai.usage.output_tokens", u.OutputTokens)
            .SetTag("herd.cost_usd", result.TotalCostUsd)
            .SetTag("herd.num_turns", result.NumTurns)
            .SetTag("herd.result.subtype", result.Subtype)
            .SetTag("herd.terminal_reason", result.TerminalReason)
            .SetTag("herd.permission_denials", result.PermissionDenials.Count);
        if (result.IsError)
            HerdTelemetry.Fail(agentSpan, result.ApiErrorKind is { } k ? ErrorType(k, result.ApiErrorStatus) : result.TerminalReason);
    }

    private void RecordTool(ToolCallEvent tool)
    {
        var end = _time.GetUtcNow();
        var span = HerdTelemetry.StartDetached("execute_tool " + tool.ToolName, ActivityKind.Internal, _parent, end - tool.Duration);
        if (span is null)
            return;
        span.SetTag("gen_ai.operation.name", "execute_tool")
            .SetTag("gen_ai.tool.name", tool.ToolName)
            .SetTag("gen_ai.tool.call.id", tool.ToolUseId)
            .SetTag("gen_ai.tool.type", "function")
            .SetTag("gen_ai.conversation.id", sessionId)
            .SetTag("herd.permission.decision", tool.Decision.Name())
            .SetTag("herd.permission.reason", tool.Reason);
        if (tool.Rule is { } rule)
            span.SetTag("herd.permission.rule", rule);
        if (tool.ExitCode is { } exit)
            span.SetTag("process.exit.code", exit);
        if (HerdTelemetry.CaptureContent && tool.Input is { } input)
            span.SetTag("gen_ai.tool.call.arguments", input.ToJsonString());
        if (tool.Decision == PermissionBehavior.Deny)
            HerdTelemetry.Fail(span, "permission_denied");
        else if (tool.IsError)
            HerdTelemetry.Fail(span, "tool_error");
        span.Stop();
    }

    private void RecordCallMetrics(string responseModel, Usage usage, double costUsd, string? errorType)
    {
        var seconds = (_time.GetUtcNow() - _chatStart).TotalSeconds;
        var tags = new TagList
        {
            { "gen_ai.operation.name", "chat" },
            { "gen_ai.provider.name", HerdTelemetry.Provider },
            { "gen_ai.request.model", _requestModel },
            { "gen_ai.response.model", responseModel },
        };
        if (errorType is not null)
        {
            tags.Add("error.type", errorType);
            HerdTelemetry.OperationDuration.Record(seconds, tags);
            return;
        }
        HerdTelemetry.OperationDuration.Record(seconds, tags);
        if (costUsd > 0)
            HerdTelemetry.CostUsd.Add(costUsd, tags);
        var input = tags;
        input.Add("gen_ai.token.type", "input");
        HerdTelemetry.TokenUsage.Record(usage.TotalInputTokens, input);
        var output = tags;
        output.Add("gen_ai.token.type", "output");
        HerdTelemetry.TokenUsage.Record(usage.OutputTokens, output);
    }

    private void Reset()
    {
        _chat = null;
        _chatStart = default;
        _output = null;
        _stepEnded = _time.GetUtcNow();
    }

    private static string ErrorType(ModelErrorKind kind, int? status) => status is { } s ? s.ToString(CultureInfo.InvariantCulture) : JsonNamingPolicy.SnakeCaseLower.ConvertName(kind.ToString());

    private static string OutputMessages(string text, string? finishReason) =>
        new JsonArray(new JsonObject
        {
            ["role"] = "assistant",
            ["parts"] = new JsonArray(new JsonObject { ["type"] = "text", ["content"] = text }),
            ["finish_reason"] = finishReason,
        }).ToJsonString();
}
