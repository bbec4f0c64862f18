using System.Globalization;
using Herd.Agent;
using Herd.Cli.Print;
using Herd.Fleet.Isolation;

namespace Herd.Cli.Run;

/// <summary>
/// Binds <c>--isolate</c>, <c>--verify</c>, <c>--verify-retries</c> and <c>--verify-timeout</c> into one
/// <see cref="IsolationSpec"/> (docs/migrations.md). Stored with the run's flags, so a resumed run and every
/// <c>herd worker</c> isolate and verify the same way.
/// </summary>
public static class IsolationBinding
{
    public static readonly OptionSpec Isolate = new(["--isolate"], Arity.Value, "Where each task works: none (default, the working directory), worktree (a git worktree at the current commit) or copy (a copy of the folder); each task's changes are kept as RUN/patches/KEY.patch for herd apply", "mode");
    public static readonly OptionSpec Verify = new(["--verify"], Arity.Value, "Shell command run in the task's tree after the agent ends ({} {.} {/} {//} {/.} {#} {%} {name} allowed); exit 0 = success, else its output goes back to the session", "cmd");
    public static readonly OptionSpec VerifyRetries = new(["--verify-retries"], Arity.Value, $"Fix rounds after a failing --verify before the task is verify_failed (default {IsolationSpec.DefaultVerifyRetries})", "n");
    public static readonly OptionSpec VerifyTimeout = new(["--verify-timeout"], Arity.Value, "Longest one --verify run may take (default 30m); stopped, it counts as failed", "duration");

    /// <summary>Written into the stored flags by herd run itself (the commit the run's tasks start from), not typed by users.</summary>
    public static readonly OptionSpec IsolateBase = new(["--isolate-base"], Arity.Value, "The commit every task starts from (pinned by herd run when the run is created)", "sha", Hidden: true);

    public static readonly IReadOnlyList<OptionSpec> Options = [Isolate, Verify, VerifyRetries, VerifyTimeout, IsolateBase];

    /// <exception cref="HerdUsageException">A value that does not parse, with the flag and the fix.</exception>
    public static IsolationSpec Bind(ParsedArguments args)
    {
        var mode = args.Value(Isolate) is { } m
            ? IsolationModes.Parse(m) ?? throw new HerdUsageException($"Error: --isolate '{m}' is not one of none, worktree, copy.")
            : IsolationMode.None;
        var verify = args.Value(Verify);
        if (verify is not null && string.IsNullOrWhiteSpace(verify))
            throw new HerdUsageException("Error: --verify is empty. Pass the command that checks a task's work, e.g. --verify 'dotnet build'.");
        var retries = IsolationSpec.DefaultVerifyRetries;
        if (args.Value(VerifyRetries) is { } r && (!int.TryParse(r, NumberStyles.None, CultureInfo.InvariantCulture, out retries) || retries > 100))
            throw new HerdUsageException($"Error: --verify-retries '{r}' must be a whole number from 0 to 100.");
        if (verify is null && (args.Has(VerifyRetries) || args.Has(VerifyTimeout)))
            throw new HerdUsageException("Error: --verify-retries and --verify-timeout need --verify 'CMD'.");
        var spec = new IsolationSpec(mode, verify, retries) { BaseCommit = args.Value(IsolateBase) };
        if (args.Value(VerifyTimeout) is { } t)
            spec = spec with { VerifyTimeout = Durations.Parse(t, "--verify-timeout") };
        return spec;
    }

    /// <summary>
    /// A new worktree run pins its starting commit into its stored flags (<c>--isolate-base SHA</c>), so every process
    /// that works it — a resumed herd run, herd workers on other machines — starts its trees at that commit.
    /// </summary>
    /// <exception cref="HerdUsageException">Not in a git repository, or one without a commit.</exception>
    public static (IsolationSpec Spec, string[] OptionArgs) PinStart(IsolationSpec spec, bool newRun, string[] optionArgs, string cwd)
    {
        if (spec.Mode != IsolationMode.Worktree || spec.BaseCommit is not null || !newRun)
            return (spec, optionArgs);
        if (!Git.Run(cwd, "rev-parse", "--show-toplevel").Ok)
            throw new HerdUsageException($"Error: --isolate worktree needs a git repository, and '{cwd}' is not in one. Use --isolate copy for a plain folder.");
        var head = Git.Run(cwd, "rev-parse", "--verify", "HEAD^{commit}");
        if (!head.Ok)
            throw new HerdUsageException($"Error: --isolate worktree starts every task at the current commit, and '{cwd}' has none yet. Commit first (git commit), or use --isolate copy.");
        return (spec with { BaseCommit = head.Text }, [.. optionArgs, IsolateBase.Key, head.Text]);
    }
}
