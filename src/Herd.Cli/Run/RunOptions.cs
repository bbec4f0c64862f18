using Herd.Cli.Print;

namespace Herd.Cli.Run;

/// <summary>
/// The option table of <c>herd run</c>: its own options plus every agent option of <c>herd -p</c> (spec §1 "every
/// herd -p flag applies to each task"). Print-mode options about output, sessions and stdin do not apply to a fleet
/// and are left out, so passing them is an "unknown option" error rather than a silent no-op.
/// </summary>
public static class RunOptions
{
    private static readonly HashSet<string> NotForRuns = new(StringComparer.Ordinal)
    {
        "--print", "--output-format", "--verbose", "--input-format", "--include-partial-messages", "--replay-user-messages",
        "--continue", "--resume", "--fork-session", "--session-id", "--exit-codes", "--timeout", "--help", "--version",
        "--worktree", "--name",
    };

    public static readonly OptionSpec Jobs = new(["-j", "--jobs"], Arity.Value, "Concurrent tasks: N, or auto[:MAX] (AIMD on 429/529 back-pressure, default MAX 16)", "n|auto[:max]");
    public static readonly OptionSpec Prompt = new(["--prompt"], Arity.Value, "Prompt template: {} input, {.} {/} {//} {/.} {#} {%}, {name} for named inputs", "template");
    public static readonly OptionSpec PromptFile = new(["--prompt-file"], Arity.Value, "Read the prompt template from this file", "file");
    public static readonly OptionSpec Input = new(["--input"], Arity.Value, "Read inputs from this file, one per line (repeatable)", "file");
    public static readonly OptionSpec Tasks = new(["--tasks"], Arity.Value, "NDJSON tasks: {\"name\":…,\"inputs\":{…},\"prompt\":…,\"caps\":{…}} per line", "file");
    public static readonly OptionSpec Joblog = new(["--joblog"], Arity.Value, "Also write GNU parallel's joblog (tab-separated, one line per finished task)", "file");
    public static readonly OptionSpec RunDir = new(["--run-dir"], Arity.Value, "Run directory (default .herd/runs/<run-id>/)", "dir");
    public static readonly OptionSpec Resume = new(["--resume"], Arity.Flag, "Continue a run: every task without a final record (needs --run-dir)");
    public static readonly OptionSpec ResumeFailed = new(["--resume-failed"], Arity.Flag, "Rerun failed tasks, then those never run (needs --run-dir)");
    public static readonly OptionSpec RetryFailed = new(["--retry-failed"], Arity.Flag, "Rerun failed tasks only, from the stored plan (needs --run-dir)");
    public static readonly OptionSpec RerunClass = new(["--rerun-class"], Arity.Value, "Rerun tasks whose final class is in this comma list (needs --run-dir)", "classes");
    public static readonly OptionSpec Retries = new(["--retries"], Arity.Value, "Retries per task for retryable classes (default 3)", "n");
    public static readonly OptionSpec RetryBase = new(["--retry-base"], Arity.Value, "Backoff base of fleet retries (default 2s; waits rand(0, min(5m, base*2^n)))", "duration");
    public static readonly OptionSpec Timeout = new(["--timeout"], Arity.Value, "Per-attempt wall clock: a duration (10m) or N% of the median successful runtime", "d|n%");
    public static readonly OptionSpec TimeoutFloor = new(["--timeout-floor"], Arity.Value, "With --timeout N%: the limit before 5 tasks succeeded (default 30m)", "duration");
    public static readonly OptionSpec IdleTimeout = new(["--idle-timeout"], Arity.Value, "End an attempt with no agent event for this long (class hang)", "duration");
    public static readonly OptionSpec Halt = new(["--halt"], Arity.Value, "now|soon,fail=N|N%  (also success=, done=); counts final outcomes", "when,cond");
    public static readonly OptionSpec HaltMin = new(["--halt-min"], Arity.Value, "Finished tasks before a --halt percentage applies (default 10)", "n");
    public static readonly OptionSpec Delay = new(["--delay"], Arity.Value, "Spacing between task starts (default 0)", "duration");
    public static readonly OptionSpec Ramp = new(["--ramp"], Arity.Value, "With -j auto: the starting limit before it grows (default 4)", "k");
    public static readonly OptionSpec BudgetUsd = new(["--budget-usd"], Arity.Value, "Run-wide ceiling in US dollars, held by reservation: never exceeded (exit 102)", "usd");
    public static readonly OptionSpec BudgetTokens = new(["--budget-tokens"], Arity.Value, "Run-wide ceiling in tokens (input of every kind + output), held by reservation: the cap that holds when prices are unknown (exit 102)", "n");
    public static readonly OptionSpec TaskBudgetUsd = new(["--task-budget-usd"], Arity.Value, "Per-task cap (same as --max-budget-usd)", "usd");
    public static readonly OptionSpec OnDenial = new(["--on-denial"], Arity.Value, "fail (default) or success: how a run with permission denials counts", "mode");
    public static readonly OptionSpec DryRun = new(["--dry-run"], Arity.Flag, "List the tasks (key, name, prompt) and exit");
    public static readonly OptionSpec Estimate = new(["--estimate"], Arity.Flag, "With --dry-run: add a cost projection from a token estimate and the price table");
    public static readonly OptionSpec Sample = new(["--sample"], Arity.Value, "Run a random sample (N or P%) and project the full run's cost", "n|p%");
    public static readonly OptionSpec Seed = new(["--seed"], Arity.Value, "Seed of --sample (default 1)", "s");
    public static readonly OptionSpec Progress = new(["--progress"], Arity.Value, "auto (default: redrawn on a terminal, lines otherwise), plain or none", "mode");
    public static readonly OptionSpec ProgressInterval = new(["--progress-interval"], Arity.Value, "Seconds between plain status lines (default 30)", "duration");
    public static readonly OptionSpec Shard = new(["--shard"], Arity.Value, "Run one CI shard: k/n (1-based; a task is in shard hash(key) mod n) or auto (HERD_SHARD, GitLab CI_NODE_INDEX/CI_NODE_TOTAL, Kubernetes JOB_COMPLETION_INDEX with --shard-total)", "k/n|auto");
    public static readonly OptionSpec ShardTotal = new(["--shard-total"], Arity.Value, "With --shard auto and a Kubernetes Indexed Job: the number of shards (the Job's completions)", "n");
    public static readonly OptionSpec Store = new(["--store"], Arity.Value, "Run store: postgres://user:pass@host/db shares the run with `herd worker`s (env HERD_STORE; default SQLite in the run directory)", "url");
    public static readonly OptionSpec Enqueue = new(["--enqueue"], Arity.Flag, "With --store: create the run and exit; `herd worker` processes do the work");
    public static readonly OptionSpec Gate = new(["--gate"], Arity.Value, "Quality gate checked at the end (herd gate's conditions): max-failed=N|P%,max-severity=LEVEL,max-findings=N,max-cost=USD; its verdict (0/1) becomes the exit code", "spec");
    public static readonly OptionSpec Ci = new(["--ci"], Arity.Value, "auto (default: under GITHUB_ACTIONS=true append a step summary to $GITHUB_STEP_SUMMARY) or none", "auto|none");
    public static readonly OptionSpec Batch = new(["--batch"], Arity.Flag, "Make every task's model calls in Message Batch rounds: half the price, minutes per turn (docs/batch.md); -j defaults to 4096 tasks per round");
    public static readonly OptionSpec OnInterrupt = new(["--on-interrupt"], Arity.Value, "With --batch: leave (default) a batch in flight on Ctrl-C/SIGTERM for --resume to collect, or cancel it", "leave|cancel");
    public static readonly OptionSpec Help = new(["-h", "--help"], Arity.Flag, "Show this help");

    public static readonly IReadOnlyList<OptionSpec> Own =
    [
        Jobs, Prompt, PromptFile, Input, Tasks, RunDir, Joblog, Resume, ResumeFailed, RetryFailed, RerunClass, Retries, RetryBase, Timeout, TimeoutFloor, IdleTimeout, Halt, HaltMin, Delay, Ramp, BudgetUsd, BudgetTokens, TaskBudgetUsd, OnDenial, DryRun, Estimate, Sample, Seed, Progress, ProgressInterval, Shard, ShardTotal, Store, Enqueue, Gate, Ci, Batch, OnInterrupt,
        // issue #13 (engines): --engine, --cmd, --result-json, --engine-bin, --engine-env
        .. EngineBinding.Options,
        // issue #20 (migrations): --isolate, --verify, --verify-retries, --verify-timeout
        .. IsolationBinding.Options,
        Help,
    ];

    /// <summary>The agent options, then the run's; the parser lets a later spelling win, so a name in both means the run's.</summary>
    public static IReadOnlyList<OptionSpec> All { get; } =
        [.. PrintOptions.All.Where(o => !o.Names.Any(NotForRuns.Contains)), .. Own];

    /// <summary>What --help shows: the run's options first, then the agent options that apply to each task.</summary>
    public static IReadOnlyList<OptionSpec> HelpOrder { get; } =
    [
        .. Own,
        .. PrintOptions.All
            .Where(o => !o.Names.Any(NotForRuns.Contains) && !o.Names.Any(n => Own.Any(r => r.Names.Contains(n))))
            .Select(o => o.Key == "--max-budget-usd" ? o with { Help = "Per-task cap in US dollars, as in herd -p (--budget-usd is the run's ceiling)" } : o),
    ];

    /// <summary>
    /// Options whose value names the plan or the run directory: not stored for --resume, which reads the plan from run.db.
    /// --store is never stored: its URL may carry a password, and the run row lives in that store anyway.
    /// </summary>
    public static readonly IReadOnlySet<OptionSpec> NotStored = new HashSet<OptionSpec>
    {
        Input, Tasks, RunDir, Resume, ResumeFailed, RetryFailed, RerunClass, DryRun, Estimate, Sample, Seed,
        // A resumed shard keeps the shard it was started as (plan.json); a merged run is several.
        Shard, ShardTotal, Store, Enqueue,
    };

    public const string Usage = "herd run [options] [agent options] ::: input…   (or inputs on stdin, --input FILE, --tasks FILE.ndjson)";

    public const string Description = """
        Run one agent task per input, many at once, with retries, adaptive concurrency, a run-wide budget and a
        resumable run directory. Every agent option of `herd -p` applies to each task. Progress goes to stderr; stdout
        gets the path of results.ndjson.
        """;

    public const string Footer = """
        Examples:
          herd run -j 8 --prompt 'Summarize {} in 3 bullets' --allowedTools Read ::: src/*.py
          git ls-files '*.py' | herd run -j auto:16 --budget-usd 50 --halt soon,fail=10% --prompt-file fix.md
          herd run --resume --run-dir .herd/runs/20261127-2213-ab12
          git ls-files | herd run --shard 2/4 --run-dir shard-2 --prompt-file review.md   # then: herd merge OUT shard-*

        Exit codes: 0 all succeeded, 1-100 number failed, 101 more than 100 failed, 102 halted by budget,
        103 run-fatal class (auth, spend cap), 130 interrupted by SIGINT, 143 by SIGTERM (both
        resumable), 255 usage or state error.
        See docs/fanout.md.
        """;
}
