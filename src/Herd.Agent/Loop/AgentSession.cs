using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Herd.Agent.Chat;
using Herd.Agent.Hooks;
using Herd.Agent.Models;
using Herd.Agent.Permissions;
using Herd.Agent.Tools;

namespace Herd.Agent.Loop;

/// <summary>
/// One conversation with the model: model ↔ tools until the model ends its turn or a limit ends the query.
/// Emits <see cref="AgentEvent"/>s and nothing else; it never prints.
/// </summary>
public sealed partial class AgentSession
{
    public const string StructuredOutputToolName = "StructuredOutput";

    internal const string StructuredOutputNudge =
        "[structured-output-enforce] You MUST call the StructuredOutput tool to complete this request. Call this tool now.";

    /// <summary>JSON.stringify's form: compact, non-ASCII kept as is.</summary>
    private static readonly JsonWriterOptions CompactJson = new() { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    private static string Stringify(JsonNode? node)
    {
        if (node is null)
            return "null";
        var buffer = new System.Buffers.ArrayBufferWriter<byte>();
        using (var writer = new Utf8JsonWriter(buffer, CompactJson))
            node.WriteTo(writer);
        return Encoding.UTF8.GetString(buffer.WrittenSpan);
    }

    private readonly IModelClient _client;
    private readonly AgentOptions _options;
    private readonly List<ChatMessage> _history;
    private readonly Dictionary<string, ITool> _tools;
    private readonly ToolDefinitions _toolDefinitions;
    private readonly string? _system;
    private readonly IReadOnlyList<SpendLedger> _ledgers;
    private long _lastInputTokens = -1;
    private int _lastBodyLength;

    /// <param name="history">A conversation to continue, as Claude Code's transcripts store it (Messages API messages).</param>
    public AgentSession(IModelClient client, AgentOptions options, string sessionId, IEnumerable<JsonObject>? history = null)
        : this(client, options, sessionId, history?.Select(AnthropicWire.MessageFromJson).ToList() ?? [])
    {
    }

    /// <param name="history">A conversation to continue.</param>
    public AgentSession(IModelClient client, AgentOptions options, string sessionId, IReadOnlyList<ChatMessage> history)
    {
        _client = client;
        _options = options;
        SessionId = sessionId;
        Costs = new CostTracker(options.Catalog);
        _history = history.ToList();
        CloseDanglingToolUses();
        _tools = options.Tools.Where(t => options.Permissions.IsToolListed(t.Name)).ToDictionary(t => t.Name, StringComparer.Ordinal);
        _toolDefinitions = ToolDefinitions.For(options.Tools, _tools.Values, options.OutputSchema);
        // Strict mode is a private ledger whose ceiling is --max-budget-usd; shared ledgers come from the fan-out.
        _ledgers = options.BudgetMode == BudgetMode.Strict && options.MaxBudgetUsd is { } cap
            ? options.SharedLedgers.Prepend(new SpendLedger(cap)).ToArray()
            : options.SharedLedgers;
        _system = string.IsNullOrEmpty(options.SystemPrompt) ? null : options.SystemPrompt;
    }

    public string SessionId { get; }

    public CostTracker Costs { get; }

    /// <summary>The conversation so far.</summary>
    public IReadOnlyList<ChatMessage> History => _history;

    /// <summary>Names of the tools the model is offered, in request order.</summary>
    public IReadOnlyList<string> ToolNames => _toolDefinitions.Names;

    /// <summary>
    /// A transcript that ends in tool calls without results (the run was stopped at --max-turns or killed) cannot be
    /// sent again; answer those calls as interrupted so the conversation can go on.
    /// </summary>
    private void CloseDanglingToolUses()
    {
        if (_history.Count == 0 || _history[^1].Role != ChatRole.Assistant)
            return;
        var results = _history[^1].Content.OfType<ToolUseBlock>()
            .Select(use => (ContentBlock)new ToolResultBlock(use.Id, "[Request interrupted by user for tool use]", IsError: true))
            .ToArray();
        if (results.Length > 0)
            _history.Add(new ChatMessage(ChatRole.User, results));
    }

    /// <summary>Runs one query: the user's message, then turns until the model is done or a limit is reached.</summary>
    /// <param name="userContent">A string, or an array of content blocks.</param>
    /// <param name="replay">
    /// Echo the user's message as a replayed <c>user</c> event right after <c>system/init</c>, where Claude Code 2.1.332
    /// puts it (<c>--replay-user-messages</c>).
    /// </param>
    public async Task<AgentResult> RunAsync(JsonNode userContent, IAgentEventSink sink, CancellationToken cancellationToken = default, bool replay = false)
    {
        IReadOnlyList<string> hookContext = [];
        string? blocked = null;
        var hooksInterrupted = false;
        try
        {
            (hookContext, blocked) = await BeforePromptAsync(userContent, sink, cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            hooksInterrupted = true;
        }
        if (hooksInterrupted || blocked is not null)
        {
            // [2.1.332] a prompt a hook blocked ends the query unsent: success, no turns, the block's text as result.
            var unsent = OpenQuery(userContent, sink, replay);
            var early = hooksInterrupted
                ? unsent.Finish(ResultSubtype.DuringExecution, "aborted_tools", errors: ["Interrupted by user"])
                : unsent.Finish(ResultSubtype.Success, "prompt_blocked") with { Result = blocked };
            sink.OnEvent(new ResultEvent(early));
            return early;
        }
        var query = StartQuery(userContent, sink, replay, hookContext);

        // --timeout runs on the injected clock, so its tests move a fake clock instead of waiting.
        using var timer = new CancellationTokenSource(Timeout.InfiniteTimeSpan, _options.TimeProvider);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, timer.Token);
        if (_options.Timeout is { } limit)
            timer.CancelAfter(limit);
        AgentResult result;
        try
        {
            result = await RunTurnsAsync(query, timeout.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested && _options.Timeout is { } t)
        {
            result = query.Finish(ResultSubtype.DuringExecution, "timeout", errors: [$"Timed out after {FormatDuration(t)}"]);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            result = query.Finish(ResultSubtype.DuringExecution, query.InTools ? "aborted_tools" : "aborted_streaming", errors: ["Interrupted by user"]);
        }
        sink.OnEvent(new ResultEvent(result));
        return result;
    }

    /// <summary><c>system/init</c> and the replayed message: what a query shows before its prompt.</summary>
    private QueryState OpenQuery(JsonNode userContent, IAgentEventSink sink, bool replay)
    {
        var query = new QueryState(this, sink, _options.TimeProvider.GetTimestamp());
        sink.OnEvent(new InitEvent(SessionId, _options.ToolContext.WorkingDirectory, ToolNames, _options.Model, _options.PermissionModeName, _options.ApiKeySource) { McpServers = _options.McpServers });
        if (replay)
            sink.OnEvent(new UserMessageEvent(new JsonObject { ["role"] = "user", ["content"] = userContent.DeepClone() }, null, IsReplay: true));
        return query;
    }

    /// <summary>
    /// <c>system/init</c>, the replayed message, the prompt (with what SessionStart and UserPromptSubmit hooks added)
    /// into the history: everything before the first call.
    /// </summary>
    private QueryState StartQuery(JsonNode userContent, IAgentEventSink sink, bool replay, IReadOnlyList<string>? hookContext = null)
    {
        var query = OpenQuery(userContent, sink, replay);
        var prompt = new JsonObject { ["role"] = "user", ["content"] = WithHookContext(WithMemory(userContent), hookContext ?? []) };
        AppendUserMessage(AnthropicWire.MessageFromJson(prompt));
        sink.OnEvent(new PromptEvent(prompt));
        return query;
    }

    /// <summary>
    /// The first message of a new conversation carries the memory files (CLAUDE.md…) as a text block before the
    /// prompt, as Claude Code 2.1.332 sends them; resumed conversations already hold it.
    /// </summary>
    private JsonNode WithMemory(JsonNode userContent)
    {
        if (_history.Count > 0 || string.IsNullOrEmpty(_options.MemoryText))
            return userContent.DeepClone();
        var blocks = ToBlocks(userContent);
        blocks.Insert(0, new JsonObject { ["type"] = "text", ["text"] = _options.MemoryText });
        return blocks;
    }

    /// <summary>SessionStart and UserPromptSubmit context, as text blocks after the prompt.</summary>
    private static JsonNode WithHookContext(JsonNode content, IReadOnlyList<string> context)
    {
        if (context.Count == 0)
            return content;
        var blocks = ToBlocks(content);
        foreach (var block in ContextBlocks(context))
            blocks.Add(block);
        return blocks;
    }

    private void AppendUserMessage(ChatMessage message)
    {
        // Consecutive user messages are merged: the API requires alternating roles.
        if (_history.Count > 0 && _history[^1].Role == ChatRole.User)
            _history[^1] = _history[^1] with { Content = [.. _history[^1].Content, .. message.Content] };
        else
            _history.Add(message);
    }

    private static JsonArray ToBlocks(JsonNode? content) => content switch
    {
        JsonArray a => (JsonArray)a.DeepClone(),
        JsonValue v when v.TryGetValue<string>(out var s) => new JsonArray(new JsonObject { ["type"] = "text", ["text"] = s }),
        _ => [],
    };

    private async Task<AgentResult> RunTurnsAsync(QueryState query, CancellationToken ct)
    {
        query.Sink.OnEvent(new StatusEvent("requesting"));
        while (true)
        {
            var call = PrepareCall(query);
            if (call.Result is { } ended)
                return ended;
            ModelResponse response;
            var callCost = 0.0;
            try
            {
                response = await CallWithFallbackAsync(call.Request!, query, ct).ConfigureAwait(false);
                callCost = query.LastCallCost;
            }
            catch (ModelApiException ex)
            {
                return CallFailed(query, ex);
            }
            finally
            {
                Settle(call, callCost, query.LastCallTokens);
                query.LastCallTokens = 0;
            }
            if (await ApplyReplyAsync(query, response, ct).ConfigureAwait(false) is { } result)
                return result;
        }
    }

    /// <summary>The next call of a query, its worst case reserved on the ledgers; or the query's end when no call may be made.</summary>
    private PreparedCall PrepareCall(QueryState query)
    {
        var cap = _options.MaxBudgetUsd;
        if (cap is { } c && Costs.TotalCostUsd >= c)
            return new PreparedCall(null, 0, 0, query.BudgetExhausted(c));

        var maxTokens = _options.MaxTokens ?? _options.Catalog.MaxOutputTokensOf(_options.Model);
        // A snapshot: the history grows after the call, and a kept request (retries, batches) must not change.
        var request = new ModelRequest(_options.Model, maxTokens, _system, _history.ToArray(), _toolDefinitions.Set);
        var reservation = 0.0;
        if (_ledgers.Count > 0)
        {
            (request, reservation) = ReserveWorstCase(request);
            if (reservation < 0)
                return new PreparedCall(null, 0, 0, query.BudgetExhausted(cap ?? _ledgers[0].CeilingUsd));
        }
        var tokens = 0.0;
        if (_options.TokenLedgers.Count > 0)
        {
            (request, tokens) = ReserveTokens(request);
            if (tokens < 0)
            {
                foreach (var ledger in _ledgers)
                    ledger.Settle(reservation, 0);
                return new PreparedCall(null, 0, 0, query.BudgetExhausted(cap ?? 0));
            }
        }
        query.NumTurns++;
        return new PreparedCall(request, reservation, tokens, null);
    }

    /// <param name="Tokens">What the call reserved on the token ledgers (<see cref="AgentOptions.TokenLedgers"/>).</param>
    private sealed record PreparedCall(ModelRequest? Request, double Reservation, double Tokens, AgentResult? Result);

    /// <summary>A call ended: its reservations give way to what it cost, in dollars and in tokens.</summary>
    private void Settle(PreparedCall call, double cost, long tokens)
    {
        foreach (var ledger in _ledgers)
            ledger.Settle(call.Reservation, cost);
        foreach (var ledger in _options.TokenLedgers)
            ledger.Settle(call.Tokens, tokens);
    }

    /// <summary>
    /// Reserves the call's worst case in tokens on every token ledger: the input bound plus max_tokens, max_tokens lowered
    /// to fit (at least 1024); -1 when it does not fit, and the query stops before the call.
    /// </summary>
    private (ModelRequest Request, double Reserved) ReserveTokens(ModelRequest request)
    {
        var input = InputTokenBound(request);
        for (var attempt = 0; attempt < 8; attempt++)
        {
            var available = _options.TokenLedgers.Min(l => l.AvailableUsd);
            var maxTokens = (int)Math.Min(request.MaxTokens, Math.Floor(available - input));
            if (maxTokens < 1024)
                return (request, -1);
            double worstCase = input + maxTokens;
            var reserved = new List<SpendLedger>();
            foreach (var ledger in _options.TokenLedgers)
            {
                if (!ledger.TryReserve(worstCase))
                    break;
                reserved.Add(ledger);
            }
            if (reserved.Count == _options.TokenLedgers.Count)
                return (request with { MaxTokens = maxTokens }, worstCase);
            foreach (var ledger in reserved)
                ledger.Settle(worstCase, 0);
        }
        return (request, -1);
    }

    private static AgentResult CallFailed(QueryState query, ModelApiException ex)
    {
        query.Sink.OnEvent(new ApiErrorMessageEvent(ex.ToResultText(), ex.Category, ex.Status, ex.ErrorType));
        return query.ApiError(ex);
    }

    /// <summary>The model's reply into the history, then its tool calls; the query's result when it has ended, else null.</summary>
    private async Task<AgentResult?> ApplyReplyAsync(QueryState query, ModelResponse response, CancellationToken ct)
    {
        _history.Add(new ChatMessage(ChatRole.Assistant, response.Content));
        query.StopReason = response.StopReason;
        var toolUses = response.Content.OfType<ToolUseBlock>().ToList();
        var text = TextOf(response.Content);
        if (text.Length > 0)
            query.LastText = text;

        if (toolUses.Count == 0)
        {
            if (_options.OutputSchema is not null && !query.Nudged)
            {
                // Spec §9: one reminder when the model answers in text instead of calling the tool.
                query.Nudged = true;
                var nudge = ChatMessage.User(new TextBlock(StructuredOutputNudge));
                AppendUserMessage(nudge);
                query.Sink.OnEvent(new UserMessageEvent(AnthropicWire.ToJson(nudge), null));
                return null;
            }
            return await OnStopAsync(query, ct).ConfigureAwait(false) switch
            {
                StopAction.Continue => null,
                StopAction.Prevented => query.Success() with { TerminalReason = "stop_hook_prevented" },
                _ => query.Success(),
            };
        }

        var results = new List<ContentBlock>(toolUses.Count);
        JsonNode? structured = null;
        var structuredValid = false;
        query.InTools = true;
        foreach (var use in toolUses)
        {
            var (result, isStructured) = await RunToolAsync(use, query, ct).ConfigureAwait(false);
            if (isStructured)
            {
                if (result.IsError)
                    query.StructuredFailures++;
                else
                {
                    structuredValid = true;
                    structured = use.Input.DeepClone();
                }
            }
            var block = new ToolResultBlock(use.Id, result.Content, result.IsError);
            results.Add(block);
            query.Sink.OnEvent(new UserMessageEvent(AnthropicWire.ToJson(ChatMessage.User(block)), result.Structured?.DeepClone()));
        }
        query.InTools = false;
        // What PostToolUse hooks asked to add goes to the model with the results.
        results.AddRange(query.HookContext.Select(t => new TextBlock(t)));
        query.HookContext.Clear();
        AppendUserMessage(new ChatMessage(ChatRole.User, results));
        if (query.HookStopped)
        {
            // [2.1.332] "continue": false from a tool hook ends the query once the tools have run.
            query.NumTurns++;
            return query.Success() with { Result = "", TerminalReason = "hook_stopped" };
        }

        // Claude Code 2.1.332 counts the turn that would send these results back, without making the call:
        // a valid StructuredOutput ends the query with num_turns = calls + 1 and the output as JSON text in
        // result; --max-turns N stops after the tools of the N-th reply with num_turns N + 1 (no N+1-th call).
        if (structuredValid)
        {
            query.NumTurns++;
            return query.Success() with { StructuredOutput = structured, HasStructuredOutput = true, Result = Stringify(structured) };
        }
        if (_options.MaxTurns is { } maxTurns && query.NumTurns >= maxTurns)
        {
            query.NumTurns++;
            return query.Finish(ResultSubtype.MaxTurns, "max_turns", errors: [$"Reached maximum number of turns ({maxTurns})"]) with { MaxTurnsLimit = maxTurns };
        }
        if (_options.OutputSchema is not null && query.StructuredFailures >= _options.MaxStructuredOutputRetries)
            return query.Finish(ResultSubtype.MaxStructuredOutputRetries, "structured_output_retry_exhausted",
                errors: [$"Failed to provide valid structured output after {query.StructuredFailures} attempts"]);
        return null;
    }

    private async Task<(ToolResult Result, bool IsStructured)> RunToolAsync(ToolUseBlock use, QueryState query, CancellationToken ct)
    {
        var (name, id, inputNode) = (use.Name, use.Id, use.Input);
        using var inputDoc = JsonDocument.Parse(inputNode.ToJsonString());
        var input = inputDoc.RootElement;
        var started = _options.TimeProvider.GetTimestamp();

        if (name == StructuredOutputToolName && _options.OutputSchema is not null)
        {
            var errors = _options.OutputValidator?.Invoke(inputNode) ?? [];
            var outcome = errors.Count == 0
                ? new ToolResult("Structured output provided successfully")
                : ToolResult.Error("Output does not match required schema: " + string.Join("; ", errors));
            query.Sink.OnEvent(new ToolCallEvent(name, id, inputNode.DeepClone(), PermissionBehavior.Allow, null, "structured output", _options.TimeProvider.GetElapsedTime(started), null, outcome.IsError));
            return (outcome, true);
        }

        if (!_tools.TryGetValue(name, out var tool))
        {
            var missing = ToolResult.Error($"No such tool available: {name}");
            query.Sink.OnEvent(new ToolCallEvent(name, id, inputNode.DeepClone(), PermissionBehavior.Deny, null, "unknown tool", _options.TimeProvider.GetElapsedTime(started), null, true));
            return (missing, false);
        }

        var decision = await DecideToolAsync(tool, id, inputNode, input, query, ct).ConfigureAwait(false);
        if (!decision.IsAllowed)
        {
            var message = decision.Message ?? PermissionEngine.NotGranted(name);
            query.Denials.Add(new PermissionDenial(name, id, inputNode.DeepClone()));
            // [2.1.332] a hook's deny is reported in the tool result only, without system/permission_denied.
            if (decision.Rule != HookRule)
                query.Sink.OnEvent(new PermissionDeniedEvent(name, id, inputNode.DeepClone(), message));
            query.Sink.OnEvent(new ToolCallEvent(name, id, inputNode.DeepClone(), PermissionBehavior.Deny, decision.Rule, decision.Reason, _options.TimeProvider.GetElapsedTime(started), null, true));
            return (new ToolResult(message, true, JsonValue.Create("Error: " + message)), false);
        }

        ToolResult result;
        try
        {
            result = await tool.InvokeAsync(input, _options.ToolContext, ct).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            throw;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or ArgumentException or InvalidOperationException or JsonException or FormatException)
        {
            result = ToolResult.Error(ex.Message);
        }
        query.Sink.OnEvent(new ToolCallEvent(name, id, inputNode.DeepClone(), PermissionBehavior.Allow, decision.Rule, decision.Reason, _options.TimeProvider.GetElapsedTime(started), result.ExitCode, result.IsError));
        await AfterToolAsync(name, id, inputNode, result, query, ct).ConfigureAwait(false);
        return (result, false);
    }

    /// <summary>The main model first; on repeated overload or an unavailable model, each fallback in turn (spec §2.1).</summary>
    private async Task<ModelResponse> CallWithFallbackAsync(ModelRequest request, QueryState query, CancellationToken ct)
    {
        var models = new List<string> { request.Model };
        models.AddRange(_options.FallbackModels.Where(m => !models.Contains(m)));
        for (var i = 0; ; i++)
        {
            var hasFallback = i < models.Count - 1;
            var attempt = request with { Model = models[i], OverloadAttemptsBeforeFallback = hasFallback ? 3 : null };
            var observer = new Observer(query.Sink);
            try
            {
                var response = await _client.CreateMessageAsync(attempt, observer, ct).ConfigureAwait(false);
                RecordCall(query, attempt, response);
                return response;
            }
            catch (ModelApiException ex) when (hasFallback && ex.Kind is ModelErrorKind.Overloaded or ModelErrorKind.ModelNotFound)
            {
                query.Sink.OnEvent(FallbackEvent(ex, models[i], models[i + 1]));
            }
        }
    }

    /// <summary>A finished call's cost and usage into the query's counters and the input-token bound of the next call.</summary>
    private void RecordCall(QueryState query, ModelRequest request, ModelResponse response, double priceFactor = 1.0)
    {
        var model = string.IsNullOrEmpty(response.Model) ? request.Model : response.Model;
        var cost = Costs.Add(model, response.Usage, response.Duration, priceFactor);
        query.LastCallCost = cost;
        query.LastCallTokens = response.Usage.TotalInputTokens + response.Usage.OutputTokens;
        query.Usage = query.Usage.Add(response.Usage);
        query.TtftMs ??= (long?)response.TimeToFirstToken?.TotalMilliseconds;
        _lastInputTokens = response.Usage.TotalInputTokens;
        _lastBodyLength = _client.MeasureRequest(request); // written once, by the client; not again here
        query.Sink.OnEvent(new ModelCallEvent(model, response.Id, response.Usage, cost, response.Duration, response.StopReason));
    }

    /// <summary>Claude Code 2.1.332's <c>system/model_fallback</c> sentences, word for word.</summary>
    private static ModelFallbackEvent FallbackEvent(ModelApiException ex, string from, string to)
    {
        var (fromName, toName) = (ModelCatalog.DisplayName(from), ModelCatalog.DisplayName(to));
        return ex.Kind == ModelErrorKind.Overloaded
            ? new ModelFallbackEvent("overloaded", from, to, $"Switched to {toName} due to high demand for {fromName}")
            : new ModelFallbackEvent("model_not_found", from, to, $"Switched to {toName} because {fromName} is not available ({ex.Status} {ex.ResponseBody ?? ex.Message})");
    }

    /// <summary>
    /// Reserves the call's worst case on every ledger: an upper bound of its input tokens priced as cache writes, plus
    /// max_tokens at the output price. When that does not fit, max_tokens is lowered to what does (at least 1024);
    /// otherwise the reservation is refused (-1) and the query stops before the call, so no ceiling is ever crossed.
    /// </summary>
    private (ModelRequest Request, double Reserved) ReserveWorstCase(ModelRequest request)
    {
        // The fallback models may cost more than the main one; price the call at the dearest of them.
        var prices = _options.FallbackModels.Prepend(request.Model).Select(_options.Catalog.PriceOf)
            .SelectMany(p => p.LongContext is { } band ? [p, band] : new[] { p }).ToArray();
        var inputPerToken = prices.Max(p => Math.Max(p.Input, Math.Max(p.CacheWrite5mPrice, p.CacheWrite1hPrice))) * 1e-6 * _options.PriceFactor;
        var outputPerToken = prices.Max(p => p.Output) * 1e-6 * _options.PriceFactor;
        var inputCost = InputTokenBound(request) * inputPerToken;
        for (var attempt = 0; attempt < 8; attempt++)
        {
            var available = _ledgers.Min(l => l.AvailableUsd);
            var affordableOutput = Math.Floor((available - inputCost) / outputPerToken);
            var maxTokens = (int)Math.Min(request.MaxTokens, affordableOutput);
            if (maxTokens < 1024)
                return (request, -1);
            var worstCase = inputCost + maxTokens * outputPerToken;
            var reserved = new List<SpendLedger>();
            foreach (var ledger in _ledgers)
            {
                if (!ledger.TryReserve(worstCase))
                    break;
                reserved.Add(ledger);
            }
            if (reserved.Count == _ledgers.Count)
                return (request with { MaxTokens = maxTokens }, worstCase);
            // Another session reserved in between: give back what was taken and try again with what is left.
            foreach (var ledger in reserved)
                ledger.Settle(worstCase, 0);
        }
        return (request, -1);
    }

    /// <summary>
    /// Tokens are never fewer than one per byte of request text, so the body's byte count bounds the input; the API's
    /// own tool prompt is covered by a margin. After a call, the known token count plus the bytes added since is tighter.
    /// </summary>
    private long InputTokenBound(ModelRequest request)
    {
        var length = _client.MeasureRequest(request);
        if (_lastInputTokens >= 0 && length >= _lastBodyLength)
            return _lastInputTokens + (length - _lastBodyLength) + 64;
        return length + 2048;
    }

    private static string TextOf(IReadOnlyList<ContentBlock> content)
    {
        var sb = new StringBuilder();
        foreach (var block in content.OfType<TextBlock>())
            sb.Append(block.Text);
        return sb.ToString();
    }

    internal static string FormatDuration(TimeSpan t) =>
        t.TotalSeconds < 60 ? $"{t.TotalSeconds:0.###}s" : t.TotalMinutes < 60 ? $"{t.TotalMinutes:0.##}m" : $"{t.TotalHours:0.##}h";

    private sealed class Observer(IAgentEventSink sink) : IModelStreamObserver
    {
        public void OnStreamEvent(string rawJson) => sink.OnEvent(new StreamEvent(rawJson));

        public void OnContentBlock(string messageId, string model, Usage startUsage, JsonObject block) =>
            sink.OnEvent(new AssistantBlockEvent(messageId, model, (JsonObject)block.DeepClone(), startUsage));

        public void OnRetry(ApiRetryInfo retry) => sink.OnEvent(new ApiRetryEvent(retry));
    }

    /// <summary>The per-query counters that end up in the result.</summary>
    private sealed class QueryState(AgentSession session, IAgentEventSink sink, long started)
    {
        public IAgentEventSink Sink { get; } = sink;
        public long Started { get; } = started;
        public int NumTurns { get; set; }
        public Usage Usage { get; set; } = Usage.Zero;
        public List<PermissionDenial> Denials { get; } = [];
        public string? StopReason { get; set; }
        public string LastText { get; set; } = "";
        public long? TtftMs { get; set; }
        public bool InTools { get; set; }
        public double LastCallCost { get; set; }

        /// <value>Input and output tokens of the last call, settled on the token ledgers.</value>
        public long LastCallTokens { get; set; }
        public int StructuredFailures { get; set; }
        public bool Nudged { get; set; }

        /// <value>The call handed out by <see cref="NextStep"/> and not yet answered: its request and ledger reservation.</value>
        public PreparedCall? Pending { get; set; }

        /// <summary>Texts hooks asked to give the model with the next tool results.</summary>
        public List<string> HookContext { get; } = [];

        /// <summary>A hook answered <c>"continue": false</c>: the query ends after the current tools.</summary>
        public bool HookStopped { get; private set; }

        /// <summary>A Stop hook already sent the model back to work in this query (its stdin says so).</summary>
        public bool StopHookActive { get; set; }

        public void NoteHookStop(HookVerdict verdict) => HookStopped |= verdict.StopQuery;

        public AgentResult Success()
        {
            var result = Finish(ResultSubtype.Success, "completed") with { Result = LastText };
            if (session._options.FailOnDenial && Denials.Count > 0)
                result = result with { IsError = true, Errors = [$"{Denials.Count} tool call(s) were denied by permission rules (--fail-on-denial)"] };
            return result;
        }

        public AgentResult BudgetExhausted(double cap) =>
            Finish(ResultSubtype.MaxBudget, "budget_exhausted",
                errors: [$"Reached maximum budget (${cap.ToString(System.Globalization.CultureInfo.InvariantCulture)})"]) with { BudgetLimit = cap };

        public AgentResult ApiError(ModelApiException ex) =>
            Finish(ResultSubtype.Success, "api_error", errors: []) with
            {
                IsError = true,
                Result = ex.ToResultText(),
                ApiErrorStatus = ex.Status,
                ApiErrorKind = ex.Kind,
                RetryAfter = ex.RetryAfter,
                StopReason = "stop_sequence", // [2.1.332] the synthetic error message's stop reason
            };

        public AgentResult Finish(string subtype, string terminalReason, IReadOnlyList<string>? errors = null)
        {
            var result = new AgentResult
            {
                Subtype = subtype,
                IsError = subtype != ResultSubtype.Success,
                DurationMs = (long)session._options.TimeProvider.GetElapsedTime(Started).TotalMilliseconds,
                DurationApiMs = session.Costs.ApiDurationMs,
                NumTurns = NumTurns,
                StopReason = subtype == ResultSubtype.DuringExecution ? null : StopReason,
                SessionId = session.SessionId,
                TotalCostUsd = session.Costs.TotalCostUsd,
                Usage = Usage,
                ModelUsage = session.Costs.ByModel,
                PermissionDenials = Denials.ToArray(),
                HasStructuredOutput = session._options.OutputSchema is not null,
                Errors = errors,
                TerminalReason = terminalReason,
                TtftMs = TtftMs,
                Uuid = Guid.NewGuid().ToString(),
            };
            return result;
        }
    }
}
