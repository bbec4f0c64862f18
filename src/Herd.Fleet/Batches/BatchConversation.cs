using System.Text.Json.Nodes;
using Herd.Agent.Loop;
using Herd.Agent.Models;
using Herd.Fleet.Engines;

namespace Herd.Fleet.Batches;

/// <summary>
/// One task's conversation in a batch run: the steppable agent session driven call by call through the
/// <see cref="BatchRoundCoordinator"/>, saved in the run store before each request is claimed. A task whose previous
/// attempt was cut off (kill -9, Ctrl-C) continues from its saved session with the same next request and the same
/// custom_id, so the coordinator collects that request's answer from the batch that already holds it.
/// </summary>
internal sealed class BatchConversation(IModelClient client, BatchRoundCoordinator rounds)
{
    /// <summary>Batches bill every request at half the standard price.</summary>
    public const double PriceFactor = 0.5;

    /// <returns>The query's result, the session (for its end hooks), and what the session had spent before this attempt (a continued one).</returns>
    public async Task<(AgentResult Result, AgentSession Session, double SpentBefore)> RunAsync(
        TaskAttempt attempt, AgentOptions options, IAgentEventSink sink, CancellationToken cancellationToken)
    {
        var key = attempt.Task.Key;
        var ledger = rounds.Ledger;
        AgentSession session;
        AgentStep step;
        int calls = 0, retries = 0;
        var spentBefore = 0.0;
        if (attempt.ResumeSessionId is { } cut && ledger.LoadSession(key) is { } saved && saved.AttemptSession == cut)
        {
            var state = AgentSessionState.Parse(saved.StateJson);
            (session, step) = AgentSession.Resume(client, options, state, sink);
            (calls, retries) = (saved.Calls, saved.Retries);
            spentBefore = state.CostsByModel.Values.Sum(m => m.CostUsd);
        }
        else
        {
            session = new AgentSession(client, options, attempt.SessionId);
            step = session.Begin(JsonValue.Create(attempt.Prompt), sink);
        }
        using (rounds.Enter())
        {
            while (step.Request is { } request)
            {
                // Saved before the request is claimed: a resume rebuilds this very request and finds it claimed.
                ledger.SaveSession(key, new BatchSessionRow(attempt.SessionId, calls, retries, session.Save().ToJson()));
                var customId = AnthropicBatchClient.CustomId($"{key}-{session.SessionId}", calls + 1);
                var answer = await rounds.CallAsync(customId, key, request, cancellationToken).ConfigureAwait(false);
                calls++;
                if (answer.Response is { } response)
                {
                    step = await session.ApplyAsync(response, cancellationToken, PriceFactor).ConfigureAwait(false);
                    retries = 0;
                }
                else if (Retryable(answer) && retries < rounds.Options.MaxRetries)
                {
                    retries++; // the same request goes again next round, under a new custom_id
                }
                else
                {
                    step = session.Fail(answer.Error!);
                }
            }
        }
        ledger.DeleteSession(key);
        return (step.Result!, session, spentBefore);
    }

    private static bool Retryable(BatchResult answer) =>
        answer.Kind is BatchResultKind.Expired or BatchResultKind.Canceled || answer.Error is { IsRetryable: true };
}
