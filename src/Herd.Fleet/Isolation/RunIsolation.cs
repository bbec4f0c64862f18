using Herd.Fleet.Engines;
using Herd.Fleet.Store;

namespace Herd.Fleet.Isolation;

/// <summary>
/// One run's isolation, for the host that builds the engine: <see cref="Wrap"/> puts the isolation steps around the
/// engine (opening the tree pool then, once the run is this process's), and disposing removes the pool. A host's
/// wiring is <c>using var isolation = new RunIsolation(…)</c> and <c>isolation.Wrap(engine)</c>.
/// </summary>
/// <param name="workingDirectory">The run's working directory: what worktrees or copies are made of.</param>
/// <param name="runDirectory">Where the starting commit is kept (and the patches, unless the run's store keeps them).</param>
public sealed class RunIsolation(IsolationSpec spec, string workingDirectory, string runDirectory, TimeProvider time, Action<string>? notice = null) : IDisposable
{
    private TreePool? _pool;

    public int? MaxTurns { get; init; }

    /// <value>One pool per process of the run (herd worker: several share the run); the pools of dead ones are removed.</value>
    public bool PoolPerProcess { get; init; }

    public double? TaskBudgetUsd { get; init; }

    /// <value>The open pool, once <see cref="Wrap"/> made it; null without isolation.</value>
    public TreePool? Pool => _pool;

    /// <summary>The engine as is without <c>--isolate</c>/<c>--verify</c>; else the engine inside the isolation steps.</summary>
    /// <param name="patches">The run store's patches (the shared store keeps them for every host); null = the run directory's <c>patches/</c>.</param>
    public ITaskEngine Wrap(ITaskEngine engine, IPatchStore? patches = null)
    {
        if (!spec.IsActive)
            return engine;
        if (spec.Mode != IsolationMode.None)
            _pool ??= TreePool.Open(spec.Mode, workingDirectory, runDirectory, notice, spec.BaseCommit, PoolPerProcess);
        return new IsolatingEngine(engine, spec, _pool, _pool is null ? null : patches ?? new PatchFiles(runDirectory), workingDirectory, time)
        {
            MaxTurns = MaxTurns,
            TaskBudgetUsd = TaskBudgetUsd,
        };
    }

    public void Dispose() => _pool?.Dispose();
}
