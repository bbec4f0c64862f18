using Herd.Fleet.Jobs;

namespace Herd.Fleet.Store;

/// <summary>
/// Stores a plan as it is produced (issue #23): the tasks are read from the sequence while they are written, so no list
/// of the plan is held. Same guarantees as <see cref="IRunStore.CreateRun"/> and <see cref="IRunStore.AddTasks"/>: one
/// transaction, the plan lands whole or not at all (an input that fails midway leaves no run). Both stores implement it.
/// </summary>
public interface IPlanWriter
{
    /// <summary>Creates the run and stores every task of <paramref name="plan"/>, in one transaction.</summary>
    void CreateRunFrom(RunInfo info, IEnumerable<FleetTask> plan);

    /// <summary>Adds the tasks not yet stored (by key); returns how many were new. One transaction.</summary>
    int AddTasksFrom(IEnumerable<FleetTask> tasks);
}
