using System.Text.Json.Nodes;
using Herd.Agent.Models;

namespace Herd.Agent.Loop;

/// <summary>
/// What a stepping caller does next: send <see cref="Request"/> and hand its reply to
/// <see cref="AgentSession.ApplyAsync"/>, or stop, the query having ended with <see cref="Result"/>.
/// </summary>
public sealed record AgentStep(ModelRequest? Request, AgentResult? Result)
{
    public bool IsDone => Result is not null;
}

/// <summary>
/// The steppable form of a query, for a scheduler that makes the model calls itself and holds many sessions between
/// turns (a Message Batch advances every task by one call): <see cref="Begin"/>, then <see cref="ApplyAsync"/> or
/// <see cref="Fail"/> for each request until the step is done. Between steps a session can be saved
/// (<see cref="Save"/>) and resumed in another process (<see cref="Resume"/>), and continues exactly as it would have.
/// The events are those of <see cref="RunAsync"/>, except that a reply's blocks are announced when it is applied.
/// </summary>
public sealed partial class AgentSession
{
    private QueryState? _stepped;

    /// <summary>Starts a query: <c>system/init</c>, the prompt into the history, and the first request.</summary>
    /// <exception cref="InvalidOperationException">A stepped query is already in progress.</exception>
    public AgentStep Begin(JsonNode userContent, IAgentEventSink sink, bool replay = false)
    {
        if (_stepped is not null)
            throw new InvalidOperationException("This session already has a query in progress.");
        _stepped = StartQuery(userContent, sink, replay);
        sink.OnEvent(new StatusEvent("requesting"));
        return NextStep(_stepped);
    }

    /// <summary>Applies the reply to the pending request: its cost, the history, the tool calls it makes; then the next step.</summary>
    /// <param name="priceFactor">0.5 when the reply came from a Message Batch (billed at half the standard price).</param>
    public async Task<AgentStep> ApplyAsync(ModelResponse response, CancellationToken cancellationToken = default, double priceFactor = 1.0)
    {
        var (query, call) = Pending();
        foreach (var block in response.Content)
            query.Sink.OnEvent(new AssistantBlockEvent(response.Id, response.Model, AnthropicWire.ToJson(block), response.StartUsage));
        RecordCall(query, call.Request!, response, priceFactor);
        Settle(call, query.LastCallCost, query.LastCallTokens);
        query.LastCallTokens = 0;
        AgentResult? result;
        try
        {
            result = await ApplyReplyAsync(query, response, cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            result = query.Finish(ResultSubtype.DuringExecution, "aborted_tools", errors: ["Interrupted by user"]);
        }
        return result is null ? NextStep(query) : End(query, result);
    }

    /// <summary>The pending request failed for good (the caller's retries, if any, are spent): the query ends with the API error.</summary>
    public AgentStep Fail(ModelApiException error)
    {
        var (query, call) = Pending();
        Settle(call, 0, 0);
        return End(query, CallFailed(query, error));
    }

    /// <summary>
    /// The session between steps, to be resumed elsewhere. A pending request is not part of it: <see cref="Resume"/>
    /// makes the same request again from the same history.
    /// </summary>
    /// <exception cref="InvalidOperationException">No stepped query is in progress.</exception>
    public AgentSessionState Save()
    {
        var query = _stepped ?? throw new InvalidOperationException("This session has no query in progress to save.");
        return new AgentSessionState
        {
            SessionId = SessionId,
            History = _history.ToArray(),
            NumTurns = query.NumTurns - (query.Pending is null ? 0 : 1),
            Usage = query.Usage,
            StopReason = query.StopReason,
            LastText = query.LastText,
            TtftMs = query.TtftMs,
            StructuredFailures = query.StructuredFailures,
            Nudged = query.Nudged,
            Denials = query.Denials.ToArray(),
            CostsByModel = Costs.ByModel,
            ApiDurationMs = Costs.ApiDurationMs,
            ElapsedMs = (long)_options.TimeProvider.GetElapsedTime(query.Started).TotalMilliseconds,
            LastInputTokens = _lastInputTokens,
            LastBodyLength = _lastBodyLength,
        };
    }

    /// <summary>A saved session with its query in progress, and the request it was about to make.</summary>
    public static (AgentSession Session, AgentStep Step) Resume(IModelClient client, AgentOptions options, AgentSessionState state, IAgentEventSink sink)
    {
        var session = new AgentSession(client, options, state.SessionId, state.History);
        session.Costs.Restore(state.CostsByModel, state.ApiDurationMs);
        session._lastInputTokens = state.LastInputTokens;
        session._lastBodyLength = state.LastBodyLength;
        var time = options.TimeProvider;
        var started = time.GetTimestamp() - (long)(state.ElapsedMs / 1000.0 * time.TimestampFrequency);
        var query = new QueryState(session, sink, started)
        {
            NumTurns = state.NumTurns,
            Usage = state.Usage,
            StopReason = state.StopReason,
            LastText = state.LastText,
            TtftMs = state.TtftMs,
            StructuredFailures = state.StructuredFailures,
            Nudged = state.Nudged,
        };
        query.Denials.AddRange(state.Denials);
        session._stepped = query;
        return (session, session.NextStep(query));
    }

    private AgentStep NextStep(QueryState query)
    {
        var call = PrepareCall(query);
        if (call.Result is { } ended)
            return End(query, ended);
        query.Pending = call;
        return new AgentStep(call.Request, null);
    }

    private (QueryState Query, PreparedCall Call) Pending()
    {
        var query = _stepped ?? throw new InvalidOperationException("This session has no query in progress.");
        var call = query.Pending ?? throw new InvalidOperationException("This session has no request waiting for a reply.");
        query.Pending = null;
        return (query, call);
    }

    private AgentStep End(QueryState query, AgentResult result)
    {
        query.Sink.OnEvent(new ResultEvent(result));
        _stepped = null;
        return new AgentStep(null, result);
    }
}
