using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Herd.Agent.Loop;
using Herd.Agent.Models;

namespace Herd.Fleet.Engines;

/// <summary>
/// <c>--engine codex</c>: each attempt is <c>codex exec --json --skip-git-repo-check … -</c> with the prompt on stdin
/// (spec §14.2, docs/engines.md). Codex has no turn or budget flags and its JSONL stream reports usage only when the
/// turn ends, so Herd reads the session's rollout file as it grows (a <c>token_count</c> per model response) to price
/// tokens and count turns live, and stops the process tree at the per-task cap, the run-wide ceiling or the turn cap.
/// </summary>
public sealed class CodexEngine(EngineSpec spec, SpendLedger? runLedger, TimeProvider time) : ProcessEngine(spec, runLedger, time)
{
    /// <summary>The provider id Herd configures when <c>OPENAI_BASE_URL</c> names an endpoint (codex itself ignores that variable).</summary>
    public const string ProviderId = "herd-openai";

    public override string Name => "codex";

    protected override bool EnforcesTurnCap => true;

    protected override EngineLaunch Prepare(TaskAttempt attempt, double? taskCapLeft)
    {
        var flags = Spec.Flags;
        var source = EngineEnvironment.Source(Spec);
        var home = TaskHome(attempt, source);
        var args = new List<string> { "exec" };
        var resume = attempt.ResumeSessionId is { } id && Spec.ResumeSessions && CodexStreamReader.FindRollout(home, id) is not null ? id : null;
        if (resume is not null)
            args.Add("resume");
        args.AddRange(["--json", "--skip-git-repo-check"]);
        if (flags.Model is { } model)
            args.AddRange(["--model", model]);
        switch (flags.PermissionMode)
        {
            case "bypassPermissions":
                args.Add("--dangerously-bypass-approvals-and-sandbox");
                break;
            case "acceptEdits" when resume is null:
                args.AddRange(["--sandbox", "workspace-write"]);
                break;
        }
        if (flags.JsonSchema is { } schema && resume is null)
            args.AddRange(["--output-schema", SchemaFile(schema)]);
        if (source.TryGetValue("OPENAI_BASE_URL", out var baseUrl) && baseUrl.Length > 0)
        {
            // A custom endpoint (a proxy, a gateway, the scripted test server): a provider of Herd's, keyed by
            // OPENAI_API_KEY, with no inner retries: 429/529 reach Herd's retry layer and AIMD at once (spec §5).
            args.AddRange([
                "-c", $"model_provider=\"{ProviderId}\"",
                "-c", $"model_providers.{ProviderId}.name=\"{ProviderId}\"",
                "-c", $"model_providers.{ProviderId}.base_url=\"{baseUrl.TrimEnd('/')}\"",
                "-c", $"model_providers.{ProviderId}.env_key=\"OPENAI_API_KEY\"",
                "-c", $"model_providers.{ProviderId}.wire_api=\"responses\"",
                "-c", $"model_providers.{ProviderId}.request_max_retries=0",
                "-c", $"model_providers.{ProviderId}.stream_max_retries=0",
            ]);
        }
        if (resume is not null)
            args.Add(resume);
        args.Add("-");
        // Codex has no system-prompt flags: an appended system prompt goes before the task's prompt.
        var prompt = flags.AppendSystemPrompt is { } append ? append + "\n\n" + attempt.Prompt : attempt.Prompt;
        var env = EngineEnvironment.Build(Spec, new Dictionary<string, string>(StringComparer.Ordinal) { ["NO_COLOR"] = "1", ["CODEX_HOME"] = home });
        var display = "codex " + string.Join(' ', args.Select(ClaudeEngine.Quote));
        return new EngineLaunch(Binary, args, prompt, env.Values, display);
    }

    protected override EngineStreamReader CreateReader(TaskAttempt attempt, EngineLaunch launch, EngineProgress progress, AttemptMonitor monitor) =>
        new CodexStreamReader(progress, monitor, Spec.Catalog, CodexHome(launch.Environment), Spec.Flags.JsonSchema is not null, Time);

    /// <summary>The schema goes to a file (codex takes a path); one file per distinct schema in the run's state directory.</summary>
    private string SchemaFile(string schema)
    {
        var dir = Path.Combine(Spec.StateDirectory, "codex");
        Directory.CreateDirectory(dir);
        var path = Path.Combine(dir, "schema-" + Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(schema)))[..16] + ".json");
        if (!File.Exists(path))
        {
            var temp = path + "." + Guid.NewGuid().ToString("N") + ".tmp";
            File.WriteAllText(temp, schema);
            File.Move(temp, path, overwrite: true);
        }
        return path;
    }

    /// <summary>
    /// A CODEX_HOME of the task's own, so that concurrent codex processes never share one (codex keeps its state,
    /// history, logs and sessions there, and does not expect other processes writing beside it). A later attempt of the
    /// same task finds its session there to resume. It starts with the user's login and configuration (auth.json,
    /// config.toml) copied from their CODEX_HOME, or ~/.codex.
    /// </summary>
    private string TaskHome(TaskAttempt attempt, IReadOnlyDictionary<string, string> source)
    {
        var home = Path.Combine(Spec.StateDirectory, "codex", "home", attempt.Task.Key.Length > 32 ? attempt.Task.Key[..32] : attempt.Task.Key);
        if (Directory.Exists(home))
            return home;
        Directory.CreateDirectory(home);
        var user = CodexHome(source);
        foreach (var file in (string[])["auth.json", "config.toml"])
        {
            var from = Path.Combine(user, file);
            if (File.Exists(from))
                File.Copy(from, Path.Combine(home, file), overwrite: true);
        }
        return home;
    }

    internal static string CodexHome(IReadOnlyDictionary<string, string> env) =>
        env.TryGetValue("CODEX_HOME", out var home) && home.Length > 0 ? home
        : Path.Combine(env.TryGetValue("HOME", out var h) ? h : Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".codex");

}

/// <summary>
/// Reads <c>codex exec --json</c> (spec §14.2): <c>thread.started</c> (session id), <c>item.*</c> (the last
/// <c>agent_message</c> is the result; <c>error</c> items and events are evidence), <c>turn.completed{usage}</c> (the
/// thread's running total) and <c>turn.failed</c>. Beside it, the rollout file's <c>token_count</c> events give
/// the running total after each model response.
/// </summary>
public sealed class CodexStreamReader(EngineProgress progress, AttemptMonitor monitor, ModelCatalog catalog, string codexHome, bool schemaGiven, TimeProvider time)
    : EngineStreamReader(progress, monitor)
{
    private readonly TaskCompletionSource<string> _thread = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private long _rolloutResponses;

    public override void Feed(string line)
    {
        if (!line.StartsWith('{'))
            return;
        using var doc = JsonDocument.Parse(line);
        var root = doc.RootElement;
        switch (ClaudeStreamReader.Str(root, "type"))
        {
            case "thread.started":
                if (ClaudeStreamReader.Str(root, "thread_id") is { } thread)
                {
                    Progress.Update(p => p.SessionId = thread);
                    _thread.TrySetResult(thread);
                }
                break;
            case "item.completed" when root.TryGetProperty("item", out var item):
                OnItem(item);
                break;
            case "turn.completed":
                // The result first: a final usage that reaches a cap is the cost of finished work, not a reason to stop.
                Progress.Update(p =>
                {
                    p.SawResult = true;
                    p.Turns = Math.Max(p.Turns, 1);
                });
                if (root.TryGetProperty("usage", out var usage))
                    SetUsage(ParseUsage(usage));
                Monitor.OnResult();
                break;
            case "turn.failed":
                var message = root.TryGetProperty("error", out var e) ? ClaudeStreamReader.Str(e, "message") : null;
                Progress.Update(p =>
                {
                    p.SawResult = true;
                    p.IsError = true;
                    p.Subtype = "error_during_execution";
                    if (message is not null)
                        p.Errors.Add(message);
                });
                Monitor.OnResult();
                break;
            case "error":
                if (ClaudeStreamReader.Str(root, "message") is { } text)
                {
                    Progress.Update(p => p.Errors.Add(text));
                    // "Reconnecting… n/5 (… 429 …)": codex retries inside; Herd reads it as back-pressure (spec §5).
                    if (ExternalOutcomeClassifier.BackPressureOf(text) is { } status)
                        Monitor.OnBackPressure(status, null);
                }
                break;
        }
    }

    private void OnItem(JsonElement item)
    {
        switch (ClaudeStreamReader.Str(item, "type"))
        {
            case "agent_message":
                var text = ClaudeStreamReader.Str(item, "text") ?? "";
                Progress.Update(p => p.ResultText = text);
                break;
            case "error":
                // Warnings arrive as error items too ("Model metadata … not found"); they count only if the turn fails.
                if (ClaudeStreamReader.Str(item, "message") is { } message)
                    Progress.Update(p => p.Errors.Add(message));
                break;
        }
    }

    public override void Finish(int exitCode, string stderr)
    {
        Progress.Update(p =>
        {
            // A successful turn's errors were warnings: only a failed turn is judged by them.
            if (p.SawResult && !p.IsError && exitCode == 0)
                p.Errors.Clear();
            if (schemaGiven && !p.IsError && p.ResultText.Length > 0)
            {
                try
                {
                    p.StructuredOutput = JsonNode.Parse(p.ResultText);
                }
                catch (JsonException)
                {
                    p.StructuredOutput = null;
                }
            }
        });
        Monitor.OnCost();
    }

    /// <summary>
    /// How often the rollout file is read. A cap can be overshot by the calls codex starts before Herd sees the last
    /// one's usage; real model calls take seconds, so at 25 ms that is at most the one call already under way.
    /// </summary>
    private static readonly TimeSpan RolloutPoll = TimeSpan.FromMilliseconds(25);

    /// <summary>Tails the rollout file of the thread: one <c>token_count</c> per model response, with the running total.</summary>
    public override async Task WatchAsync(CancellationToken stop)
    {
        string thread;
        try
        {
            thread = await _thread.Task.WaitAsync(stop).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            return;
        }
        string? path = null;
        long offset = 0;
        var pending = new StringBuilder();
        while (!stop.IsCancellationRequested)
        {
            path ??= FindRollout(codexHome, thread);
            if (path is not null)
                offset = ReadNew(path, offset, pending);
            try
            {
                await Task.Delay(RolloutPoll, time, stop).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                break;
            }
        }
        if (path is not null)
            ReadNew(path, offset, pending);
    }

    private long ReadNew(string path, long offset, StringBuilder pending)
    {
        try
        {
            using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
            if (stream.Length <= offset)
                return offset;
            stream.Seek(offset, SeekOrigin.Begin);
            var buffer = new byte[stream.Length - offset];
            var read = stream.ReadAtLeast(buffer, buffer.Length, throwOnEndOfStream: false);
            pending.Append(Encoding.UTF8.GetString(buffer, 0, read));
            var text = pending.ToString();
            var lastNewline = text.LastIndexOf('\n');
            if (lastNewline < 0)
                return offset + read;
            pending.Clear().Append(text[(lastNewline + 1)..]);
            foreach (var line in text[..lastNewline].Split('\n'))
                OnRolloutLine(line);
            return offset + read;
        }
        catch (IOException)
        {
            return offset;
        }
    }

    private void OnRolloutLine(string line)
    {
        if (!line.Contains("\"token_count\"", StringComparison.Ordinal) && !line.Contains("\"turn_context\"", StringComparison.Ordinal))
            return;
        try
        {
            using var doc = JsonDocument.Parse(line);
            var root = doc.RootElement;
            if (!root.TryGetProperty("payload", out var payload))
                return;
            if (ClaudeStreamReader.Str(root, "type") == "turn_context" && ClaudeStreamReader.Str(payload, "model") is { } model)
            {
                Progress.Update(p => p.Model = model);
                return;
            }
            if (ClaudeStreamReader.Str(payload, "type") != "token_count" || !payload.TryGetProperty("info", out var info)
                || info.ValueKind != JsonValueKind.Object || !info.TryGetProperty("total_token_usage", out var total))
                return;
            var responses = Interlocked.Increment(ref _rolloutResponses);
            Progress.Update(p => p.Turns = (int)Math.Max(p.Turns, responses));
            SetUsage(ParseUsage(total));
            Monitor.OnTurn();
        }
        catch (JsonException)
        {
            // A line cut mid-write is read again whole on the next pass only if it had no newline; skip a bad one.
        }
    }

    /// <summary>Sets the running total (never lower: the stream and the rollout both report it) and prices it.</summary>
    private void SetUsage(Usage usage)
    {
        Progress.Update(p =>
        {
            if (usage.InputTokens + usage.CacheReadInputTokens + usage.OutputTokens < p.Usage.InputTokens + p.Usage.CacheReadInputTokens + p.Usage.OutputTokens)
                return;
            p.Usage = usage;
            p.PricedCostUsd = catalog.CostOf(p.Model ?? "unknown", usage);
        });
        Monitor.OnCost();
    }

    /// <summary>Codex usage: <c>input_tokens</c> include the cached ones; Herd's input is the uncached part.</summary>
    internal static Usage ParseUsage(JsonElement u)
    {
        long Get(string name) => u.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Number ? v.GetInt64() : 0;
        var input = Get("input_tokens");
        var cached = Get("cached_input_tokens");
        return new Usage(InputTokens: Math.Max(0, input - cached), OutputTokens: Get("output_tokens"), CacheReadInputTokens: cached,
            CacheCreationInputTokens: Get("cache_write_input_tokens"));
    }

    internal static string? FindRollout(string codexHome, string threadId)
    {
        var sessions = Path.Combine(codexHome, "sessions");
        if (!Directory.Exists(sessions))
            return null;
        try
        {
            return Directory.EnumerateFiles(sessions, "rollout-*" + threadId + ".jsonl", SearchOption.AllDirectories).FirstOrDefault();
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }
}
