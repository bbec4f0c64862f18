using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Herd.Agent.Loop;
using Herd.Agent.Models;

namespace Herd.Fleet.Engines;

/// <summary>
/// <c>--engine claude</c>: each attempt is <c>claude -p --output-format stream-json --verbose --include-partial-messages</c>
/// with the prompt on stdin (spec §14.1, docs/engines.md). Each slot has its own <c>CLAUDE_CONFIG_DIR</c>, so parallel
/// processes never write the same <c>.claude.json</c> or session files; a slot is used by one process at a time.
/// </summary>
public sealed class ClaudeEngine(EngineSpec spec, SpendLedger? runLedger, TimeProvider time) : ProcessEngine(spec, runLedger, time)
{
    public override string Name => "claude";

    // Claude Code has --max-turns and --max-budget-usd of its own; Herd also stops at its cap (one call over at most).
    protected override bool EnforcesTurnCap => true;

    protected override EngineLaunch Prepare(TaskAttempt attempt, double? taskCapLeft)
    {
        var flags = Spec.Flags;
        var configDir = ConfigDirectory(attempt.Slot);
        var args = new List<string> { "-p", "--output-format", "stream-json", "--verbose", "--include-partial-messages" };
        if (attempt.ResumeSessionId is { } resume && Spec.ResumeSessions && BringSession(resume, configDir))
            args.AddRange(["--resume", resume]);
        else
            args.AddRange(["--session-id", attempt.SessionId]);
        if (flags.Model is { } model)
            args.AddRange(["--model", model]);
        if (flags.AllowedTools.Count > 0)
            args.AddRange(["--allowedTools", .. flags.AllowedTools]);
        if (flags.DisallowedTools.Count > 0)
            args.AddRange(["--disallowedTools", .. flags.DisallowedTools]);
        if (TurnCap(attempt) is { } turns)
            args.AddRange(["--max-turns", turns.ToString(CultureInfo.InvariantCulture)]);
        if (taskCapLeft is { } cap)
            args.AddRange(["--max-budget-usd", cap.ToString("0.######", CultureInfo.InvariantCulture)]);
        if (flags.JsonSchema is { } schema)
            args.AddRange(["--json-schema", schema]);
        if (flags.SystemPrompt is { } system)
            args.AddRange(["--system-prompt", system]);
        if (flags.AppendSystemPrompt is { } append)
            args.AddRange(["--append-system-prompt", append]);
        if (flags.PermissionMode is { } mode)
            args.AddRange(["--permission-mode", mode]);

        var source = EngineEnvironment.Source(Spec);
        var perProcess = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["CLAUDE_CONFIG_DIR"] = configDir,
            // Spec §5 "one retry layer": few inner retries, so 429/529 reach Herd's retries and AIMD quickly.
            ["CLAUDE_CODE_MAX_RETRIES"] = source.TryGetValue("CLAUDE_CODE_MAX_RETRIES", out var r) && r.Length > 0 ? r : "2",
            ["DISABLE_AUTOUPDATER"] = "1",
            ["CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC"] = "1",
            ["NO_COLOR"] = "1",
        };
        LinkCredentials(source, configDir);
        var env = EngineEnvironment.Build(Spec, perProcess);
        var display = "claude " + string.Join(' ', args.Select(Quote));
        return new EngineLaunch(Binary, args, attempt.Prompt, env.Values, display);
    }

    protected override EngineStreamReader CreateReader(TaskAttempt attempt, EngineLaunch launch, EngineProgress progress, AttemptMonitor monitor) =>
        new ClaudeStreamReader(progress, monitor, Spec.Catalog);

    /// <summary>The slot's own config directory (<c>.claude.json</c>, sessions, projects). Created on first use.</summary>
    public string ConfigDirectory(int slot)
    {
        var dir = Path.Combine(Spec.StateDirectory, "claude", "slot-" + slot.ToString(CultureInfo.InvariantCulture));
        Directory.CreateDirectory(dir);
        return dir;
    }

    /// <summary>
    /// A login made with <c>claude /login</c> lives in <c>~/.claude/.credentials.json</c>. Without an API key or
    /// <c>CLAUDE_CODE_OAUTH_TOKEN</c>, each config directory links to that file, so the login keeps working; the
    /// secret is never copied into the run directory.
    /// </summary>
    private static void LinkCredentials(IReadOnlyDictionary<string, string> source, string configDir)
    {
        if (source.ContainsKey("ANTHROPIC_API_KEY") || source.ContainsKey("CLAUDE_CODE_OAUTH_TOKEN") || source.ContainsKey("ANTHROPIC_AUTH_TOKEN"))
            return;
        if (!source.TryGetValue("HOME", out var home))
            return;
        var credentials = Path.Combine(home, ".claude", ".credentials.json");
        var link = Path.Combine(configDir, ".credentials.json");
        if (!File.Exists(credentials) || Path.Exists(link))
            return;
        try
        {
            File.CreateSymbolicLink(link, credentials);
        }
        catch (IOException)
        {
            // Another attempt linked it first.
        }
    }

    /// <summary>
    /// <c>--resume</c> looks for the session under this slot's config directory; an interrupted attempt may have run in
    /// another slot, so its transcript is copied here first. False when no transcript exists (a fresh session then).
    /// </summary>
    private bool BringSession(string sessionId, string configDir)
    {
        var root = Path.Combine(Spec.StateDirectory, "claude");
        var file = sessionId + ".jsonl";
        foreach (var found in Directory.EnumerateFiles(root, file, SearchOption.AllDirectories))
        {
            var relative = Path.GetRelativePath(root, found);
            var inSlot = relative[(relative.IndexOf('/') + 1)..];
            var target = Path.Combine(configDir, inSlot);
            if (!string.Equals(Path.GetFullPath(found), Path.GetFullPath(target), StringComparison.Ordinal))
            {
                Directory.CreateDirectory(Path.GetDirectoryName(target)!);
                File.Copy(found, target, overwrite: true);
            }
            return true;
        }
        return false;
    }

    internal static string Quote(string arg) => Reports.ShellText.Quote(arg);
}

/// <summary>
/// Reads <c>claude -p --output-format stream-json --verbose --include-partial-messages</c> (spec §14.1). Per-call cost
/// comes from <c>stream_event</c> message_start / message_delta usage priced with Herd's table (live, for the caps);
/// the <c>result</c> line's <c>total_cost_usd</c> replaces it at the end.
/// </summary>
public sealed class ClaudeStreamReader(EngineProgress progress, AttemptMonitor monitor, ModelCatalog catalog) : EngineStreamReader(progress, monitor)
{
    private readonly HashSet<string> _messages = new(StringComparer.Ordinal);
    private Usage _callUsage = Usage.Zero;
    private string? _callModel;
    private string _lastText = "";

    public override void Feed(string line)
    {
        if (!line.StartsWith('{'))
            return;
        using var doc = JsonDocument.Parse(line);
        var root = doc.RootElement;
        var type = Str(root, "type");
        switch (type)
        {
            case "system":
                OnSystem(root);
                break;
            case "stream_event" when root.TryGetProperty("event", out var ev):
                OnStreamEvent(ev);
                break;
            case "assistant" when root.TryGetProperty("message", out var message):
                OnAssistant(message);
                break;
            case "result":
                OnResult(root);
                break;
        }
    }

    private void OnSystem(JsonElement root)
    {
        switch (Str(root, "subtype"))
        {
            case "init":
                Progress.Update(p =>
                {
                    p.SessionId = Str(root, "session_id") ?? p.SessionId;
                    p.Model = Str(root, "model") ?? p.Model;
                });
                break;
            case "api_retry":
                var status = root.TryGetProperty("error_status", out var s) && s.ValueKind == JsonValueKind.Number ? s.GetInt32() : (int?)null;
                TimeSpan? delay = root.TryGetProperty("retry_delay_ms", out var d) && d.ValueKind == JsonValueKind.Number ? TimeSpan.FromMilliseconds(d.GetDouble()) : null;
                if (status is 429 or 529)
                    Monitor.OnBackPressure(status.Value, status == 429 ? delay : null);
                break;
        }
    }

    private void OnStreamEvent(JsonElement ev)
    {
        switch (Str(ev, "type"))
        {
            case "message_start" when ev.TryGetProperty("message", out var message):
                _callModel = Str(message, "model");
                _callUsage = message.TryGetProperty("usage", out var u) ? Usage.Parse(u) : Usage.Zero;
                break;
            case "message_delta" when ev.TryGetProperty("usage", out var delta):
                // message_delta carries the call's final output tokens: the call is complete and can be priced.
                var usage = Usage.Parse(delta, _callUsage);
                var model = _callModel ?? Progress.Read(p => p.Model) ?? catalog.DefaultModel;
                var cost = catalog.CostOf(model, usage);
                Progress.Update(p =>
                {
                    p.PricedCostUsd += cost;
                    p.Usage = p.Usage.Add(usage);
                    p.Model = model;
                });
                _callUsage = Usage.Zero;
                Monitor.OnCost();
                break;
        }
    }

    private void OnAssistant(JsonElement message)
    {
        var id = Str(message, "id");
        if (id is not null && _messages.Add(id))
        {
            Progress.Update(p => p.Turns = _messages.Count);
            Monitor.OnTurn();
        }
        if (message.TryGetProperty("content", out var content) && content.ValueKind == JsonValueKind.Array)
        {
            foreach (var block in content.EnumerateArray())
            {
                if (Str(block, "type") == "text" && Str(block, "text") is { Length: > 0 } text)
                    _lastText = text;
            }
        }
    }

    private void OnResult(JsonElement r)
    {
        Progress.Update(p =>
        {
            p.SawResult = true;
            p.Subtype = Str(r, "subtype");
            p.IsError = r.TryGetProperty("is_error", out var e) && e.ValueKind == JsonValueKind.True;
            p.SessionId = Str(r, "session_id") ?? p.SessionId;
            p.TerminalReason = Str(r, "terminal_reason");
            if (r.TryGetProperty("api_error_status", out var st) && st.ValueKind == JsonValueKind.Number)
                p.ApiErrorStatus = st.GetInt32();
            if (r.TryGetProperty("num_turns", out var n) && n.ValueKind == JsonValueKind.Number)
                p.Turns = n.GetInt32();
            if (r.TryGetProperty("total_cost_usd", out var c) && c.ValueKind == JsonValueKind.Number)
                p.ReportedCostUsd = c.GetDouble();
            if (r.TryGetProperty("usage", out var u) && u.ValueKind == JsonValueKind.Object)
                p.Usage = Usage.Parse(u);
            if (r.TryGetProperty("modelUsage", out var mu) && mu.ValueKind == JsonValueKind.Object)
            {
                foreach (var m in mu.EnumerateObject())
                    p.Model = m.Name;
            }
            // An empty or first-chunk-only result (spec §14.1 traps) is rebuilt from the last assistant text.
            var result = Str(r, "result");
            p.ResultText = string.IsNullOrEmpty(result) ? _lastText : result;
            if (r.TryGetProperty("structured_output", out var so) && so.ValueKind is not (JsonValueKind.Null or JsonValueKind.Undefined))
                p.StructuredOutput = JsonNode.Parse(so.GetRawText());
            if (r.TryGetProperty("permission_denials", out var pd) && pd.ValueKind == JsonValueKind.Array)
            {
                foreach (var d in pd.EnumerateArray())
                    p.PermissionDenials.Add(JsonNode.Parse(d.GetRawText()));
            }
            if (r.TryGetProperty("errors", out var errs) && errs.ValueKind == JsonValueKind.Array)
            {
                foreach (var err in errs.EnumerateArray())
                    p.Errors.Add(err.ValueKind == JsonValueKind.String ? err.GetString()! : err.GetRawText());
            }
            if (p.IsError && result is { Length: > 0 })
                p.Errors.Add(result);
        });
        Monitor.OnCost();
        Monitor.OnResult();
    }

    internal static string? Str(JsonElement e, string name) =>
        e.ValueKind == JsonValueKind.Object && e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;
}
