namespace Herd.Fleet.Batches;

/// <summary>A task's conversation between two batch rounds, as the run store keeps it.</summary>
/// <param name="AttemptSession">The session id of the attempt that last drove it: a later attempt continues it only when that attempt was cut off.</param>
/// <param name="Calls">Requests already made for it (answered, retried or failed): the next request's custom_id is built from <c>Calls + 1</c>.</param>
/// <param name="Retries">Consecutive retries of the pending request (errored, expired or canceled in its batch).</param>
/// <param name="StateJson">The saved agent session (<c>AgentSessionState</c> as JSON).</param>
public sealed record BatchSessionRow(string AttemptSession, int Calls, int Retries, string StateJson);

/// <summary>Where a Message Batch of the run stands: what progress lines and <c>herd runs watch</c> show.</summary>
public sealed record BatchRow(string BatchId, int Round, int Requests, BatchState State, int Processing, int Succeeded, int Errored, int Canceled, int Expired);

/// <summary>A batch's life as the run store records it.</summary>
public enum BatchState
{
    /// <summary>Created; its results have not been read yet. A resumed run collects it instead of submitting its requests again.</summary>
    InProgress,

    /// <summary>Ended at the API and its results applied.</summary>
    Collected,

    /// <summary>Cancelled by <c>--on-interrupt cancel</c>; its requests go again next round.</summary>
    Canceled,
}

/// <summary>
/// The run store's record of a batch run's rounds (<c>herd run --batch</c>): which request (custom_id) went into which
/// Message Batch in which round, and each task's saved conversation between rounds. It is what makes a batch run
/// survive <c>kill -9</c> without spending twice: a request is claimed here before it is submitted, its batch id is
/// written as soon as the API returns it, and a resumed run (or another worker) that finds a claimed request waits for
/// that batch's results instead of submitting it again. Both run stores implement it (SQLite's run.db, PostgreSQL's
/// migration 5).
/// </summary>
public interface IBatchLedger
{
    /// <summary>The task's saved conversation; null when it has none.</summary>
    BatchSessionRow? LoadSession(string taskKey);

    /// <summary>Saves (replaces) the task's conversation. One transaction.</summary>
    void SaveSession(string taskKey, BatchSessionRow row);

    /// <summary>The task ended: its conversation is no longer needed.</summary>
    void DeleteSession(string taskKey);

    /// <summary>
    /// Claims requests for a round before they are submitted, in one transaction. A request claimed before is not
    /// claimed again: its batch id is returned instead (null when the process that claimed it died before the API
    /// answered it — it was never recorded as submitted, and the caller submits it now).
    /// </summary>
    /// <returns>The requests that were already claimed, with the batch that holds them (or null).</returns>
    IReadOnlyDictionary<string, string?> ClaimRequests(int round, IReadOnlyList<(string CustomId, string TaskKey)> requests);

    /// <summary>The API accepted the batch: its id goes with its requests and the round, in one transaction.</summary>
    void RecordBatch(string batchId, int round, IReadOnlyList<string> customIds);

    /// <summary>A poll's answer (state and request counts) for progress and watchers.</summary>
    void UpdateBatch(BatchRow row);

    /// <summary>Every batch of the run, oldest first.</summary>
    IReadOnlyList<BatchRow> Batches();
}

/// <summary>The text of <see cref="BatchState"/> at the SQL edge.</summary>
public static class BatchStates
{
    public static string Name(BatchState state) => state switch
    {
        BatchState.InProgress => "in_progress",
        BatchState.Collected => "collected",
        _ => "canceled",
    };

    /// <exception cref="FormatException">Not a batch state this Herd wrote.</exception>
    public static BatchState Parse(string text) => text switch
    {
        "in_progress" => BatchState.InProgress,
        "collected" => BatchState.Collected,
        "canceled" => BatchState.Canceled,
        _ => throw new FormatException($"an unknown batch state '{text}'"),
    };
}
