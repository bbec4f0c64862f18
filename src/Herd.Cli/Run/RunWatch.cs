using System.Globalization;
using System.Text;
using System.Text.Json;
using Herd.Agent;
using Herd.Fleet.Engines;
using Herd.Fleet.Reports;
using Herd.Fleet.Runs;
using Herd.Fleet.Store;

namespace Herd.Cli.Run;

/// <summary>One look at a run from outside: the store's tables plus the run's live snapshot (issue #12).</summary>
public sealed record WatchSnapshot(
    DateTimeOffset At,
    RunInfo Run,
    RunStatus Status,
    RunTotals Totals,
    WatchData Data,
    int? Limit,
    int? MaxLimit,
    DateTimeOffset? PausedUntil,
    double? BudgetUsd,
    double? ProjectedUsd,
    TimeSpan? Eta,
    IReadOnlyDictionary<(string Key, int N), int> Turns,
    Herd.Fleet.Batches.BatchRow? Batch = null)
{
    /// <summary>Finished tasks per minute over the rate window (null before anything finished in it).</summary>
    public double? TasksPerMinute
    {
        get
        {
            if (Data.FinishedInWindow == 0 || Data.FirstStart is not { } first)
                return null;
            var minutes = Math.Max((At - first).TotalMinutes, 1.0 / 60);
            return Data.FinishedInWindow / Math.Min(minutes, RunWatch.RateWindow.TotalMinutes);
        }
    }

    public int Done => Totals.Tasks - Totals.Unfinished;

    /// <summary>
    /// The run row says running but no orchestrator holds the run: its lock heartbeat (every 5 s) is missing or older
    /// than the staleness limit, so the process died (kill -9, a crash, a lost machine) and nothing will change. For a
    /// run in a shared store the heartbeat is the freshest of the orchestrator's lock, any worker's presence and any
    /// unexpired lease on the run's tasks (<see cref="IWatchReads.ReadWatch"/>).
    /// </summary>
    public bool Orphaned => Status == RunStatus.Running && (Data.Heartbeat is not { } beat || At - beat > Herd.Fleet.Runs.FleetRun.LockStaleAfter);
}

/// <summary>
/// <c>herd runs watch RUN</c>: follows a run in progress from another terminal, read-only on its store. On a terminal
/// the view is redrawn in place; otherwise one block of plain lines per interval; <c>--json</c> prints one snapshot
/// object per line. Ends when the run is no longer running (after showing its final state), or after one look with
/// <c>--once</c>.
/// </summary>
public static class RunWatch
{
    /// <summary>Finished tasks are counted over this window for tasks/minute.</summary>
    public static readonly TimeSpan RateWindow = TimeSpan.FromMinutes(5);

    /// <summary>At most this many running tasks get a line of their own; the rest are counted.</summary>
    public const int MaxTaskLines = 10;

    /// <summary>Follows a run kept in its directory (run.db).</summary>
    public static int Run(string dir, bool json, bool once, TimeSpan interval, TextWriter stdout, bool terminal, CancellationToken cancellationToken) =>
        Follow(now =>
        {
            using var store = SqliteRunStore.OpenReadOnly(dir);
            return Read(store, now);
        }, "no heartbeat from its process", $"herd run --resume --run-dir {dir}", json, once, interval, stdout, terminal, cancellationToken);

    /// <summary>
    /// Follows a run kept in a shared PostgreSQL store (issue #14). It is orphaned when it is running but neither a
    /// <c>herd run --store</c> lock nor any <c>herd worker</c> has beaten within <see cref="FleetRun.LockStaleAfter"/>,
    /// and no task of it is under an unexpired lease (<see cref="IWatchReads.ReadWatch"/>).
    /// </summary>
    public static int Run(ISharedRunStore store, bool json, bool once, TimeSpan interval, TextWriter stdout, bool terminal, CancellationToken cancellationToken) =>
        Follow(now => Read(store, now), "no heartbeat from herd run or any herd worker",
            $"herd worker --store URL --run {store.RunId} (or herd run --resume --store URL --run-dir {store.RunId})", json, once, interval, stdout, terminal, cancellationToken);

    private static int Follow(Func<DateTimeOffset, WatchSnapshot> look, string why, string resume, bool json, bool once, TimeSpan interval, TextWriter stdout, bool terminal, CancellationToken cancellationToken)
    {
        var mode = json ? "json" : terminal ? "terminal" : "plain";
        var drawn = 0;
        var failuresShown = new HashSet<(string, int)>();
        while (true)
        {
            var snapshot = look(TimeProvider.System.GetUtcNow());
            var finished = snapshot.Status != RunStatus.Running || snapshot.Orphaned;
            switch (mode)
            {
                case "json":
                    stdout.WriteLine(Json(snapshot));
                    break;
                case "terminal":
                    var lines = Lines(snapshot, bar: true);
                    var sb = new StringBuilder();
                    if (drawn > 0)
                        sb.Append("\u001b[").Append(drawn).Append('F');
                    foreach (var line in lines)
                        sb.Append("\u001b[2K").Append(line).Append('\n');
                    sb.Append("\u001b[J");
                    stdout.Write(sb.ToString());
                    drawn = lines.Count;
                    break;
                default:
                    foreach (var line in Lines(snapshot, bar: false, failuresShown))
                        stdout.WriteLine(line);
                    break;
            }
            if (snapshot.Orphaned && !json)
                stdout.WriteLine($"herd: run {snapshot.Run.RunId} is not running any more ({why}); continue it with: {resume}");
            stdout.Flush();
            if (once || finished || cancellationToken.WaitHandle.WaitOne(interval))
                return 0;
        }
    }

    public static WatchSnapshot Read<TStore>(TStore store, DateTimeOffset now)
        where TStore : IRunCatalog, IWatchReads, Herd.Fleet.Batches.IBatchLedger
    {
        var info = store.ReadRun() ?? throw new HerdFatalException($"Error: '{store.Location}' has no run row; it was not written by herd run.");
        var (status, _) = store.ReadStatus();
        var totals = store.WatchTotals();
        var data = store.ReadWatch(now, RateWindow);
        int? limit = null, max = null;
        DateTimeOffset? paused = null;
        double? budget = null, projected = null;
        TimeSpan? eta = null;
        var turns = new Dictionary<(string, int), int>();
        if (data.Live is { } live && status == RunStatus.Running)
        {
            using var doc = JsonDocument.Parse(live.Json);
            var r = doc.RootElement;
            limit = r.GetProperty("limit").GetInt32();
            max = r.GetProperty("max_limit").GetInt32();
            paused = r.TryGetProperty("paused_until", out var p) ? DateTimeOffset.Parse(p.GetString()!, CultureInfo.InvariantCulture) : null;
            budget = r.TryGetProperty("budget_usd", out var b) ? b.GetDouble() : null;
            projected = r.TryGetProperty("projected_usd", out var pr) ? pr.GetDouble() : null;
            eta = r.TryGetProperty("eta_s", out var e) ? TimeSpan.FromSeconds(e.GetDouble()) : null;
            foreach (var a in r.GetProperty("running").EnumerateArray())
                turns[(a.GetProperty("key").GetString()!, a.GetProperty("attempt").GetInt32())] = a.GetProperty("turns").GetInt32();
        }
        return new WatchSnapshot(now, info, status, totals, data, limit, max, paused, budget, projected, eta, turns, LatestBatch(store));
    }

    /// <summary>
    /// A look at a shared run: the store's tables, and the run-wide state workers share (the AIMD limit, the pause, the
    /// ledger's ceiling) in place of the live row a single process writes. Turns of running attempts are not shared.
    /// </summary>
    public static WatchSnapshot Read(ISharedRunStore store, DateTimeOffset now)
    {
        var info = store.ReadRun() ?? throw new HerdUsageException($"Error: run store {store.Location} holds no such run. `herd runs list --store URL` shows the runs.");
        var (status, _) = store.ReadStatus();
        var totals = store.WatchTotals();
        var data = store.ReadWatch(now, RateWindow);
        // The watch loop is synchronous (it waits on the command's cancellation handle between looks).
        var shared = store.ReadSharedAsync(now, FleetRun.LockStaleAfter).GetAwaiter().GetResult();
        var running = status == RunStatus.Running;
        return new WatchSnapshot(now, info, status, totals, data, running ? shared.RateLimit : null, null, running ? shared.PauseUntil : null, shared.BudgetUsd, null, null,
            new Dictionary<(string, int), int>(), LatestBatch(store));
    }

    /// <summary>A batch run's latest round (<c>--batch</c>); null for a live run.</summary>
    private static Herd.Fleet.Batches.BatchRow? LatestBatch(Herd.Fleet.Batches.IBatchLedger ledger) => ledger.Batches().LastOrDefault();

    /// <summary>e.g. <c>batch round 2 msgbatch_01 in_progress: 180 processing, 15 succeeded, 3 errored, 2 expired</c>.</summary>
    public static string BatchLine(Herd.Fleet.Batches.BatchRow b) => string.Create(CultureInfo.InvariantCulture,
        $"batch round {b.Round} {b.BatchId} {Herd.Fleet.Batches.BatchStates.Name(b.State)}: {b.Processing} processing, {b.Succeeded} succeeded, {b.Errored} errored, {b.Expired} expired{(b.Canceled > 0 ? $", {b.Canceled} canceled" : "")}");

    /// <summary>The view as lines: the status line, a line per running task, then the latest failures.</summary>
    /// <param name="shown">Plain mode: failures already printed are left out (each is printed once).</param>
    public static IReadOnlyList<string> Lines(WatchSnapshot s, bool bar, HashSet<(string, int)>? shown = null)
    {
        var inv = CultureInfo.InvariantCulture;
        var t = s.Totals;
        var sb = new StringBuilder();
        sb.Append(inv, $"{s.Run.RunId} {s.Status.Name()} ");
        if (bar)
            sb.Append(ProgressDisplay.Bar(s.Done, t.Tasks)).Append(' ');
        sb.Append(inv, $"{s.Done}/{t.Tasks} done, {Summary.Failed(t)} failed, {s.Data.Running.Count} running");
        sb.Append(s.TasksPerMinute is { } rate ? string.Create(inv, $" | {rate:0.#}/min") : " | –/min");
        if (s.Eta is { } eta)
            sb.Append(" | ETA ").Append(ProgressDisplay.Format(eta));
        else if (s.TasksPerMinute is { } r2 && r2 > 0 && t.Unfinished > 0)
            sb.Append(" | ETA ").Append(ProgressDisplay.Format(TimeSpan.FromMinutes(t.Unfinished / r2)));
        sb.Append(inv, $" | ${t.SpentUsd:0.####}");
        if (s.BudgetUsd is { } budget)
            sb.Append(inv, $" / ${budget:0.##}");
        if (s.ProjectedUsd is { } projected)
            sb.Append(inv, $", projected ${projected:0.##}");
        if (s.Limit is { } limit)
        {
            if (s.MaxLimit is { } maxLimit)
                sb.Append(inv, $" | L {limit}/{maxLimit}");
            else
                sb.Append(inv, $" | L {limit}");
        }
        if (s.PausedUntil is { } until && until > s.At)
            sb.Append(inv, $" | paused until {until:HH:mm:ss} ({(until - s.At).TotalSeconds:0}s)");
        var lines = new List<string> { sb.ToString() };
        if (s.Batch is { } batch)
            lines.Add("  " + BatchLine(batch));
        foreach (var a in s.Data.Running.Take(MaxTaskLines))
            lines.Add(ProgressDisplay.TaskLine(a.Task, a.N, s.At - a.Start, s.Turns.TryGetValue((a.Key, a.N), out var n) ? n : null, a.CostUsd));
        if (s.Data.Running.Count > MaxTaskLines)
            lines.Add($"  … {s.Data.Running.Count - MaxTaskLines} more running");
        foreach (var f in s.Data.RecentFailures)
        {
            if (shown is not null && !shown.Add((f.Key, f.N)))
                continue;
            var error = f.Error is { Length: > 0 } e ? ": " + OneLine(e, 100) : "";
            lines.Add($"  {(f.Final ? "failed " : "retried")} {OneLine(f.Task, 40)} #{f.N} {f.Class.Name()}{error}");
        }
        return lines;
    }

    public static string Json(WatchSnapshot s)
    {
        using var buffer = new MemoryStream();
        using (var w = new Utf8JsonWriter(buffer))
        {
            var t = s.Totals;
            w.WriteStartObject();
            w.WriteString("at", StoreNames.Iso(s.At));
            w.WriteString("run_id", s.Run.RunId);
            w.WriteString("status", s.Status.Name());
            w.WriteBoolean("orphaned", s.Orphaned);
            w.WriteNumber("tasks", t.Tasks);
            w.WriteNumber("done", s.Done);
            w.WriteNumber("succeeded", Summary.Succeeded(t));
            w.WriteNumber("failed", Summary.Failed(t));
            w.WriteNumber("running", s.Data.Running.Count);
            w.WriteNumber("unfinished", t.Unfinished);
            Nullable(w, "tasks_per_minute", s.TasksPerMinute is { } rate ? Math.Round(rate, 3) : null);
            Nullable(w, "eta_s", s.Eta?.TotalSeconds);
            w.WriteNumber("spent_usd", Math.Round(t.SpentUsd, 9));
            Nullable(w, "budget_usd", s.BudgetUsd);
            Nullable(w, "projected_usd", s.ProjectedUsd);
            if (s.Limit is { } limit)
                w.WriteNumber("limit", limit);
            else
                w.WriteNull("limit");
            if (s.MaxLimit is { } max)
                w.WriteNumber("max_limit", max);
            else
                w.WriteNull("max_limit");
            if (s.PausedUntil is { } p && p > s.At)
                w.WriteString("paused_until", StoreNames.Iso(p));
            else
                w.WriteNull("paused_until");
            if (s.Batch is { } b)
            {
                w.WriteStartObject("batch");
                w.WriteNumber("round", b.Round);
                w.WriteString("batch_id", b.BatchId);
                w.WriteString("state", Herd.Fleet.Batches.BatchStates.Name(b.State));
                w.WriteNumber("requests", b.Requests);
                w.WriteNumber("processing", b.Processing);
                w.WriteNumber("succeeded", b.Succeeded);
                w.WriteNumber("errored", b.Errored);
                w.WriteNumber("canceled", b.Canceled);
                w.WriteNumber("expired", b.Expired);
                w.WriteEndObject();
            }
            else
            {
                w.WriteNull("batch");
            }
            w.WriteStartArray("running_tasks");
            foreach (var a in s.Data.Running)
            {
                w.WriteStartObject();
                w.WriteString("key", a.Key);
                w.WriteString("task", a.Task);
                w.WriteNumber("attempt", a.N);
                w.WriteNumber("elapsed_s", Math.Round((s.At - a.Start).TotalSeconds, 1));
                if (s.Turns.TryGetValue((a.Key, a.N), out var turns))
                    w.WriteNumber("turns", turns);
                else
                    w.WriteNull("turns");
                w.WriteNumber("spent_usd", Math.Round(a.CostUsd, 9));
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteStartArray("recent_failures");
            foreach (var f in s.Data.RecentFailures)
            {
                w.WriteStartObject();
                w.WriteString("key", f.Key);
                w.WriteString("task", f.Task);
                w.WriteNumber("attempt", f.N);
                w.WriteString("class", f.Class.Name());
                w.WriteBoolean("final", f.Final);
                if (f.Error is { } e)
                    w.WriteString("error", e);
                w.WriteString("at", StoreNames.Iso(f.End));
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteEndObject();
        }
        return Encoding.UTF8.GetString(buffer.ToArray());
    }

    private static void Nullable(Utf8JsonWriter w, string name, double? value)
    {
        if (value is { } v)
            w.WriteNumber(name, v);
        else
            w.WriteNull(name);
    }

    private static string OneLine(string s, int max)
    {
        var one = s.ReplaceLineEndings(" ");
        return one.Length <= max ? one : one[..(max - 1)] + "…";
    }
}
