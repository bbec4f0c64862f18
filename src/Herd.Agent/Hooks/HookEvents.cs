using System.Text.Json.Nodes;
using Herd.Agent.Loop;

namespace Herd.Agent.Hooks;

/// <summary>
/// A hook command started (<c>system/hook_started</c>). <paramref name="Announce"/>: whether stream-json prints it —
/// Claude Code 2.1.332 prints SessionStart hooks always and the others only with <c>--include-hook-events</c>.
/// </summary>
public sealed record HookStartedEvent(string HookId, string HookName, HookEventName Event, string SessionId, bool Announce) : AgentEvent;

/// <summary>A hook command ended (<c>system/hook_response</c>); <paramref name="Outcome"/> is success, error or cancelled.</summary>
public sealed record HookResponseEvent(
    string HookId,
    string HookName,
    HookEventName Event,
    string SessionId,
    string Stdout,
    string Stderr,
    int ExitCode,
    string Outcome,
    bool Announce) : AgentEvent;

/// <summary>
/// Claude Code's <c>system/informational</c> line: a blocked prompt, a hook that timed out before its verdict.
/// <paramref name="Fields"/> are written after <c>level</c>, in order.
/// </summary>
public sealed record InformationalEvent(string Content, string Level, JsonObject Fields, string SessionId) : AgentEvent;
