using System.Collections.Concurrent;
using Herd.Fleet.Jobs;

namespace Herd.Fleet.Engines;

/// <summary>
/// The run's engine, and the engine a task of <c>--tasks</c> names for itself (<c>"engine": "codex"</c>): each attempt
/// goes to its task's engine, built the first time a task needs it from the run's spec with that engine's kind (so
/// every flag the run was given applies to it too). Built by <see cref="TaskEngines.Create"/>, so every host that
/// builds engines there (<c>herd run</c>, <c>herd run --store</c>, <c>herd worker</c>) honours the field.
/// </summary>
public sealed class PerTaskEngine(ITaskEngine runEngine, EngineKind runKind, Func<EngineKind, ITaskEngine> create, TimeProvider time) : ITaskEngine
{
    private readonly ConcurrentDictionary<EngineKind, Lazy<ITaskEngine>> _engines = new();

    public string Name => runEngine.Name;

    public string Version => runEngine.Version;

    /// <summary>The engine that runs <paramref name="task"/>, for its record's <c>engine</c> and <c>engine_version</c>.</summary>
    /// <exception cref="EngineUnavailableException">The task's engine cannot be built (its CLI is missing, cmd without --cmd).</exception>
    public ITaskEngine EngineFor(FleetTask task) =>
        task.Caps.Engine is { } kind && kind != runKind
            ? _engines.GetOrAdd(kind, k => new Lazy<ITaskEngine>(() => create(k))).Value
            : runEngine;

    public async Task<TaskOutcome> RunAsync(TaskAttempt attempt, IAttemptObserver observer, CancellationToken cancellationToken = default)
    {
        ITaskEngine engine;
        try
        {
            engine = EngineFor(attempt.Task);
        }
        catch (EngineUnavailableException e)
        {
            // Not the task's fault to retry: the task names an engine this machine cannot run
            var now = time.GetUtcNow();
            return new TaskOutcome { Class = OutcomeClass.InvalidRequest, Start = now, End = now, SessionId = attempt.SessionId, IsError = true, Error = e.Message };
        }
        return await engine.RunAsync(attempt, observer, cancellationToken).ConfigureAwait(false);
    }
}
