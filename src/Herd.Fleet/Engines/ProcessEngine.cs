using System.ComponentModel;
using System.Diagnostics;
using System.Text.RegularExpressions;
using Herd.Agent.Loop;

namespace Herd.Fleet.Engines;

/// <summary>How one attempt's process is started: what <c>ps</c> would show, minus the prompt (which goes on stdin).</summary>
/// <param name="Display">The command line for the record's <c>Command</c> (no prompt, no secrets).</param>
public sealed record EngineLaunch(string File, IReadOnlyList<string> Arguments, string? Stdin, IReadOnlyDictionary<string, string> Environment, string Display);

/// <summary>Reads one engine's machine-readable stream into an <see cref="EngineProgress"/>; one instance per attempt.</summary>
public abstract class EngineStreamReader(EngineProgress progress, AttemptMonitor monitor)
{
    protected EngineProgress Progress { get; } = progress;

    protected AttemptMonitor Monitor { get; } = monitor;

    /// <summary>One stdout line, as it arrives. Lines that are not JSON objects are skipped (spec §14.1).</summary>
    public abstract void Feed(string line);

    /// <summary>Work beside the stream while the process runs (codex: its rollout file's token counts). Ends on <paramref name="stop"/>.</summary>
    public virtual Task WatchAsync(CancellationToken stop) => Task.CompletedTask;

    /// <summary>After the exit: settle what only the end can tell (structured output from the last message, …).</summary>
    public virtual void Finish(int exitCode, string stderr)
    {
    }
}

/// <summary>
/// The attempt's guard: it sees every line (liveness for <c>--idle-timeout</c>), every cost update (the per-task cap
/// and the run-wide ledger, both enforced by stopping the process tree), every model turn (the turn cap) and every
/// back-pressure signal (AIMD and the fleet-wide pause). Thread-safe: the stream reader and a side watcher call it.
/// </summary>
public sealed class AttemptMonitor
{
    private readonly Lock _gate = new();
    private readonly TimeProvider _time;
    private readonly IAttemptObserver _observer;
    private readonly TaskAttempt _attempt;
    private readonly SpendLedger? _ledger;
    private readonly double _callReserve;
    private readonly double? _taskCap;
    private readonly int? _turnCap;
    private readonly EngineProgress _progress;
    private long _lastActivity;
    private double _reported;
    private double _reserved;
    private EngineStop _stop = EngineStop.None;

    internal AttemptMonitor(TimeProvider time, IAttemptObserver observer, TaskAttempt attempt, EngineProgress progress, SpendLedger? ledger, double callReserve, double? taskCap, int? turnCap)
    {
        _time = time;
        _observer = observer;
        _attempt = attempt;
        _progress = progress;
        _ledger = ledger;
        _callReserve = callReserve;
        _taskCap = taskCap;
        _turnCap = turnCap;
        _lastActivity = time.GetTimestamp();
    }

    /// <summary>Raised once, when the first reason to stop the process appears.</summary>
    public event Action<EngineStop>? StopRequested;

    public EngineStop Stop
    {
        get
        {
            lock (_gate)
                return _stop;
        }
    }

    /// <summary>Raised when the engine's terminal event arrived: a process that lingers after it is stopped after a grace.</summary>
    public event Action? ResultSeen;

    public TimeSpan IdleFor => _time.GetElapsedTime(Interlocked.Read(ref _lastActivity));

    public void Touch() => Interlocked.Exchange(ref _lastActivity, _time.GetTimestamp());

    /// <summary>Reserves the attempt's first slice of the run-wide ceiling. False: the ceiling cannot hold another call.</summary>
    internal bool ReserveStart()
    {
        if (_ledger is null)
            return true;
        var first = _taskCap is { } cap ? Math.Min(cap, _callReserve) : _callReserve;
        if (!_ledger.TryReserve(first))
            return false;
        _reserved = first;
        return true;
    }

    /// <summary>Replaces the reservation by what the attempt cost.</summary>
    internal void Settle(double actualUsd)
    {
        lock (_gate)
        {
            _ledger?.Settle(_reserved, actualUsd);
            _reserved = 0;
        }
    }

    public void OnBackPressure(int status, TimeSpan? retryAfter) => _observer.OnBackPressure(status, retryAfter);

    public void OnResult() => ResultSeen?.Invoke();

    /// <summary>The cost so far changed (priced tokens or the CLI's own total): record the difference and hold the caps.</summary>
    public void OnCost()
    {
        EngineStop stop;
        lock (_gate)
        {
            var total = _progress.Read(p => p.CostUsd);
            var delta = total - _reported;
            if (delta > 0)
            {
                _reported = total;
                _observer.OnCallCost(_attempt, delta);
            }
            stop = EngineStop.None;
            // After the terminal event the work is done: its cost is recorded and settled, but nothing is stopped.
            var done = _progress.Read(p => p.SawResult);
            if (done)
            {
                if (_ledger is not null && total > _reserved && _ledger.TryReserve(total - _reserved))
                    _reserved = total;
            }
            else if (_taskCap is { } cap && total >= cap)
                stop = EngineStop.TaskBudget;
            else if (_ledger is not null && total > _reserved)
            {
                // Grow the reservation by what was used plus one more call; if the ceiling cannot hold it, stop here.
                var more = total - _reserved + (_taskCap is { } c ? Math.Min(_callReserve, Math.Max(0, c - total)) : _callReserve);
                if (_ledger.TryReserve(more))
                    _reserved += more;
                else
                    stop = EngineStop.RunBudget;
            }
        }
        if (stop != EngineStop.None)
            RequestStop(stop);
    }

    /// <summary>A model turn completed; the turn cap stops the process once turns exceed it (spec §14.1: cap + 1).</summary>
    public void OnTurn()
    {
        if (_turnCap is { } cap && _progress.Read(p => p.Turns > cap && !p.SawResult))
            RequestStop(EngineStop.TurnCap);
    }

    public void RequestStop(EngineStop reason)
    {
        lock (_gate)
        {
            if (_stop != EngineStop.None)
                return;
            _stop = reason;
        }
        StopRequested?.Invoke(reason);
    }
}

/// <summary>
/// An engine that runs each attempt as an external CLI process (issue #13): start it with an explicit environment and
/// the prompt on stdin, read its stream live, enforce the caps and timeouts Herd promises by stopping the process tree,
/// and classify the end from the whole evidence. Subclasses translate flags and read their CLI's stream.
/// </summary>
public abstract partial class ProcessEngine(EngineSpec spec, SpendLedger? runLedger, TimeProvider time) : ITaskEngine
{
    private string? _version;

    protected EngineSpec Spec { get; } = spec;

    protected TimeProvider Time { get; } = time;

    public abstract string Name { get; }

    /// <value>The executable to run (resolved by <see cref="TaskEngines"/>).</value>
    public required string Binary { get; init; }

    public string Version => _version ??= ProbeVersion();

    /// <summary>Builds the launch of one attempt (flags, environment, per-process config directory).</summary>
    protected abstract EngineLaunch Prepare(TaskAttempt attempt, double? taskCapLeft);

    protected abstract EngineStreamReader CreateReader(TaskAttempt attempt, EngineLaunch launch, EngineProgress progress, AttemptMonitor monitor);

    /// <summary>The per-task cap, left after earlier attempts (the cap covers the task, not each attempt).</summary>
    protected double? TaskCapLeft(TaskAttempt attempt) =>
        (attempt.Task.Caps.MaxBudgetUsd ?? Spec.Flags.MaxBudgetUsd) is { } cap ? Math.Max(0, cap - attempt.SpentBeforeUsd) : null;

    /// <summary>The turn cap left to this round: a verify fix round continues the attempt, so earlier rounds' turns count.</summary>
    protected int? TurnCap(TaskAttempt attempt) =>
        (attempt.Task.Caps.MaxTurns ?? Spec.Flags.MaxTurns) is { } cap ? Math.Max(1, cap - attempt.TurnsBefore) : null;

    /// <value>Whether Herd itself stops the process at the turn cap (engines without a --max-turns flag).</value>
    protected virtual bool EnforcesTurnCap => false;

    /// <value>Whether the per-task cap is also enforced by Herd (engines without a budget flag; claude gets both).</value>
    protected virtual bool EnforcesTaskCap => true;

    public async Task<TaskOutcome> RunAsync(TaskAttempt attempt, IAttemptObserver observer, CancellationToken cancellationToken = default)
    {
        var start = Time.GetUtcNow();
        var capLeft = TaskCapLeft(attempt);
        var progress = new EngineProgress { SessionId = attempt.SessionId, Model = Spec.Flags.Model };
        var monitor = new AttemptMonitor(Time, observer, attempt, progress, runLedger, Spec.CallReserveUsd,
            EnforcesTaskCap ? capLeft : null, EnforcesTurnCap ? TurnCap(attempt) : null);
        if (!monitor.ReserveStart())
        {
            return new TaskOutcome
            {
                Class = OutcomeClass.RunBudget, Start = start, End = Time.GetUtcNow(), SessionId = attempt.SessionId,
                Error = "The run-wide --budget-usd ceiling cannot hold the next call", IsError = true,
            };
        }

        EngineLaunch launch;
        ProcessTree tree;
        try
        {
            launch = Prepare(attempt, capLeft);
            // The attempt's own tree under --isolate: the CLI is confined to it as it is to the run's directory otherwise.
            tree = ProcessTree.Start(launch.File, launch.Arguments, launch.Environment, attempt.WorkingDirectory ?? Spec.WorkingDirectory, launch.Stdin, Time);
        }
        catch (Exception ex) when (ex is Win32Exception or IOException or UnauthorizedAccessException or InvalidOperationException)
        {
            monitor.Settle(0);
            return new TaskOutcome
            {
                Class = OutcomeClass.Crash, Start = start, End = Time.GetUtcNow(), SessionId = attempt.SessionId, IsError = true,
                Error = $"Cannot start the {Name} engine '{Binary}': {ex.Message}",
            };
        }

        using var _ = tree;
        var reader = CreateReader(attempt, launch, progress, monitor);
        Task? stopping = null;
        var exited = false;
        var stopGate = new Lock();
        void StopTree(TimeSpan grace)
        {
            lock (stopGate)
            {
                if (!exited)
                    stopping ??= tree.StopAsync(grace);
            }
        }
        monitor.StopRequested += reason => StopTree(reason == EngineStop.Cancelled ? Spec.StopGrace : TimeSpan.FromSeconds(2));
        // A CLI that lingers after its result (spec §14.1) gets the grace, then is stopped; the result decides.
        ITimer? linger = null;
        monitor.ResultSeen += () => linger ??= Time.CreateTimer(_ => StopTree(TimeSpan.FromSeconds(2)), null, Spec.StopGrace, Timeout.InfiniteTimeSpan);

        using var sideStop = new CancellationTokenSource();
        using var cancelRegistration = cancellationToken.Register(() => monitor.RequestStop(EngineStop.Cancelled));
        using var timeout = attempt.Timeout is { } t ? Time.CreateTimer(_ => monitor.RequestStop(EngineStop.Timeout), null, t, Timeout.InfiniteTimeSpan) : null;
        using var watchdog = attempt.IdleTimeout is { } idle ? StartWatchdog(monitor, idle) : null;
        var side = reader.WatchAsync(sideStop.Token);
        await tree.ReadLinesAsync(line =>
        {
            monitor.Touch();
            try
            {
                reader.Feed(line);
            }
            catch (Exception ex) when (ex is System.Text.Json.JsonException or InvalidOperationException or FormatException or KeyNotFoundException)
            {
                // One malformed line must not end the attempt; the terminal event decides.
            }
        }).ConfigureAwait(false);
        var exitCode = await tree.WaitForExitAsync().ConfigureAwait(false);
        if (linger is not null)
            await linger.DisposeAsync().ConfigureAwait(false);
        Task? pendingStop;
        lock (stopGate)
        {
            pendingStop = stopping;
            exited = true;
        }
        if (pendingStop is not null)
            await pendingStop.ConfigureAwait(false);
        tree.KillRemaining();
        await sideStop.CancelAsync().ConfigureAwait(false);
        try
        {
            await side.ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }

        var stderr = tree.StderrTail;
        // A CLI stopped by Herd only after its result (it lingered) is judged by that result.
        var sawResultInStream = progress.Read(p => p.SawResult);
        reader.Finish(exitCode, stderr);
        var stop = monitor.Stop;
        if (sawResultInStream && stop is EngineStop.Timeout or EngineStop.Idle)
            stop = EngineStop.None;
        if (cancellationToken.IsCancellationRequested)
            stop = EngineStop.Cancelled;
        var env = launch.Environment;
        var scrub = new Func<string, string>(s => Scrub(s, env));
        var (cls, error) = ExternalOutcomeClassifier.Classify(progress, stop, exitCode, stderr, Spec.Flags.JsonSchema is not null, Spec.Flags.DenialIsSuccess);
        monitor.OnCost();
        monitor.Settle(progress.CostUsd);
        return new TaskOutcome
        {
            Class = cls,
            Start = start,
            End = Time.GetUtcNow(),
            SessionId = progress.SessionId ?? attempt.SessionId,
            Model = progress.Model,
            Subtype = progress.Subtype ?? (cls.IsSuccess() ? "success" : null),
            IsError = progress.IsError || !cls.IsSuccess(),
            TerminalReason = stop switch
            {
                EngineStop.Timeout => "timeout",
                EngineStop.Idle => "idle_timeout",
                EngineStop.TaskBudget or EngineStop.RunBudget => "budget_stop",
                EngineStop.TurnCap => "max_turns_stop",
                EngineStop.Cancelled => "cancelled",
                _ => progress.TerminalReason,
            },
            ApiErrorStatus = progress.ApiErrorStatus,
            Degraded = cls == OutcomeClass.SuccessDegraded,
            Error = error is null ? null : scrub(error),
            ResultText = scrub(progress.ResultText),
            StructuredOutput = progress.StructuredOutput,
            NumTurns = progress.Turns,
            PermissionDenials = progress.PermissionDenials,
            Usage = progress.Usage,
            CostUsd = progress.CostUsd,
            CostNotional = progress.CostNotional,
            RetryAfter = progress.RetryAfter,
            // −1 when Herd's stop decided the attempt (GNU parallel's "killed"); a CLI stopped only for lingering after its result keeps its code.
            ExitCode = stop != EngineStop.None || (tree.Stopped && !sawResultInStream) ? -1 : exitCode,
            Command = launch.Display,
            Stderr = scrub(stderr),
        };
    }

    private static string Scrub(string text, IReadOnlyDictionary<string, string> env)
    {
        foreach (var (name, value) in env)
        {
            if (EngineEnvironment.IsSecretName(name) && value.Length >= 8 && text.Contains(value, StringComparison.Ordinal))
                text = text.Replace(value, "[redacted]", StringComparison.Ordinal);
        }
        return text;
    }

    private ITimer StartWatchdog(AttemptMonitor monitor, TimeSpan limit)
    {
        var period = TimeSpan.FromMilliseconds(Math.Clamp(limit.TotalMilliseconds / 4, 10, 1000));
        return Time.CreateTimer(_ =>
        {
            if (monitor.IdleFor >= limit)
                monitor.RequestStop(EngineStop.Idle);
        }, null, period, period);
    }

    /// <summary><c>BINARY --version</c>, first dotted number (e.g. <c>2.1.332 (Claude Code)</c> → 2.1.332).</summary>
    private string ProbeVersion()
    {
        try
        {
            var psi = new ProcessStartInfo(Binary, "--version") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
            using var p = Process.Start(psi);
            if (p is null)
                return "unknown";
            var output = p.StandardOutput.ReadToEnd();
            if (!p.WaitForExit(30_000))
                p.Kill(entireProcessTree: true);
            return VersionPattern().Match(output) is { Success: true } m ? m.Value : "unknown";
        }
        catch (Exception ex) when (ex is Win32Exception or InvalidOperationException or IOException)
        {
            return "unknown";
        }
    }

    [GeneratedRegex(@"\d+\.\d+(\.\d+)?")]
    private static partial Regex VersionPattern();
}
