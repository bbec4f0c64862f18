using System.Text.Json;
using System.Text.Json.Nodes;
using Herd.Agent.Loop;
using Herd.Agent.Models;

namespace Herd.Fleet.Engines;

/// <summary>
/// <c>--engine gemini</c>: each attempt is <c>gemini -p "" --output-format stream-json</c> with the prompt on stdin (the
/// CLI appends <c>-p</c> to stdin). Gemini CLI has no turn or budget flags and reports tokens only in its final
/// <c>result</c>, so Herd enforces the caps it can see (the cost at the end, the turn count live) and the clocks.
/// </summary>
public sealed class GeminiEngine(EngineSpec spec, SpendLedger? runLedger, TimeProvider time) : ProcessEngine(spec, runLedger, time)
{
    public override string Name => "gemini";

    protected override bool EnforcesTurnCap => true;

    protected override EngineLaunch Prepare(TaskAttempt attempt, double? taskCapLeft)
    {
        var flags = Spec.Flags;
        var args = new List<string> { "-p", "", "--output-format", "stream-json" };
        if (flags.Model is { } model)
            args.AddRange(["--model", model]);
        if (flags.AllowedTools.Count > 0)
            args.AddRange(["--allowed-tools", string.Join(',', flags.AllowedTools)]);
        if (flags.PermissionMode is "bypassPermissions")
            args.Add("--yolo");
        else if (flags.PermissionMode is "acceptEdits")
            args.AddRange(["--approval-mode", "auto_edit"]);
        var prompt = flags.AppendSystemPrompt is { } append ? append + "\n\n" + attempt.Prompt : attempt.Prompt;
        var env = EngineEnvironment.Build(Spec, new Dictionary<string, string>(StringComparer.Ordinal) { ["NO_COLOR"] = "1" });
        return new EngineLaunch(Binary, args, prompt, env.Values, "gemini " + string.Join(' ', args.Select(ClaudeEngine.Quote)));
    }

    protected override EngineStreamReader CreateReader(TaskAttempt attempt, EngineLaunch launch, EngineProgress progress, AttemptMonitor monitor) =>
        new GeminiStreamReader(progress, monitor, Spec.Catalog, Spec.Flags.JsonSchema is not null);
}

/// <summary>
/// Reads <c>gemini -p --output-format stream-json</c>: <c>init{session_id, model}</c>, <c>message{role, content,
/// delta}</c>, <c>tool_use</c>, <c>tool_result</c>, <c>error</c>, <c>result{status, error, stats}</c>, and the documented
/// exit codes: 41 auth, 42 input, 52 config, 53 turn limit, 54 tool error.
/// </summary>
public sealed class GeminiStreamReader(EngineProgress progress, AttemptMonitor monitor, ModelCatalog catalog, bool schemaGiven) : EngineStreamReader(progress, monitor)
{
    private readonly System.Text.StringBuilder _assistant = new();
    private bool _inAssistant;

    public override void Feed(string line)
    {
        if (!line.StartsWith('{'))
            return;
        using var doc = JsonDocument.Parse(line);
        var root = doc.RootElement;
        switch (ClaudeStreamReader.Str(root, "type"))
        {
            case "init":
                Progress.Update(p =>
                {
                    p.SessionId = ClaudeStreamReader.Str(root, "session_id") ?? p.SessionId;
                    p.Model = ClaudeStreamReader.Str(root, "model") ?? p.Model;
                });
                break;
            case "message" when ClaudeStreamReader.Str(root, "role") == "assistant":
                var delta = root.TryGetProperty("delta", out var d) && d.ValueKind == JsonValueKind.True;
                if (!delta || !_inAssistant)
                {
                    // A new assistant message: one more model turn.
                    _assistant.Clear();
                    Progress.Update(p => p.Turns++);
                    Monitor.OnTurn();
                }
                _inAssistant = true;
                _assistant.Append(ClaudeStreamReader.Str(root, "content"));
                var text = _assistant.ToString();
                Progress.Update(p => p.ResultText = text);
                break;
            case "message":
            case "tool_use":
            case "tool_result":
                _inAssistant = false;
                break;
            case "error":
                if (ClaudeStreamReader.Str(root, "message") is { } message)
                {
                    Progress.Update(p => p.Errors.Add(message));
                    if (ExternalOutcomeClassifier.BackPressureOf(message) is { } status)
                        Monitor.OnBackPressure(status, null);
                }
                break;
            case "result":
                OnResult(root);
                break;
        }
    }

    private void OnResult(JsonElement r)
    {
        var failed = ClaudeStreamReader.Str(r, "status") is { } status && status != "success";
        var error = r.TryGetProperty("error", out var e) && e.ValueKind == JsonValueKind.Object ? ClaudeStreamReader.Str(e, "message") : null;
        Progress.Update(p =>
        {
            p.SawResult = true;
            p.IsError = failed;
            if (error is not null)
                p.Errors.Add(error);
            if (r.TryGetProperty("stats", out var stats) && stats.ValueKind == JsonValueKind.Object)
            {
                long Get(JsonElement o, string name) => o.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Number ? v.GetInt64() : 0;
                var cached = Get(stats, "cached");
                var prompt = Get(stats, "input_tokens");
                p.Usage = new Usage(InputTokens: Math.Max(0, prompt - cached), OutputTokens: Get(stats, "output_tokens"), CacheReadInputTokens: cached);
                if (stats.TryGetProperty("models", out var models) && models.ValueKind == JsonValueKind.Object)
                {
                    foreach (var m in models.EnumerateObject())
                        p.Model = m.Name;
                }
                p.PricedCostUsd = catalog.CostOf(p.Model ?? "unknown", p.Usage);
            }
        });
        Monitor.OnCost();
        Monitor.OnResult();
    }

    public override void Finish(int exitCode, string stderr)
    {
        Progress.Update(p =>
        {
            p.ExplicitClass = exitCode switch
            {
                41 => OutcomeClass.Auth,
                42 or 52 => OutcomeClass.InvalidRequest,
                53 => OutcomeClass.MaxTurns,
                54 => OutcomeClass.Crash,
                _ => null,
            };
            if (schemaGiven && !p.IsError && p.ResultText.Length > 0)
            {
                try
                {
                    p.StructuredOutput = JsonNode.Parse(p.ResultText.Trim());
                }
                catch (JsonException)
                {
                    p.StructuredOutput = null;
                }
            }
        });
    }
}
