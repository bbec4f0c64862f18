using System.Data.Common;
using Herd.Agent.Models;
using Herd.Fleet.Engines;
using Herd.Fleet.Jobs;

namespace Herd.Fleet.Store;

/// <summary>
/// The row shapes both stores read and write alike — a task, an attempt, its token usage — mapped in one place, so
/// SQLite and PostgreSQL cannot drift on what a column means. Each store supplies only what differs at its SQL edge:
/// how it keeps a timestamp and how it names a damaged value.
/// </summary>
internal static class StoreRows
{
    /// <summary>The columns <see cref="Task"/> reads, in order (of the tasks table).</summary>
    public const string TaskColumns = "key, seq, name, prompt, v, inputs, caps";

    /// <summary>The columns <see cref="Attempt"/> reads, in order, with the end column as each store names it.</summary>
    public static string AttemptColumns(string prefix, string end) =>
        $"{prefix}n, {prefix}start, {prefix}{end}, {prefix}class, {prefix}exitval, {prefix}cost_usd, {prefix}session_id, {prefix}t_in, {prefix}t_out, {prefix}t_cr, {prefix}t_cw5, {prefix}t_cw1, {prefix}slot";

    /// <summary>A task from the columns of <see cref="TaskColumns"/>, starting at <paramref name="at"/>.</summary>
    public static FleetTask Task(DbDataReader r, int at) =>
        new(r.GetInt32(at + 1), r.GetString(at), r.GetString(at + 2), r.GetString(at + 3),
            StoreJson.ReadStrings(r.GetString(at + 4)), StoreJson.ReadMap(r.GetString(at + 5)), StoreJson.ReadCaps(r.GetString(at + 6)));

    /// <summary>An attempt from the columns of <see cref="AttemptColumns"/>, starting at <paramref name="at"/>.</summary>
    /// <param name="time">Reads a timestamp column as the store keeps it.</param>
    /// <param name="parseClass">Reads an outcome class, naming the store when the text is unknown.</param>
    public static AttemptRow Attempt(DbDataReader r, int at, Func<DbDataReader, int, DateTimeOffset> time, Func<string, OutcomeClass> parseClass) => new(
        r.GetInt32(at), time(r, at + 1), r.IsDBNull(at + 2) ? null : time(r, at + 2), r.IsDBNull(at + 3) ? null : parseClass(r.GetString(at + 3)),
        r.IsDBNull(at + 4) ? null : r.GetInt32(at + 4), r.GetDouble(at + 5), r.GetString(at + 6), Usage(r, at + 7),
        r.IsDBNull(at + 12) ? null : r.GetInt32(at + 12));

    /// <summary>Token usage from five columns: input, output, cache read, cache write 5 m, cache write 1 h.</summary>
    public static Usage Usage(DbDataReader r, int at) =>
        new(InputTokens: r.GetInt64(at), OutputTokens: r.GetInt64(at + 1), CacheReadInputTokens: r.GetInt64(at + 2),
            CacheCreation5mTokens: r.GetInt64(at + 3), CacheCreation1hTokens: r.GetInt64(at + 4), CacheCreationInputTokens: r.GetInt64(at + 3) + r.GetInt64(at + 4));

    /// <summary>
    /// The 5-minute cache writes as stored: a usage that does not split its cache writes by lifetime counts them all as
    /// 5-minute writes, so the stored split always adds up to the total.
    /// </summary>
    public static long CacheWrite5m(Usage u) => u.CacheCreation5mTokens == 0 && u.CacheCreation1hTokens == 0 ? u.CacheCreationInputTokens : u.CacheCreation5mTokens;

    /// <summary>The attempt row an end makes of an open one, exactly as a store reads it back after writing the end.</summary>
    public static AttemptRow Ended(this AttemptRow open, TaskOutcome outcome)
    {
        var u = outcome.Usage;
        var cw5 = CacheWrite5m(u);
        return open with
        {
            End = outcome.End, Class = outcome.Class, Exitval = outcome.Exitval, CostUsd = outcome.CostUsd, SessionId = outcome.SessionId,
            Usage = new Usage(InputTokens: u.InputTokens, OutputTokens: u.OutputTokens, CacheReadInputTokens: u.CacheReadInputTokens,
                CacheCreation5mTokens: cw5, CacheCreation1hTokens: u.CacheCreation1hTokens, CacheCreationInputTokens: cw5 + u.CacheCreation1hTokens),
        };
    }
}
