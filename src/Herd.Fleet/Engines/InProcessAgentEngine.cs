using System.Text.Json.Nodes;
using Herd.Agent.Loop;
using Herd.Agent.Models;
using Herd.Agent.Telemetry;
using Herd.Fleet.Jobs;

namespace Herd.Fleet.Engines;

/// <summary>
/// Runs each attempt as an <see cref="AgentSession"/> in this process, on one shared <see cref="IModelClient"/> (one
/// HttpClient, pooled connections: no process per task, spec §1 performance anchor). Each attempt gets fresh tools,
/// permissions and limits from <paramref name="optionsFor"/>, so attempts share no state but the client and ledgers.
/// </summary>
/// <param name="optionsFor">
/// Agent options of one attempt (the CLI builds them from every <c>herd -p</c> flag), confined to the attempt's
/// <see cref="TaskAttempt.WorkingDirectory"/> when it has one; asynchronous, because it may start the slot's MCP servers.
/// </param>
/// <param name="runLedger">The run-wide budget (spec §10); every call of every task reserves its worst case on it.</param>
public sealed class InProcessAgentEngine(IModelClient client, Func<TaskAttempt, CancellationToken, Task<AgentOptions>> optionsFor, SpendLedger? runLedger, TimeProvider timeProvider) : ITaskEngine
{
    /// <summary>An engine whose attempts' options need no asynchronous preparation.</summary>
    public InProcessAgentEngine(IModelClient client, Func<TaskAttempt, AgentOptions> optionsFor, SpendLedger? runLedger, TimeProvider timeProvider)
        : this(client, (a, _) => Task.FromResult(optionsFor(a)), runLedger, timeProvider)
    {
    }

    public string Name => "herd";

    public string Version { get; } = typeof(AgentSession).Assembly.GetName().Version?.ToString(3) ?? "0.0.0";

    /// <value>Accept successful runs that had permission denials (<c>--on-denial success</c>).</value>
    public bool DenialIsSuccess { get; init; }

    /// <value>
    /// One more sink per attempt (e.g. the <c>--audit-log</c> writer, which records each session's id); disposed when
    /// the attempt ends if it is disposable.
    /// </value>
    public Func<TaskAttempt, IAgentEventSink>? ExtraSink { get; init; }

    /// <value>
    /// <c>herd run --batch</c>: every model call goes through Message Batch rounds at half the price, the conversation
    /// saved in the run store between rounds; null = live calls.
    /// </value>
    public Batches.BatchRoundCoordinator? Batch { get; init; }

    /// <value>The run-wide token ceiling (<c>--budget-tokens</c>); every call of every task reserves its worst case on it.</value>
    public SpendLedger? RunTokens { get; init; }

    public async Task<TaskOutcome> RunAsync(TaskAttempt attempt, IAttemptObserver observer, CancellationToken cancellationToken = default)
    {
        var start = timeProvider.GetUtcNow();
        AgentOptions options;
        try
        {
            options = await optionsFor(attempt, cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            return new TaskOutcome { Class = OutcomeClass.Cancelled, Start = start, End = timeProvider.GetUtcNow(), SessionId = attempt.SessionId, Error = "cancelled", IsError = true };
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            return new TaskOutcome { Class = OutcomeClass.Crash, Start = start, End = timeProvider.GetUtcNow(), SessionId = attempt.SessionId, Error = ex.Message, IsError = true };
        }
        if (runLedger is not null)
            options = options with { SharedLedgers = [.. options.SharedLedgers, runLedger] };
        if (Batch is not null)
            options = options with { PriceFactor = Batches.BatchConversation.PriceFactor };
        if (RunTokens is not null)
            options = options with { TokenLedgers = [.. options.TokenLedgers, RunTokens] };
        if (attempt.Task.Caps.MaxTurns is { } turns)
            options = options with { MaxTurns = turns };
        // A fix round continues the attempt: the turn cap covers the turns of the rounds before it.
        if (options.MaxTurns is { } cap0 && attempt.TurnsBefore > 0)
            options = options with { MaxTurns = Math.Max(1, cap0 - attempt.TurnsBefore) };
        if (attempt.Task.Caps.MaxBudgetUsd is { } cap)
            options = options with { MaxBudgetUsd = cap };
        // The per-task cap covers the task, not each attempt: a retry gets only what earlier attempts left.
        if (options.MaxBudgetUsd is { } taskCap && attempt.SpentBeforeUsd > 0)
            options = options with { MaxBudgetUsd = Math.Max(0, taskCap - attempt.SpentBeforeUsd) };

        using var timeout = attempt.Timeout is { } t ? new CancellationTokenSource(t, timeProvider) : new CancellationTokenSource();
        using var idle = new CancellationTokenSource();
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, timeout.Token, idle.Token);
        var sink = new AttemptSink(observer, attempt, timeProvider);
        var extra = ExtraSink?.Invoke(attempt);
        using var extraLifetime = extra as IDisposable;
        IAgentEventSink sessionSink = extra is null ? sink : new CompositeSink(sink, extra);
        // Chat and tool spans under this attempt's span (current here); the sink itself when telemetry is off.
        sessionSink = HerdTelemetry.Observe(sessionSink, attempt.SessionId, System.Diagnostics.Activity.Current, timeProvider);
        using var watchdog = attempt.IdleTimeout is { } idleLimit ? StartWatchdog(sink, idleLimit, idle) : null;

        AgentResult result;
        var spentBefore = 0.0;
        try
        {
            if (Batch is { } batch)
            {
                var (batchResult, batchSession, before) = await new Batches.BatchConversation(client, batch).RunAsync(attempt, options, sessionSink, linked.Token).ConfigureAwait(false);
                (result, spentBefore) = (batchResult, before);
                await batchSession.EndAsync("other", sessionSink, linked.Token).ConfigureAwait(false);
                return Outcome(result, start, options, cancellationToken, timeout, idle, spentBefore);
            }
            // A fix round (verify) continues the conversation of the rounds before it: same session, one more user turn.
            var history = attempt.Conversation?.History;
            var sessionId = history is not null && attempt.ResumeSessionId is { } resumed ? resumed : attempt.SessionId;
            var session = history is null ? new AgentSession(client, options, sessionId) : new AgentSession(client, options, sessionId, history);
            result = await session.RunAsync(JsonValue.Create(attempt.Prompt), sessionSink, linked.Token).ConfigureAwait(false);
            if (attempt.Conversation is { } carry)
                carry.History = [.. session.History];
            await session.EndAsync("other", sessionSink, linked.Token).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not OperationCanceledException || linked.IsCancellationRequested)
        {
            // A bug or an unexpected failure inside one task must not take the run down: it is that task's crash.
            var endClass = EndOf(cancellationToken, timeout, idle);
            var cls = endClass switch
            {
                AttemptEnd.Timeout => OutcomeClass.Timeout,
                AttemptEnd.Idle => OutcomeClass.Hang,
                AttemptEnd.Cancelled => OutcomeClass.Cancelled,
                _ => OutcomeClass.Crash,
            };
            return new TaskOutcome
            {
                Class = cls, Start = start, End = timeProvider.GetUtcNow(), SessionId = attempt.SessionId, Model = options.Model,
                Error = ex.Message, IsError = true, CostUsd = sink.Cost, Usage = sink.Usage,
            };
        }
        finally
        {
            DeleteScratch(options.ToolContext);
        }

        return Outcome(result, start, options, cancellationToken, timeout, idle, spentBefore);
    }

    /// <param name="spentBefore">What a continued (batch) conversation had spent in an earlier, cut-off attempt: recorded there already.</param>
    private TaskOutcome Outcome(AgentResult result, DateTimeOffset start, AgentOptions options, CancellationToken cancellationToken,
        CancellationTokenSource timeout, CancellationTokenSource idle, double spentBefore)
    {
        var end = EndOf(cancellationToken, timeout, idle);
        var cap2 = options.MaxBudgetUsd;
        // Which ceiling refused the call: the task's own cap or the run-wide one (the tighter of the two).
        // A refusal with no task cap in force, or with the token ceiling set, is the run's.
        var runBinding = result.Subtype == ResultSubtype.MaxBudget && (runLedger is not null || RunTokens is not null)
            && (cap2 is not { } c || RunTokens is not null || c - result.TotalCostUsd > runLedger!.AvailableUsd);
        var (cls2, error) = OutcomeClassifier.Classify(result, end, options.OutputSchema is not null, runBinding, DenialIsSuccess);
        return new TaskOutcome
        {
            Class = cls2,
            Start = start,
            End = timeProvider.GetUtcNow(),
            SessionId = result.SessionId,
            Model = result.ModelUsage.Keys.LastOrDefault() ?? options.Model,
            Subtype = result.Subtype,
            IsError = result.IsError || !cls2.IsSuccess(),
            TerminalReason = end switch { AttemptEnd.Timeout => "timeout", AttemptEnd.Idle => "idle_timeout", _ => result.TerminalReason },
            ApiErrorStatus = result.ApiErrorStatus,
            Degraded = cls2 == OutcomeClass.SuccessDegraded,
            Error = error,
            ResultText = result.Result ?? result.ToText(),
            StructuredOutput = result.StructuredOutput,
            NumTurns = result.NumTurns,
            PermissionDenials = Denials(result),
            Usage = result.Usage,
            CostUsd = result.TotalCostUsd - spentBefore,
            RetryAfter = result.RetryAfter,
        };
    }

    private static AttemptEnd EndOf(CancellationToken run, CancellationTokenSource timeout, CancellationTokenSource idle) =>
        run.IsCancellationRequested ? AttemptEnd.Cancelled
        : timeout.IsCancellationRequested ? AttemptEnd.Timeout
        : idle.IsCancellationRequested ? AttemptEnd.Idle
        : AttemptEnd.Completed;

    private ITimer StartWatchdog(AttemptSink sink, TimeSpan limit, CancellationTokenSource idle)
    {
        var period = TimeSpan.FromMilliseconds(Math.Clamp(limit.TotalMilliseconds / 4, 10, 1000));
        return timeProvider.CreateTimer(_ =>
        {
            if (sink.IdleFor() >= limit)
                idle.Cancel();
        }, null, period, period);
    }

    private static JsonArray? Denials(AgentResult r)
    {
        if (r.PermissionDenials.Count == 0)
            return [];
        var array = new JsonArray();
        foreach (var d in r.PermissionDenials)
            array.Add((JsonNode)new JsonObject { ["tool_name"] = d.ToolName, ["tool_use_id"] = d.ToolUseId, ["tool_input"] = d.ToolInput?.DeepClone() });
        return array;
    }

    /// <summary>
    /// Watches the agent's events: liveness for the idle clock (paused while a tool runs, spec §4), back-pressure from
    /// inner retries, and cost so far. It keeps no transcript: memory per running task stays small.
    /// </summary>
    private sealed class AttemptSink(IAttemptObserver observer, TaskAttempt attempt, TimeProvider time) : IAgentEventSink
    {
        private long _lastActivity = time.GetTimestamp();
        private volatile bool _inTools;

        public double Cost { get; private set; }
        public Usage Usage { get; private set; } = Usage.Zero;

        public TimeSpan IdleFor() => _inTools ? TimeSpan.Zero : time.GetElapsedTime(Interlocked.Read(ref _lastActivity));

        public void OnEvent(AgentEvent e)
        {
            Interlocked.Exchange(ref _lastActivity, time.GetTimestamp());
            switch (e)
            {
                case ApiRetryEvent { Retry.ErrorStatus: 429 or 529 } retry:
                    observer.OnBackPressure(retry.Retry.ErrorStatus!.Value, retry.Retry.RetryAfter);
                    break;
                case ModelCallEvent call:
                    Cost += call.CostUsd;
                    Usage = Usage.Add(call.Usage);
                    observer.OnCallCost(attempt, call.CostUsd);
                    break;
                case AssistantBlockEvent block when (string?)block.Block["type"] == "tool_use":
                    _inTools = true;
                    break;
                case UserMessageEvent or StatusEvent or ResultEvent:
                    _inTools = false;
                    break;
            }
        }
    }

    /// <summary>
    /// One process runs thousands of sessions: each one's private scratch folder (Bash's TMPDIR in the sandbox, long
    /// outputs saved for the model) goes when its attempt ends, or /tmp would keep one folder per task.
    /// </summary>
    private static void DeleteScratch(Herd.Agent.Tools.ToolContext context)
    {
        if (!context.HasScratchDirectory)
            return;
        try
        {
            Directory.Delete(context.ScratchDirectory, recursive: true);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // A process still holding a file in it (a leftover child) only leaves the folder behind.
        }
    }
}
