namespace Herd.Fleet.Isolation;

/// <summary>Where each task of a run works (<c>--isolate</c>).</summary>
public enum IsolationMode
{
    /// <summary>Every task edits the run's working directory (the default).</summary>
    None,

    /// <summary>Each task runs in a git worktree of the repository at the run's starting commit.</summary>
    Worktree,

    /// <summary>Each task runs in a copy of the working directory (any folder, git or not).</summary>
    Copy,
}

public static class IsolationModes
{
    public static string Name(this IsolationMode mode) => mode switch
    {
        IsolationMode.Worktree => "worktree",
        IsolationMode.Copy => "copy",
        _ => "none",
    };

    public static IsolationMode? Parse(string text) => text switch
    {
        "none" => IsolationMode.None,
        "worktree" => IsolationMode.Worktree,
        "copy" => IsolationMode.Copy,
        _ => null,
    };
}

/// <summary>
/// The isolation and verification flags of a run, bound once (<c>--isolate</c>, <c>--verify</c>,
/// <c>--verify-retries</c>, <c>--verify-timeout</c>). Every host builds its engine with the same spec, so
/// <c>herd run</c>, <c>herd run --store</c> and <c>herd worker</c> isolate and verify alike.
/// </summary>
/// <param name="VerifyCommand">A shell command template (GNU parallel replacement strings allowed) run in the task's tree after the agent ends.</param>
/// <param name="VerifyRetries">Fix rounds: how many times a failing verification is sent back to the session before the task is <c>verify_failed</c>.</param>
public sealed record IsolationSpec(IsolationMode Mode, string? VerifyCommand = null, int VerifyRetries = IsolationSpec.DefaultVerifyRetries)
{
    public const int DefaultVerifyRetries = 2;

    public static IsolationSpec None { get; } = new(IsolationMode.None);

    /// <value>How long one run of the verify command may take before it is stopped (and counts as failed).</value>
    public TimeSpan VerifyTimeout { get; init; } = TimeSpan.FromMinutes(30);

    /// <value>
    /// The commit every task starts from (worktree), pinned when the run is created and stored with its flags, so a
    /// resumed run and workers on other machines start their trees there; null = the repository's HEAD at the start.
    /// </value>
    public string? BaseCommit { get; init; }

    /// <value>Whether the engine needs wrapping at all.</value>
    public bool IsActive => Mode != IsolationMode.None || VerifyCommand is not null;
}
