namespace Herd.Fleet.Reports;

/// <summary>A task as a report's table shows it: a few numbers and short texts, copied out of its record.</summary>
/// <param name="Attempts">Kept only while the run is drawn attempt by attempt (<see cref="RunDigest.Exact"/>); else empty.</param>
public sealed record DigestRow(
    int Seq,
    string Key,
    string Name,
    string Class,
    string? Shard,
    DateTimeOffset Start,
    DateTimeOffset End,
    double RuntimeS,
    double CostUsd,
    int Retries,
    long TokensIn,
    long TokensOut,
    string SessionId,
    string Result,
    string? Error,
    int Findings,
    IReadOnlyList<ReportAttempt> Attempts)
{
    public bool Failed => Class is not ("success" or "success_degraded" or "cancelled");
}

/// <summary>
/// A run summed up in one pass over its tasks, in memory that does not grow with the run (issue #23): counts, sums and
/// distributions, attempts binned over time, the findings counted with the most severe kept, and the tasks a report's
/// table shows. A run of up to <see cref="ExactTasks"/> tasks and <see cref="ExactAttempts"/> attempts keeps every task
/// and attempt, so its page draws each one; a larger run keeps the failed, slowest and costliest tasks.
/// </summary>
public sealed class RunDigest
{
    public const int ExactTasks = 10_000;
    public const int ExactAttempts = 25_000;
    public const int KeptFindings = 200;
    public const int KeptFailures = 300;
    public const int KeptSlowest = 100;
    public const int KeptCostliest = 100;

    /// <summary>Tasks with a change or a verification (<c>--isolate</c>/<c>--verify</c>) kept for the changes table.</summary>
    public const int KeptChanges = 50;

    /// <summary>Result text per task kept for the table; the full text is in results.ndjson.</summary>
    public const int ResultChars = 400;

    private readonly Dictionary<string, (int Tasks, double Cost)> _classes = new(StringComparer.Ordinal);
    private readonly long[] _bySeverity = new long[Enum.GetValues<Severity>().Length];
    private readonly Finding?[] _firstBySeverity = new Finding?[Enum.GetValues<Severity>().Length];
    private readonly TopFindings _findings = new(KeptFindings);
    private readonly List<DigestRow> _failures = [];
    private readonly PriorityQueue<DigestRow, double> _slowest = new();
    private readonly PriorityQueue<DigestRow, double> _costliest = new();
    private List<DigestRow>? _all = [];
    private DateTimeOffset? _first, _lastEnd;

    private RunDigest(RunHeader header, ReportOptions options)
    {
        Header = header;
        Options = options;
        RepoRoot = RepoPaths.Root(options.RepoRoot, header.Cwd);
    }

    public RunHeader Header { get; }

    public ReportOptions Options { get; }

    public string RepoRoot { get; }

    public int Finished { get; private set; }

    public int Succeeded { get; private set; }

    public int Failed { get; private set; }

    public int Cancelled { get; private set; }

    public long Attempts { get; private set; }

    public long Retries { get; private set; }

    public double CostUsd { get; private set; }

    public long InputTokens { get; private set; }

    public long OutputTokens { get; private set; }

    public long CacheReadTokens { get; private set; }

    public long CacheWriteTokens { get; private set; }

    public Distribution Runtimes { get; } = new();

    public Distribution Costs { get; } = new();

    public TimeBins Timeline { get; } = new();

    public long FindingsCount { get; private set; }

    /// <value>Tasks with a change or a verification; <see cref="Changes"/> keeps <see cref="KeptChanges"/> of them.</value>
    public int ChangeTasks { get; private set; }

    /// <value>Tasks with a change or a verification that <see cref="Changes"/> left out (the table says how many).</value>
    public int ChangesLeftOut => ChangeTasks - _changes.Count;

    /// <value>Tasks whose <c>--verify</c> passed, and failed, in the end.</value>
    public int VerifyPassed { get; private set; }

    public int VerifyFailed { get; private set; }

    /// <value>Fix rounds of all tasks: how often a verify failure went back to a session.</value>
    public long FixRounds { get; private set; }

    /// <value>Tasks that changed at least one file, and the files and lines they changed.</value>
    public int ChangedTasks { get; private set; }

    public int FilesChanged { get; private set; }

    public long LinesAdded { get; private set; }

    public long LinesRemoved { get; private set; }

    /// <value>Whether a successful task changed files: there is something for <c>herd apply</c> to land.</value>
    public bool ChangesToLand { get; private set; }

    // The kept rows of the changes table, the least interesting on top so the next better row replaces it.
    private readonly PriorityQueue<ReportTask, long> _changes = new();

    /// <value>
    /// Tasks with a change or a verification, the top <see cref="KeptChanges"/> whatever the run's size: failed ones
    /// first (what needs a look), then in plan order.
    /// </value>
    public IReadOnlyList<ReportTask> Changes => _changes.UnorderedItems.Select(x => x.Element).OrderBy(t => t.Succeeded).ThenBy(t => t.Seq).ToArray();

    /// <summary>The changes table's order as one number, negated: the queue's top is the row to drop first.</summary>
    private static long ChangeRank(ReportTask t) => -((t.Succeeded ? 1L << 40 : 0) + t.Seq);

    /// <summary>Unfinished tasks count against a gate: the plan's size, or the finished ones when the plan is unknown.</summary>
    public int Planned => Math.Max(Header.Planned, Finished);

    public int Unfinished => Math.Max(0, Planned - Finished);

    /// <value>The earliest start of any task or attempt: time zero of the charts.</value>
    public DateTimeOffset T0 => _first ?? DateTimeOffset.UnixEpoch;

    public double WallS => Header.WallS ?? (_first is { } a && _lastEnd is { } b ? Math.Max(0, (b - a).TotalSeconds) : 0);

    /// <value>Every task and attempt was kept: the page draws each one.</value>
    public bool Exact => _all is not null;

    /// <value>Classes by number of tasks, most first.</value>
    public IReadOnlyList<(string Class, int Tasks, double CostUsd)> Classes =>
        _classes.OrderByDescending(kv => kv.Value.Tasks).ThenBy(kv => kv.Key, StringComparer.Ordinal).Select(kv => (kv.Key, kv.Value.Tasks, kv.Value.Cost)).ToArray();

    public long FindingsAt(Severity s) => _bySeverity[(int)s];

    /// <summary>The first finding read at a severity (the gate's example), or null.</summary>
    public Finding? FirstFinding(Severity s) => _firstBySeverity[(int)s];

    /// <value>The most severe findings, at most <see cref="KeptFindings"/>: by severity, then file, line and task.</value>
    public IReadOnlyList<Finding> TopFindings => _findings.Items;

    /// <value>Failed tasks in plan order, at most <see cref="KeptFailures"/> (of a large run, the first to fail); <see cref="Failed"/> counts them all.</value>
    public IReadOnlyList<DigestRow> Failures => (_all?.Where(r => r.Failed).OrderBy(r => r.Seq).Take(KeptFailures) ?? _failures.OrderBy(r => r.Seq)).ToArray();

    /// <value>The rows of a report's table, in plan order: every task when <see cref="Exact"/>, else the failed, slowest and costliest.</value>
    public IReadOnlyList<DigestRow> TableRows =>
        _all is { } all ? all.OrderBy(r => r.Seq).ToArray()
            : _failures.Concat(_slowest.UnorderedItems.Select(i => i.Element)).Concat(_costliest.UnorderedItems.Select(i => i.Element))
                .DistinctBy(r => r.Key, StringComparer.Ordinal).OrderBy(r => r.Seq).ToArray();

    public string? RelativePath(string? file) => RepoPaths.Relative(file, RepoRoot, Header.Cwd);

    /// <summary>Reads the run once.</summary>
    public static RunDigest Build(RunStream run, ReportOptions options)
    {
        var digest = new RunDigest(run.Header, options);
        foreach (var task in run.Tasks())
            digest.Add(task);
        return digest;
    }

    public static RunDigest Build(ReportContext ctx) => Build(ctx.Run, ctx.Options);

    private void Add(ReportTask t)
    {
        Finished++;
        if (t.Succeeded)
            Succeeded++;
        else if (t.Class == "cancelled")
            Cancelled++;
        else
            Failed++;
        var (n, c) = _classes.GetValueOrDefault(t.Class);
        _classes[t.Class] = (n + 1, c + t.CostUsd);
        CostUsd += t.CostUsd;
        Retries += t.Retries;
        InputTokens += t.InputTokens;
        OutputTokens += t.OutputTokens;
        CacheReadTokens += t.CacheReadTokens;
        CacheWriteTokens += t.CacheWriteTokens;
        Runtimes.Add(t.RuntimeS);
        Costs.Add(t.CostUsd);
        Seen(t.Start, t.End);
        foreach (var a in t.Attempts)
        {
            Attempts++;
            Seen(a.Start, a.End ?? t.End);
            Timeline.Add(a.Start, a.End ?? t.End, a.Class ?? "running", a.CostUsd);
        }

        if (t.Changes is not null || t.Verify is not null)
        {
            ChangeTasks++;
            if (t.Changes is { Files.Count: > 0 } changed)
            {
                ChangedTasks++;
                FilesChanged += changed.Files.Count;
                LinesAdded += changed.LinesAdded;
                LinesRemoved += changed.LinesRemoved;
                ChangesToLand |= t.Succeeded;
            }
            if (t.Verify is { } v)
            {
                if (v.Passed)
                    VerifyPassed++;
                else
                    VerifyFailed++;
                FixRounds += v.FixRounds;
            }
            // A copy without the result text and structured output: the table shows neither, and a stream's task is
            // only valid until the next one is read.
            var rank = ChangeRank(t);
            if (_changes.Count < KeptChanges)
                _changes.Enqueue(t with { ResultText = "", StructuredOutput = null }, rank);
            else if (_changes.TryPeek(out _, out var worst) && rank > worst)
                _changes.EnqueueDequeue(t with { ResultText = "", StructuredOutput = null }, rank);
        }

        var findings = 0;
        foreach (var f in FindingExtractor.Extract(t, Options.Findings))
        {
            findings++;
            FindingsCount++;
            _bySeverity[(int)f.Severity]++;
            _firstBySeverity[(int)f.Severity] ??= f;
            _findings.Add(f);
        }

        if (_all is not null && (Finished > ExactTasks || Attempts > ExactAttempts))
        {
            // Too large to draw attempt by attempt: from here on only the table's selection is kept, without attempts.
            foreach (var row in _all)
                Select(row with { Attempts = [] });
            _all = null;
        }
        var kept = Row(t, findings);
        if (_all is not null)
            _all.Add(kept);
        else
            Select(kept with { Attempts = [] });
    }

    private void Select(DigestRow row)
    {
        if (row.Failed && _failures.Count < KeptFailures)
            _failures.Add(row);
        _slowest.KeepBest(row, row.RuntimeS, KeptSlowest);
        _costliest.KeepBest(row, row.CostUsd, KeptCostliest);
    }

    private static DigestRow Row(ReportTask t, int findings) =>
        new(t.Seq, t.Key, t.Name, t.Class, t.Shard, t.Start, t.End, t.RuntimeS, t.CostUsd, t.Retries,
            t.InputTokens + t.CacheReadTokens + t.CacheWriteTokens, t.OutputTokens, t.SessionId,
            t.ResultText.Length > ResultChars ? t.ResultText[..ResultChars] + "…" : t.ResultText,
            t.Error is { } e ? SarifReport.OneLine(e, 300) : null, findings, t.Attempts);

    private void Seen(DateTimeOffset start, DateTimeOffset end)
    {
        if (_first is not { } f || start < f)
            _first = start;
        if (_lastEnd is not { } l || end > l)
            _lastEnd = end;
    }
}
