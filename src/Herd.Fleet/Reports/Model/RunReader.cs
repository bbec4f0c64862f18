using System.Globalization;
using System.Text.Json;
using Microsoft.Data.Sqlite;

namespace Herd.Fleet.Reports;

/// <summary>A run directory that cannot be read. The message is one line that names it and says what to do.</summary>
public sealed class RunDirectoryException(string message, bool damaged) : Herd.Agent.HerdException(message)
{
    /// <value>True for a run that exists but cannot be read; false for a run that is not where the user pointed.</value>
    public override bool IsFatal => damaged;
}

/// <summary>
/// Reads a run directory as <c>herd run</c> leaves it (spec §7.1), strictly read-only, so a report can be made while
/// the run is still going or from a CI artifact: the records from results.ndjson (a later line for a key supersedes),
/// the attempts with their slots and the pauses from run.db, the ceiling and wall time from summary.json.
/// </summary>
public static partial class RunReader
{
    /// <exception cref="RunDirectoryException">The directory, its database or its records are missing or damaged.</exception>
    public static RunData Read(string directory)
    {
        var dir = Path.GetFullPath(directory);
        if (!Directory.Exists(dir))
            throw new RunDirectoryException($"Error: run directory '{dir}' does not exist. Pass the directory `herd run --run-dir` wrote (or a run id under .herd/runs; `herd runs list` shows them).", damaged: false);
        var db = Path.Combine(dir, "run.db");
        var results = Path.Combine(dir, "results.ndjson");
        if (!File.Exists(db) && !File.Exists(results))
            throw new RunDirectoryException($"Error: '{dir}' is not a run directory (no run.db or results.ndjson). Pass the directory `herd run --run-dir` wrote, with its run.db and results.ndjson.", damaged: false);

        if (File.Exists(db))
        {
            // A run with its store is read as every report reads it, one task at a time; here kept, for callers that
            // want a small run whole (tests, merges).
            var stream = Open(dir);
            var h = stream.Header;
            var read = stream.Tasks().OrderBy(t => t.Seq).ToArray();
            return new RunData(dir, h.RunId, h.Status, h.ExitCode, h.Cwd, Math.Max(h.Planned, read.Length), read, h.Pauses, h.CeilingUsd,
                h.WallS ?? (read.Length == 0 ? 0 : Math.Max(0, (read.Max(t => t.End) - read.Min(t => t.Start)).TotalSeconds)));
        }

        // Without run.db (an exported shared run, a CI artifact of results.ndjson + summary.json), summary.json says
        // how many tasks were planned, so unfinished ones still count against a gate.
        var records = ReadRecords(results);
        var tasks = records.Select(r => ToTask(r, null)).OrderBy(t => t.Seq).ToArray();
        var summary = ReadSummary(Path.Combine(dir, "summary.json"));
        var first = tasks.Length == 0 ? DateTimeOffset.UnixEpoch : tasks.Min(t => t.Start);
        var last = tasks.Length == 0 ? DateTimeOffset.UnixEpoch : tasks.Max(t => t.End);
        return new RunData(
            dir,
            summary.RunId ?? Path.GetFileName(dir),
            summary.Status ?? "unknown",
            summary.ExitCode,
            dir,
            Math.Max(summary.Tasks ?? 0, tasks.Length),
            tasks,
            [],
            summary.Ceiling,
            summary.Wall ?? Math.Max(0, (last - first).TotalSeconds));
    }

    /// <summary>
    /// A run's wall-clock time: what its summary.json says when the run wrote one, else from its first attempt's start
    /// to its last attempt's end (or to now, for an attempt still running), else for a run still running the time since
    /// it was created.
    /// </summary>
    /// <param name="directory">The run directory whose summary.json to read, or null for a run known only to its store.</param>
    public static TimeSpan Wall(Herd.Fleet.Store.IRunStore store, string? directory, TimeProvider? time = null)
    {
        if (directory is not null && ReadSummary(Path.Combine(directory, "summary.json")).Wall is { } seconds)
            return TimeSpan.FromSeconds(seconds);
        var now = (time ?? TimeProvider.System).GetUtcNow();
        // One aggregate query, never every attempt: an attempt still open runs until now.
        var attempts = store is Herd.Fleet.Store.IAttemptSpans spans ? spans.AttemptSpan() : null;
        var span = attempts is { } a
            ? (a.AnyOpen || a.LastEnd is not { } end ? (a.LastEnd is { } e && e > now ? e : now) : end) - a.FirstStart
            : store.ReadStatus().Status == Herd.Fleet.Store.RunStatus.Running && store.ReadRun() is { } info ? now - info.Created : TimeSpan.Zero;
        return span < TimeSpan.Zero ? TimeSpan.Zero : span;
    }

    private static SqliteCommand Command(SqliteConnection db, string sql)
    {
        var cmd = db.CreateCommand();
        cmd.CommandText = sql;
        return cmd;
    }

    private static List<JsonElement> ReadRecords(string path)
    {
        var byKey = new Dictionary<string, JsonElement>(StringComparer.Ordinal);
        var order = new List<string>();
        var n = 0;
        using var reader = new StreamReader(path);
        while (reader.ReadLine() is { } line)
        {
            n++;
            if (line.Length == 0)
                continue;
            var record = Parse(line, $"{path} line {n}", path);
            var key = record.TryGetProperty("key", out var k) && k.ValueKind == JsonValueKind.String ? k.GetString()! : throw Damaged($"{path} line {n} has no \"key\"", path);
            if (!byKey.ContainsKey(key))
                order.Add(key);
            byKey[key] = record;
        }
        return order.Select(k => byKey[k]).ToList();
    }

    private static JsonElement Parse(string json, string where, string path)
    {
        try
        {
            using var doc = JsonDocument.Parse(json);
            return doc.RootElement.ValueKind == JsonValueKind.Object ? doc.RootElement.Clone() : throw Damaged($"{where} is not a JSON object", path);
        }
        catch (JsonException)
        {
            throw Damaged($"{where} is not JSON", path);
        }
    }

    private static RunDirectoryException Damaged(string what, string path) =>
        new($"Error: {what}. `herd run --resume --run-dir {Path.GetDirectoryName(path)}` rewrites results.ndjson from run.db; or restore the run directory from its artifact.", damaged: true);

    /// <param name="stored">The task's attempts from the store; null: the attempts inside its record.</param>
    private static ReportTask ToTask(JsonElement r, IReadOnlyList<ReportAttempt>? stored)
    {
        var key = r.GetProperty("key").GetString()!;
        var start = TimeOr(r, "start", DateTimeOffset.UnixEpoch);
        var end = TimeOr(r, "end", start);
        var outcome = r.TryGetProperty("outcome", out var o) && o.ValueKind == JsonValueKind.Object ? o : default;
        var cls = outcome.ValueKind == JsonValueKind.Object ? Str(outcome, "class") ?? "unknown" : "unknown";
        var tokens = r.TryGetProperty("tokens", out var t) && t.ValueKind == JsonValueKind.Object ? t : default;
        var attempts = stored ?? RecordAttempts(r);
        return new ReportTask(
            Int(r, "Seq"),
            key,
            Str(r, "task") ?? key,
            cls,
            Str(r, "shard"),
            start,
            end,
            r.TryGetProperty("JobRuntime", out var rt) && rt.ValueKind == JsonValueKind.Number ? rt.GetDouble() : (end - start).TotalSeconds,
            Num(r, "cost_usd"),
            Long(tokens, "input"),
            Long(tokens, "output"),
            Long(tokens, "cache_read"),
            Long(tokens, "cache_write_5m") + Long(tokens, "cache_write_1h"),
            Int(r, "retries"),
            Str(r, "model"),
            Str(r, "session_id") ?? "",
            Str(r, "Stdout") ?? "",
            Str(r, "error"),
            r.TryGetProperty("structured_output", out var so) && so.ValueKind is JsonValueKind.Object or JsonValueKind.Array ? so : null,
            attempts)
        {
            Changes = r.TryGetProperty("changes", out var ch) && ch.ValueKind == JsonValueKind.Object ? ReadChanges(ch) : null,
            Verify = r.TryGetProperty("verify", out var v) && v.ValueKind == JsonValueKind.Object
                ? new ReportVerify(v.TryGetProperty("passed", out var p) && p.ValueKind == JsonValueKind.True, Int(v, "runs"), Int(v, "fix_rounds"), Num(v, "seconds"), Str(v, "output_tail") ?? "")
                : null,
        };
    }

    private static ReportChanges ReadChanges(JsonElement c)
    {
        var files = c.TryGetProperty("files", out var f) && f.ValueKind == JsonValueKind.Array
            ? f.EnumerateArray().Select(e => Str(e, "path")).OfType<string>().ToArray()
            : [];
        return new ReportChanges(Str(c, "patch"), files, Int(c, "lines_added"), Int(c, "lines_removed"));
    }

    private static List<ReportAttempt> RecordAttempts(JsonElement r)
    {
        var list = new List<ReportAttempt>();
        if (!r.TryGetProperty("attempts", out var arr) || arr.ValueKind != JsonValueKind.Array)
            return list;
        foreach (var a in arr.EnumerateArray())
        {
            var start = TimeOr(a, "start", DateTimeOffset.UnixEpoch);
            list.Add(new ReportAttempt(Int(a, "n"), null, start, a.TryGetProperty("end", out var e) && e.ValueKind == JsonValueKind.String ? Time(e.GetString()!) : null, Str(a, "class"), Num(a, "cost_usd")));
        }
        return list;
    }

    private static (string? RunId, string? Status, int? ExitCode, int? Tasks, double? Ceiling, double? Wall) ReadSummary(string path)
    {
        if (!File.Exists(path))
            return (null, null, null, null, null, null);
        try
        {
            using var doc = JsonDocument.Parse(File.ReadAllBytes(path));
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
                throw new JsonException();
            double? ceiling = root.TryGetProperty("budget_usd", out var b) && b.ValueKind == JsonValueKind.Number ? b.GetDouble() : null;
            double? wall = root.TryGetProperty("durations_s", out var d) && d.ValueKind == JsonValueKind.Object && d.TryGetProperty("wall", out var w) && w.ValueKind == JsonValueKind.Number ? w.GetDouble() : null;
            int? exit = root.TryGetProperty("exit_code", out var x) && x.ValueKind == JsonValueKind.Number && x.TryGetInt32(out var xv) ? xv : null;
            int? tasks = root.TryGetProperty("tasks", out var t) && t.ValueKind == JsonValueKind.Number && t.TryGetInt32(out var tv) && tv >= 0 ? tv : null;
            return (Str(root, "run_id"), Str(root, "status"), exit, tasks, ceiling, wall);
        }
        catch (JsonException)
        {
            throw new RunDirectoryException($"Error: {path} is not JSON. Delete it (the reports then work from run.db and results.ndjson), or restore the run directory from its artifact.", damaged: true);
        }
    }

    private static DateTimeOffset Max(DateTimeOffset a, DateTimeOffset b) => a > b ? a : b;

    private static DateTimeOffset Time(string s) => DateTimeOffset.Parse(s, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal);

    private static DateTimeOffset TimeOr(JsonElement e, string name, DateTimeOffset fallback) =>
        e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String && DateTimeOffset.TryParse(v.GetString(), CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var t) ? t : fallback;

    private static string? Str(JsonElement e, string name) => e.ValueKind == JsonValueKind.Object && e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;

    private static double Num(JsonElement e, string name) => e.ValueKind == JsonValueKind.Object && e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Number ? v.GetDouble() : 0;

    private static long Long(JsonElement e, string name) => e.ValueKind == JsonValueKind.Object && e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Number && v.TryGetInt64(out var l) ? l : 0;

    private static int Int(JsonElement e, string name) => (int)Long(e, name);

    private static string FirstLine(string s) => s.Split('\n')[0].Trim();
}
