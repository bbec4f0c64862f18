using System.Text.Json;
using Herd.Agent.Hooks;
using Herd.Agent.Loop;

namespace Herd.Agent.Output;

/// <summary>The stream-json lines of hooks, field for field as Claude Code 2.1.332 prints them.</summary>
internal static class HookEventJson
{
    public static bool Write(Utf8JsonWriter w, AgentEvent agentEvent)
    {
        switch (agentEvent)
        {
            case HookStartedEvent { Announce: true } s:
                w.WriteStartObject();
                w.WriteString("type", "system");
                w.WriteString("subtype", "hook_started");
                w.WriteString("hook_id", s.HookId);
                w.WriteString("hook_name", s.HookName);
                w.WriteString("hook_event", s.Event.ToString());
                w.WriteString("uuid", Guid.NewGuid().ToString());
                w.WriteString("session_id", s.SessionId);
                w.WriteEndObject();
                return true;
            case HookResponseEvent { Announce: true } r:
                w.WriteStartObject();
                w.WriteString("type", "system");
                w.WriteString("subtype", "hook_response");
                w.WriteString("hook_id", r.HookId);
                w.WriteString("hook_name", r.HookName);
                w.WriteString("hook_event", r.Event.ToString());
                // [2.1.332] output is stdout then stderr, as the hook printed them.
                w.WriteString("output", r.Stdout + r.Stderr);
                w.WriteString("stdout", r.Stdout);
                w.WriteString("stderr", r.Stderr);
                w.WriteNumber("exit_code", r.ExitCode);
                w.WriteString("outcome", r.Outcome);
                w.WriteString("uuid", Guid.NewGuid().ToString());
                w.WriteString("session_id", r.SessionId);
                w.WriteEndObject();
                return true;
            case InformationalEvent i:
                w.WriteStartObject();
                w.WriteString("type", "system");
                w.WriteString("subtype", "informational");
                w.WriteString("content", i.Content);
                w.WriteString("level", i.Level);
                foreach (var (key, value) in i.Fields)
                {
                    w.WritePropertyName(key);
                    if (value is null)
                        w.WriteNullValue();
                    else
                        value.WriteTo(w);
                }
                w.WriteString("uuid", Guid.NewGuid().ToString());
                w.WriteString("session_id", i.SessionId);
                w.WriteEndObject();
                return true;
            default:
                return false;
        }
    }
}
