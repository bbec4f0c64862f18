using System.Globalization;
using Herd.Agent;

namespace Herd.Fleet.Runs;

/// <summary>
/// One CI slice of a plan (spec fanout §11, issue #11): shard <see cref="Index"/> of <see cref="Total"/>, 1-based as
/// GitLab's <c>CI_NODE_INDEX</c> and test runners' <c>--shard=1/3</c>. A task belongs to shard
/// <c>hash(key) mod Total</c> (+1), so its shard depends only on its content key: it does not move when the inputs are
/// listed in another order or when other inputs are added.
/// </summary>
public readonly record struct Shard
{
    /// <summary>A GitHub matrix holds at most 256 jobs; more shards than this is a typo.</summary>
    public const int MaxTotal = 4096;

    public Shard(int index, int total)
    {
        if (total < 1 || total > MaxTotal || index < 1 || index > total)
            throw new ArgumentOutOfRangeException(nameof(index), $"shard {index}/{total} is not k/n with 1 ≤ k ≤ n ≤ {MaxTotal}");
        Index = index;
        Total = total;
    }

    /// <value>1-based.</value>
    public int Index { get; }

    public int Total { get; }

    /// <summary>Whether the task with this content key is in this shard.</summary>
    public bool Owns(string key) => Of(key, Total).Index == Index;

    /// <summary>
    /// The shard of a task key among <paramref name="total"/>. The key is already a SHA-256 hex digest (spec §3), so its
    /// first 64 bits are uniformly spread; reading them (rather than string.GetHashCode, which is randomised per
    /// process) gives every machine the same answer.
    /// </summary>
    public static Shard Of(string key, int total)
    {
        var head = key.Length >= 16 && ulong.TryParse(key.AsSpan(0, 16), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var h)
            ? h
            : Fnv1a(key);
        return new Shard((int)(head % (ulong)total) + 1, total);
    }

    /// <summary>The record and summary form, <c>k/n</c>.</summary>
    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"{Index}/{Total}");

    /// <summary>Parses <c>k/n</c>; null when the text is not of that form.</summary>
    public static Shard? TryParse(string? text)
    {
        if (text is null)
            return null;
        var slash = text.IndexOf('/');
        if (slash <= 0
            || !int.TryParse(text.AsSpan(0, slash), NumberStyles.None, CultureInfo.InvariantCulture, out var k)
            || !int.TryParse(text.AsSpan(slash + 1), NumberStyles.None, CultureInfo.InvariantCulture, out var n)
            || n < 1 || n > MaxTotal || k < 1 || k > n)
            return null;
        return new Shard(k, n);
    }

    /// <exception cref="HerdUsageException">Not <c>k/n</c> with 1 ≤ k ≤ n; the message names <paramref name="source"/>.</exception>
    public static Shard Parse(string text, string source) =>
        TryParse(text) ?? throw new HerdUsageException($"Error: {source} '{text}' is not a shard k/n with 1 ≤ k ≤ n ≤ {MaxTotal} (1-based), e.g. --shard 2/4.");

    private static ulong Fnv1a(string s)
    {
        var h = 14695981039346656037UL;
        foreach (var c in s)
        {
            h ^= c;
            h *= 1099511628211UL;
        }
        return h;
    }
}

/// <summary>
/// <c>--shard auto</c>: the shard a CI job is, read from the variables its CI sets (names as npm's ci-parallel-vars).
/// The first source present wins, in the order of <see cref="Sources"/>.
/// </summary>
public static class ShardDetection
{
    /// <summary>What --shard auto reads, for help and error texts.</summary>
    public const string Sources =
        "HERD_SHARD=k/n; GitLab CI_NODE_INDEX/CI_NODE_TOTAL (1-based); Kubernetes JOB_COMPLETION_INDEX (0-based) with --shard-total N; " +
        "CircleCI CIRCLE_NODE_INDEX/CIRCLE_NODE_TOTAL and Buildkite BUILDKITE_PARALLEL_JOB/BUILDKITE_PARALLEL_JOB_COUNT (0-based)";

    /// <summary>
    /// Resolves the <c>--shard</c> and <c>--shard-total</c> flags: null when neither is given (the whole plan).
    /// </summary>
    /// <param name="environment">Reads an environment variable (injected so tests never touch process-wide state).</param>
    /// <exception cref="HerdUsageException">A bad value, or auto with nothing to read; the message names the variable and the fix.</exception>
    public static Shard? Resolve(string? shardFlag, string? totalFlag, Func<string, string?> environment)
    {
        int? total = null;
        if (totalFlag is not null)
        {
            if (!int.TryParse(totalFlag, NumberStyles.None, CultureInfo.InvariantCulture, out var t) || t < 1 || t > Shard.MaxTotal)
                throw new HerdUsageException($"Error: --shard-total '{totalFlag}' must be a whole number from 1 to {Shard.MaxTotal}.");
            if (shardFlag != "auto")
                throw new HerdUsageException("Error: --shard-total only goes with --shard auto (for a Kubernetes Indexed Job's JOB_COMPLETION_INDEX).");
            total = t;
        }
        if (shardFlag is null)
            return null;
        if (shardFlag != "auto")
            return Shard.Parse(shardFlag, "--shard");

        string? Get(string name) => environment(name) is { Length: > 0 } v ? v.Trim() : null;
        if (Get("HERD_SHARD") is { } herd)
            return Shard.Parse(herd, "HERD_SHARD");
        if (Get("CI_NODE_INDEX") is { } gi)
            return FromPair(gi, Get("CI_NODE_TOTAL"), oneBased: true, "CI_NODE_INDEX", "CI_NODE_TOTAL");
        if (Get("JOB_COMPLETION_INDEX") is { } ki)
        {
            if (total is null)
                throw new HerdUsageException("Error: --shard auto found JOB_COMPLETION_INDEX (a Kubernetes Indexed Job) but no shard count; pass --shard-total N (the Job's completions).");
            return FromPair(ki, total.Value.ToString(CultureInfo.InvariantCulture), oneBased: false, "JOB_COMPLETION_INDEX", "--shard-total");
        }
        if (Get("CIRCLE_NODE_INDEX") is { } ci)
            return FromPair(ci, Get("CIRCLE_NODE_TOTAL"), oneBased: false, "CIRCLE_NODE_INDEX", "CIRCLE_NODE_TOTAL");
        if (Get("BUILDKITE_PARALLEL_JOB") is { } bi)
            return FromPair(bi, Get("BUILDKITE_PARALLEL_JOB_COUNT"), oneBased: false, "BUILDKITE_PARALLEL_JOB", "BUILDKITE_PARALLEL_JOB_COUNT");
        // Running every task in every job of a parallel pipeline would multiply the spend; refuse instead of guessing 1/1.
        throw new HerdUsageException($"Error: --shard auto found no shard in the environment. Set one of: {Sources}; or pass --shard k/n.");
    }

    private static Shard FromPair(string indexText, string? totalText, bool oneBased, string indexName, string totalName)
    {
        if (totalText is null)
            throw new HerdUsageException($"Error: --shard auto found {indexName}={indexText} but no {totalName}; set it to the number of shards.");
        if (!int.TryParse(indexText, NumberStyles.None, CultureInfo.InvariantCulture, out var i))
            throw new HerdUsageException($"Error: {indexName} '{indexText}' is not a whole number.");
        if (!int.TryParse(totalText, NumberStyles.None, CultureInfo.InvariantCulture, out var n) || n < 1 || n > Shard.MaxTotal)
            throw new HerdUsageException($"Error: {totalName} '{totalText}' is not a whole number from 1 to {Shard.MaxTotal}.");
        var k = oneBased ? i : i + 1;
        if (k < 1 || k > n)
            throw new HerdUsageException($"Error: {indexName}={indexText} is outside {(oneBased ? "1" : "0")}..{(oneBased ? n : n - 1)} for {totalName}={n} ({(oneBased ? "1" : "0")}-based).");
        return new Shard(k, n);
    }
}
