using System.Globalization;
using System.Text;
using System.Text.Json;
using Herd.Agent.Json;
using Herd.Agent.Models;
using Herd.Fleet.Engines;
using Herd.Fleet.Jobs;
using Herd.Fleet.Store;

namespace Herd.Fleet.Reports;

/// <summary>The caps in force for a task, as the record reports them.</summary>
public sealed record CapsInForce(int? MaxTurns, double? MaxBudgetUsd, TimeSpan? Timeout, TimeSpan? IdleTimeout);

/// <summary>
/// The per-task record of results.ndjson (spec §8): GNU parallel's <c>--results</c> keys first with their meaning, then
/// the agent fields. Written with Utf8JsonWriter (no reflection; Native AOT).
/// </summary>
public static class TaskRecord
{
    /// <summary>Stdout is capped at 64 KB (spec §8); the full text would make a 10 000-task file unwieldy.</summary>
    public const int StdoutCap = 64 * 1024;

    public static string Build(FleetTask task, TaskOutcome last, IReadOnlyList<AttemptRow> attempts, string engine, string engineVersion, CapsInForce caps, string? shard = null)
    {
        var w = Records.Start();
        var lastRow = attempts.Count > 0 ? attempts[^1] : null;
        var lastStart = lastRow?.Start ?? last.Start;
        var lastEnd = lastRow?.End ?? last.End;
        w.WriteStartObject();
        w.WriteNumber("Seq", task.Seq);
        w.WriteString("Host", ":");
        w.WriteNumber("Starttime", Math.Round(lastStart.ToUnixTimeMilliseconds() / 1000.0, 3));
        w.WriteNumber("JobRuntime", Math.Round((lastEnd - lastStart).TotalSeconds, 3));
        w.WriteNumber("Send", 0);
        w.WriteNumber("Receive", 0);
        w.WriteNumber("Exitval", last.Exitval);
        w.WriteNumber("Signal", 0);
        w.WriteString("Command", last.Command ?? "herd -p " + ShellQuote(task.Prompt));
        w.WriteStartArray("V");
        foreach (var v in task.Values)
            w.WriteStringValue(v);
        w.WriteEndArray();
        w.WriteString("Stdout", Cap(last.ResultText, StdoutCap));
        w.WriteString("Stderr", last.Stderr is { } engineStderr ? Cap(engineStderr, 8 * 1024) : last.Class.IsSuccess() ? "" : Cap(last.Error ?? "", 8 * 1024));
        w.WriteString("task", task.Name);
        w.WriteString("key", task.Key);
        w.WriteStartObject("inputs");
        foreach (var (k, v) in task.Named)
            w.WriteString(k, v);
        w.WriteEndObject();
        if (shard is null)
            w.WriteNull("shard");
        else
            w.WriteString("shard", shard);
        w.WriteString("start", StoreNames.Iso(attempts.Count > 0 ? attempts[0].Start : last.Start));
        w.WriteString("end", StoreNames.Iso(lastEnd));
        w.WriteString("engine", engine);
        w.WriteString("engine_version", engineVersion);
        WriteNullable(w, "model", last.Model);
        w.WriteString("session_id", last.SessionId);
        w.WriteStartObject("caps");
        WriteNullable(w, "max_turns", caps.MaxTurns);
        WriteNullable(w, "max_budget_usd", caps.MaxBudgetUsd);
        WriteNullable(w, "timeout_s", caps.Timeout?.TotalSeconds);
        WriteNullable(w, "idle_timeout_s", caps.IdleTimeout?.TotalSeconds);
        w.WriteEndObject();
        w.WriteStartObject("outcome");
        w.WriteString("class", last.Class.Name());
        w.WriteBoolean("retryable", last.Class.IsRetryable());
        WriteNullable(w, "subtype", last.Subtype);
        w.WriteBoolean("is_error", last.IsError);
        WriteNullable(w, "terminal_reason", last.TerminalReason);
        WriteNullable(w, "api_error_status", last.ApiErrorStatus);
        w.WriteBoolean("degraded", last.Degraded);
        w.WriteEndObject();
        WriteNullable(w, "error", last.Class.IsSuccess() ? null : last.Error);
        w.WritePropertyName("structured_output");
        if (last.StructuredOutput is null)
            w.WriteNullValue();
        else
            last.StructuredOutput.WriteTo(w);
        w.WriteNumber("num_turns", last.NumTurns);
        w.WritePropertyName("permission_denials");
        if (last.PermissionDenials is null)
            w.WriteNullValue();
        else
            last.PermissionDenials.WriteTo(w);
        WriteTokens(w, attempts.Aggregate(Usage.Zero, (sum, a) => sum.Add(a.Usage)));
        w.WriteNumber("cost_usd", Math.Round(attempts.Sum(a => a.CostUsd), 9));
        w.WriteBoolean("cost_notional", last.CostNotional);
        w.WriteNumber("retries", Math.Max(0, attempts.Count(a => a.Class is not (OutcomeClass.Interrupted or OutcomeClass.Cancelled or OutcomeClass.RunBudget)) - 1));
        if (last.Changes is { } changes)
            WriteChanges(w, changes);
        if (last.Verify is { } verify)
            WriteVerify(w, verify);
        w.WriteStartArray("attempts");
        foreach (var a in attempts)
        {
            w.WriteStartObject();
            w.WriteNumber("n", a.N);
            w.WriteString("start", StoreNames.Iso(a.Start));
            WriteNullable(w, "end", a.End is { } e ? StoreNames.Iso(e) : null);
            WriteNullable(w, "class", a.Class?.Name());
            WriteNullable(w, "Exitval", a.Exitval);
            w.WriteNumber("cost_usd", Math.Round(a.CostUsd, 9));
            w.WriteString("session_id", a.SessionId);
            w.WriteEndObject();
        }
        w.WriteEndArray();
        w.WriteEndObject();
        return Records.ToUtf16();
    }

    /// <summary>One buffer per thread for the records (built per finished task, on the store's thread).</summary>
    private static readonly ReusableJsonWriter Records = new(new JsonWriterOptions { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping });

    /// <summary><c>changes</c> (under <c>--isolate</c>): the patch in the run directory, the files and their lines +/-.</summary>
    private static void WriteChanges(Utf8JsonWriter w, Isolation.TreeChanges changes)
    {
        w.WriteStartObject("changes");
        WriteNullable(w, "patch", changes.Patch);
        w.WriteNumber("files_changed", changes.Files.Count);
        w.WriteNumber("lines_added", changes.LinesAdded);
        w.WriteNumber("lines_removed", changes.LinesRemoved);
        w.WriteStartArray("files");
        foreach (var f in changes.Files)
        {
            w.WriteStartObject();
            w.WriteString("path", f.Path);
            WriteNullable(w, "added", f.Added);
            WriteNullable(w, "removed", f.Removed);
            w.WriteBoolean("binary", f.Added is null);
            w.WriteEndObject();
        }
        w.WriteEndArray();
        w.WriteEndObject();
    }

    /// <summary><c>verify</c> (with <c>--verify</c>): passed, runs, fix rounds, time and the last output's tail.</summary>
    private static void WriteVerify(Utf8JsonWriter w, Isolation.VerifyReport verify)
    {
        w.WriteStartObject("verify");
        w.WriteString("command", verify.Command);
        w.WriteBoolean("passed", verify.Passed);
        w.WriteNumber("runs", verify.Runs);
        w.WriteNumber("fix_rounds", verify.FixRounds);
        w.WriteNumber("exit_code", verify.ExitCode);
        w.WriteNumber("seconds", Math.Round(verify.Duration.TotalSeconds, 3));
        w.WriteString("output_tail", verify.OutputTail);
        w.WriteEndObject();
    }

    /// <summary>POSIX quoting, so Command can be pasted into a shell (see <see cref="ShellText"/>).</summary>
    public static string ShellQuote(string s) => ShellText.Quote(s);

    private static string Cap(string s, int bytes) => Encoding.UTF8.GetByteCount(s) <= bytes ? s : s[..Math.Min(s.Length, bytes / 4)] + "…[truncated]";

    private static void WriteNullable(Utf8JsonWriter w, string name, string? value)
    {
        if (value is null)
            w.WriteNull(name);
        else
            w.WriteString(name, value);
    }

    private static void WriteNullable(Utf8JsonWriter w, string name, double? value)
    {
        if (value is { } v)
            w.WriteNumber(name, v);
        else
            w.WriteNull(name);
    }

    private static void WriteNullable(Utf8JsonWriter w, string name, int? value)
    {
        if (value is { } v)
            w.WriteNumber(name, v);
        else
            w.WriteNull(name);
    }

    internal static string F(double d) => d.ToString("0.######", CultureInfo.InvariantCulture);

    /// <summary>The <c>tokens</c> object of spec §8, shared by task records and the summary.</summary>
    internal static void WriteTokens(Utf8JsonWriter w, Usage t)
    {
        w.WriteStartObject("tokens");
        w.WriteNumber("input", t.InputTokens);
        w.WriteNumber("output", t.OutputTokens);
        w.WriteNumber("cache_read", t.CacheReadInputTokens);
        w.WriteNumber("cache_write_5m", t.CacheCreation5mTokens);
        w.WriteNumber("cache_write_1h", t.CacheCreation1hTokens);
        w.WriteEndObject();
    }
}
