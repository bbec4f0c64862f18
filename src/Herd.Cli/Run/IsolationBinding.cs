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

    public static readonly IReadOnlyList<OptionSpec> Options = [Isolate, Verify, VerifyRetries, VerifyTimeout];

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
        var spec = new IsolationSpec(mode, verify, retries);
        if (args.Value(VerifyTimeout) is { } t)
            spec = spec with { VerifyTimeout = Durations.Parse(t, "--verify-timeout") };
        return spec;
    }
}
