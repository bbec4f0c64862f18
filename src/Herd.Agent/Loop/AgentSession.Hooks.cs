using System.Text.Json.Nodes;
using Herd.Agent.Hooks;
using Herd.Agent.Permissions;

namespace Herd.Agent.Loop;

/// <summary>
/// Where the session calls its hooks (docs/hooks.md). Kept apart from the loop so the loop reads as the conversation
/// and each hook point is one call there.
/// </summary>
public sealed partial class AgentSession
{
    /// <summary>The audit log's <c>rule</c> of a decision a PreToolUse hook made.</summary>
    internal const string HookRule = "hook";

    private HookDispatcher? _hookDispatcher;
    private bool _sessionStarted;

    private HookDispatcher SessionHooks => _hookDispatcher ??= new HookDispatcher(
        _options.Hooks,
        new HookSessionInfo(SessionId, _options.TranscriptPath, _options.PermissionModeName, _options.ToolContext),
        _options.HookEnvironment);

    /// <summary>
    /// SessionStart (once per session) and UserPromptSubmit, before <c>system/init</c> as Claude Code runs them.
    /// Returns the context texts for the prompt, or the text of a blocked prompt.
    /// </summary>
    private async Task<(IReadOnlyList<string> Context, string? Blocked)> BeforePromptAsync(JsonNode userContent, IAgentEventSink sink, CancellationToken ct)
    {
        var context = new List<string>();
        if (!_sessionStarted)
        {
            _sessionStarted = true;
            var source = _history.Count > 0 ? "resume" : "startup";
            var start = await SessionHooks.RunAsync(HookEventName.SessionStart, source, new JsonObject { ["source"] = source }, sink, _options.IncludeHookEvents, ct).ConfigureAwait(false);
            context.AddRange(start.Context);
        }
        var promptText = userContent is JsonValue v && v.TryGetValue<string>(out var s) ? s : string.Concat(ToBlocks(userContent).OfType<JsonObject>().Where(b => (string?)b["type"] == "text").Select(b => (string?)b["text"]));
        var submit = await SessionHooks.RunAsync(HookEventName.UserPromptSubmit, null, new JsonObject { ["prompt"] = promptText }, sink, _options.IncludeHookEvents, ct).ConfigureAwait(false);
        if (submit.Blocked)
        {
            // [2.1.332] stderr already ends with its newline; "\n\nOriginal prompt: …" follows.
            var text = $"{submit.Reason}\n\nOriginal prompt: {promptText}";
            sink.OnEvent(new InformationalEvent(text, "warning", new JsonObject
            {
                ["prevent_continuation"] = true,
                ["prompt_submit_outcome"] = new JsonObject { ["kind"] = "blocked_by_hook", ["prompt_kept"] = false, ["reason"] = submit.Detail ?? submit.Reason },
            }, SessionId));
            return (context, text);
        }
        context.AddRange(submit.Context);
        return (context, null);
    }

    /// <summary>
    /// PreToolUse, then the permission rules. A hook's deny is final (even under bypassPermissions); its allow skips
    /// the "not granted" answer but never a deny or ask rule; its ask is a denial in print mode unless a rule allows.
    /// </summary>
    private async Task<PermissionDecision> DecideToolAsync(Tools.ITool tool, string id, JsonNode input, System.Text.Json.JsonElement element, QueryState query, CancellationToken ct)
    {
        if (!SessionHooks.Has(HookEventName.PreToolUse))
            return _options.Permissions.Evaluate(tool, element, _options.ToolContext);
        var fields = new JsonObject { ["tool_name"] = tool.Name, ["tool_input"] = input.DeepClone(), ["tool_use_id"] = id };
        var verdict = await SessionHooks.RunAsync(HookEventName.PreToolUse, tool.Name, fields, query.Sink, _options.IncludeHookEvents, ct).ConfigureAwait(false);
        query.NoteHookStop(verdict);
        var ruled = _options.Permissions.Evaluate(tool, element, _options.ToolContext);
        return verdict.Permission switch
        {
            HookPermission.Deny => new PermissionDecision(PermissionBehavior.Deny, "PreToolUse hook", HookRule, verdict.Reason),
            HookPermission.Allow when !ruled.IsAllowed && ruled.Rule is null => new PermissionDecision(PermissionBehavior.Allow, "PreToolUse hook", HookRule),
            HookPermission.Ask when ruled.Rule is null => new PermissionDecision(PermissionBehavior.Deny, "PreToolUse hook asked (no approver in print mode)", HookRule, PermissionEngine.NotGranted(tool.Name)),
            _ => ruled,
        };
    }

    /// <summary>PostToolUse: its context (and a block's reason) go to the model after the tool results.</summary>
    private async Task AfterToolAsync(string name, string id, JsonNode input, Tools.ToolResult result, QueryState query, CancellationToken ct)
    {
        if (!SessionHooks.Has(HookEventName.PostToolUse))
            return;
        var fields = new JsonObject
        {
            ["tool_name"] = name,
            ["tool_input"] = input.DeepClone(),
            ["tool_response"] = result.Structured?.DeepClone() ?? JsonValue.Create(result.Content),
            ["tool_use_id"] = id,
        };
        var verdict = await SessionHooks.RunAsync(HookEventName.PostToolUse, name, fields, query.Sink, _options.IncludeHookEvents, ct).ConfigureAwait(false);
        query.NoteHookStop(verdict);
        query.HookContext.AddRange(verdict.Context);
        if (verdict.Blocked && verdict.Reason is not null)
            query.HookContext.Add(verdict.Reason);
    }

    private enum StopAction
    {
        Finish,
        Continue,
        Prevented,
    }

    /// <summary>
    /// Stop, when the model ends its turn: exit 2 or <c>decision: "block"</c> sends the reason back and the loop goes
    /// on; <c>"continue": false</c> ends the query (terminal_reason stop_hook_prevented).
    /// </summary>
    private async Task<StopAction> OnStopAsync(QueryState query, CancellationToken ct)
    {
        if (!SessionHooks.Has(HookEventName.Stop))
            return StopAction.Finish;
        var fields = new JsonObject { ["stop_hook_active"] = query.StopHookActive, ["last_assistant_message"] = query.LastText };
        var verdict = await SessionHooks.RunAsync(HookEventName.Stop, null, fields, query.Sink, _options.IncludeHookEvents, ct).ConfigureAwait(false);
        if (verdict.StopQuery)
            return StopAction.Prevented;
        if (!verdict.Blocked || verdict.Reason is null)
            return StopAction.Finish;
        query.StopHookActive = true;
        var feedback = new JsonObject { ["role"] = "user", ["content"] = new JsonArray(new JsonObject { ["type"] = "text", ["text"] = verdict.Reason }) };
        AppendUserMessage(Models.AnthropicWire.MessageFromJson(feedback));
        query.Sink.OnEvent(new UserMessageEvent(feedback, null));
        return StopAction.Continue;
    }

    /// <summary>Runs the SessionEnd hooks; call once when the session is over (<paramref name="reason"/>: Claude Code's, e.g. <c>other</c>).</summary>
    public async Task EndAsync(string reason, IAgentEventSink sink, CancellationToken cancellationToken = default)
    {
        if (!SessionHooks.Has(HookEventName.SessionEnd))
            return;
        await SessionHooks.RunAsync(HookEventName.SessionEnd, reason, new JsonObject { ["reason"] = reason }, sink, _options.IncludeHookEvents, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>The context blocks hooks asked to add, as text blocks.</summary>
    private static IEnumerable<JsonNode> ContextBlocks(IEnumerable<string> texts) =>
        texts.Select(t => (JsonNode)new JsonObject { ["type"] = "text", ["text"] = t });
}
