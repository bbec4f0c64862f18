using System.Text.Json;
using System.Text.Json.Nodes;
using Herd.Agent.Loop;
using Herd.Agent.Tools;

namespace Herd.Agent.Hooks;

/// <summary>What a PreToolUse hook said about a call.</summary>
public enum HookPermission
{
    /// <summary>No hook gave a verdict: the permission rules decide.</summary>
    None,
    Allow,
    Ask,
    Deny,
}

/// <summary>The combined answer of every hook that ran for one event.</summary>
/// <param name="Blocked">Exit code 2, <c>decision: "block"</c> or a deny: the action does not happen.</param>
/// <param name="Reason">The text Claude Code feeds back for a block, in its words.</param>
/// <param name="Context">Texts for the model (<c>additionalContext</c>, or stdout where Claude Code keeps it).</param>
/// <param name="StopQuery"><c>"continue": false</c>: the query ends after this step.</param>
public sealed record HookVerdict(bool Blocked, string? Reason, HookPermission Permission, IReadOnlyList<string> Context, bool StopQuery, string? StopReason)
{
    public static HookVerdict None { get; } = new(false, null, HookPermission.None, [], false, null);

    /// <value>The hook's own words for a block (stderr trimmed, or its <c>reason</c>), without Claude Code's framing.</value>
    public string? Detail { get; init; }
}

/// <summary>
/// Runs a session's hooks for one event and reads their answers as Claude Code 2.1.332 does: exit 0 (stdout may be
/// JSON), exit 2 blocks with stderr fed back, any other exit is a non-blocking error. Every command that matches runs
/// in parallel; each emits <c>hook_started</c> / <c>hook_response</c> events.
/// </summary>
public sealed class HookDispatcher(HookSet hooks, HookSessionInfo session, IReadOnlyDictionary<string, string> environment)
{
    private static readonly JsonWriterOptions Compact = new() { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    public bool Has(HookEventName name) => hooks.ByEvent.TryGetValue(name, out var groups) && groups.Count > 0;

    /// <param name="target">What the matcher sees: the tool name, the session source, the end reason; null for all.</param>
    /// <param name="fields">The event's own fields, after the common ones.</param>
    public async Task<HookVerdict> RunAsync(HookEventName name, string? target, JsonObject fields, IAgentEventSink sink, bool includeHookEvents, CancellationToken cancellationToken)
    {
        var commands = hooks.For(name, target);
        if (commands.Count == 0)
            return HookVerdict.None;
        var input = new JsonObject
        {
            ["session_id"] = session.SessionId,
            ["transcript_path"] = session.TranscriptPath,
            ["cwd"] = session.Context.WorkingDirectory,
        };
        if (name is not (HookEventName.SessionStart or HookEventName.SessionEnd))
            input["permission_mode"] = session.PermissionMode;
        input["hook_event_name"] = name.ToString();
        foreach (var (key, value) in fields)
            input[key] = value?.DeepClone();
        var stdin = Serialise(input);
        var hookName = name is HookEventName.PreToolUse or HookEventName.PostToolUse or HookEventName.SessionStart or HookEventName.SessionEnd && target is not null
            ? $"{name}:{target}"
            : name.ToString();
        // SessionEnd comes after the result line, where Claude Code prints nothing more.
        var announce = name != HookEventName.SessionEnd && (includeHookEvents || name == HookEventName.SessionStart);

        var runs = commands.Select(async command =>
        {
            var id = Guid.NewGuid().ToString();
            sink.OnEvent(new HookStartedEvent(id, hookName, name, session.SessionId, announce));
            var run = await HookProcess.RunAsync(command, stdin, session.Context, environment, cancellationToken).ConfigureAwait(false);
            var outcome = run.TimedOut ? "cancelled" : run.ExitCode == 0 ? "success" : "error";
            sink.OnEvent(new HookResponseEvent(id, hookName, name, session.SessionId, run.Stdout, run.Stderr, run.ExitCode, outcome, announce));
            return (command, run);
        }).ToArray();
        var results = await Task.WhenAll(runs).ConfigureAwait(false);
        if (name == HookEventName.PreToolUse && results.Any(r => r.run.TimedOut))
        {
            // [2.1.332] a policy hook that timed out is named as one that gave no verdict; the call goes on.
            sink.OnEvent(new InformationalEvent("A hook didn't answer in time, so it didn't check this action.", "warning", new JsonObject
            {
                ["tag"] = "hook_no_verdict",
                ["hook_no_verdict"] = new JsonObject { ["hook_event"] = name.ToString(), ["tool_use_id"] = fields["tool_use_id"]?.DeepClone(), ["timed_out"] = true },
            }, session.SessionId));
        }
        return Combine(name, hookName, results);
    }

    private static HookVerdict Combine(HookEventName name, string hookName, IEnumerable<(HookCommand Command, HookRun Run)> results)
    {
        var verdict = HookVerdict.None;
        var context = new List<string>();
        foreach (var (command, run) in results)
        {
            if (run.TimedOut)
                continue;
            if (run.ExitCode == 2)
            {
                verdict = verdict with { Blocked = true, Permission = HookPermission.Deny, Reason = verdict.Reason ?? BlockText(name, hookName, command, run.Stderr), Detail = verdict.Detail ?? run.Stderr.Trim() };
                continue;
            }
            if (run.ExitCode != 0)
                continue;
            var json = ParseJson(run.Stdout);
            if (json is null)
            {
                // Plain stdout is context where Claude Code gives it to the model: the prompt's and the session's hooks.
                if (run.Stdout.Trim().Length > 0 && name == HookEventName.SessionStart)
                    context.Add($"{hookName} hook success: {run.Stdout}");
                else if (run.Stdout.Trim().Length > 0 && name == HookEventName.UserPromptSubmit)
                    context.Add(run.Stdout);
                continue;
            }
            if (json["continue"] is JsonValue cont && cont.TryGetValue<bool>(out var goOn) && !goOn)
                verdict = verdict with { StopQuery = true, StopReason = verdict.StopReason ?? Text(json["stopReason"]) };
            var specific = json["hookSpecificOutput"] as JsonObject;
            if (Text(specific?["additionalContext"]) is { Length: > 0 } extra)
                context.Add(name == HookEventName.PostToolUse ? $"{hookName} hook additional context: {extra}" : extra);
            var reason = Text(json["reason"]);
            switch (Text(json["decision"]))
            {
                case "block":
                    verdict = verdict with { Blocked = true, Permission = HookPermission.Deny, Reason = verdict.Reason ?? DecisionText(name, hookName, reason), Detail = verdict.Detail ?? reason };
                    break;
                case "approve" when verdict.Permission == HookPermission.None:
                    verdict = verdict with { Permission = HookPermission.Allow };
                    break;
            }
            var permissionReason = Text(specific?["permissionDecisionReason"]) ?? reason;
            switch (Text(specific?["permissionDecision"]))
            {
                case "deny":
                    verdict = verdict with { Blocked = true, Permission = HookPermission.Deny, Reason = verdict.Reason ?? $"{hookName} hook error: {permissionReason ?? "Blocked by hook"}" };
                    break;
                case "ask" when verdict.Permission != HookPermission.Deny:
                    verdict = verdict with { Permission = HookPermission.Ask };
                    break;
                case "allow" when verdict.Permission == HookPermission.None:
                    verdict = verdict with { Permission = HookPermission.Allow };
                    break;
            }
        }
        return verdict with { Context = context };
    }

    /// <summary>[2.1.332] The words of an exit-2 block, per event.</summary>
    private static string BlockText(HookEventName name, string hookName, HookCommand command, string stderr) => name switch
    {
        HookEventName.UserPromptSubmit => $"UserPromptSubmit operation blocked by hook:\n[{command.Command}]: {stderr}",
        HookEventName.Stop => $"Stop hook feedback:\n[{command.Command}]: {stderr}",
        _ => $"{hookName} hook error: [{command.Command}]: {stderr}",
    };

    private static string DecisionText(HookEventName name, string hookName, string? reason) => name switch
    {
        HookEventName.UserPromptSubmit => $"UserPromptSubmit operation blocked by hook:\n{reason}",
        HookEventName.Stop => $"Stop hook feedback:\n{reason}",
        _ => $"{hookName} hook error: {reason ?? "Blocked by hook"}",
    };

    private static JsonObject? ParseJson(string stdout)
    {
        var text = stdout.Trim();
        if (!text.StartsWith('{'))
            return null;
        try
        {
            return JsonNode.Parse(text) as JsonObject;
        }
        catch (JsonException)
        {
            return null;
        }
    }

    private static string Serialise(JsonObject node)
    {
        var buffer = new System.Buffers.ArrayBufferWriter<byte>();
        using (var writer = new Utf8JsonWriter(buffer, Compact))
            node.WriteTo(writer);
        return System.Text.Encoding.UTF8.GetString(buffer.WrittenSpan);
    }

    private static string? Text(JsonNode? node) =>
        node is JsonValue v && v.TryGetValue<string>(out var s) ? s : null;
}

/// <summary>The session facts every hook's stdin carries.</summary>
/// <param name="TranscriptPath">Where the session's transcript is written; empty when it is not kept.</param>
public sealed record HookSessionInfo(string SessionId, string TranscriptPath, string PermissionMode, ToolContext Context);
