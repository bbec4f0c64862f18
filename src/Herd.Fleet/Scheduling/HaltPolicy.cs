using System.Globalization;
using Herd.Agent;

namespace Herd.Fleet.Scheduling;

public enum HaltMode
{
    None,

    /// <summary>Start nothing new; running attempts finish.</summary>
    Soon,

    /// <summary>Cancel running attempts too; they stay resumable.</summary>
    Now,
}

/// <summary>What a --halt threshold counts.</summary>
public enum HaltCondition
{
    Fail,
    Success,
    Done,
}

/// <summary>
/// GNU parallel's <c>--halt now|soon,fail=N|N%,success=…,done=…</c> (spec §2). Counts final outcomes after retries;
/// percentages are evaluated once <see cref="MinFinished"/> tasks finished (<c>--halt-min</c>, default 10).
/// </summary>
public sealed record HaltPolicy(HaltMode Mode, HaltCondition Condition, double Threshold, bool Percent, int MinFinished = 10)
{
    public static HaltPolicy Never { get; } = new(HaltMode.None, HaltCondition.Fail, 0, false);

    /// <exception cref="HerdUsageException">Not of the form now|soon,fail|success|done=N|N%.</exception>
    public static HaltPolicy Parse(string text, int minFinished = 10)
    {
        string Bad() => $"Error: --halt '{text}' is not valid. Use now|soon,fail=N|N%, success=N|N% or done=N|N% (e.g. --halt soon,fail=10%).";
        if (text == "never")
            return Never;
        var comma = text.IndexOf(',');
        if (comma < 0)
            throw new HerdUsageException(Bad());
        var mode = text[..comma] switch
        {
            "now" => HaltMode.Now,
            "soon" => HaltMode.Soon,
            _ => throw new HerdUsageException(Bad()),
        };
        var rule = text[(comma + 1)..];
        var eq = rule.IndexOf('=');
        if (eq < 0)
            throw new HerdUsageException(Bad());
        var condition = rule[..eq] switch
        {
            "fail" => HaltCondition.Fail,
            "success" => HaltCondition.Success,
            "done" => HaltCondition.Done,
            _ => throw new HerdUsageException(Bad()),
        };
        var value = rule[(eq + 1)..];
        var percent = value.EndsWith('%');
        if (percent)
            value = value[..^1];
        if (!double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out var threshold) || threshold <= 0 || (percent && threshold > 100))
            throw new HerdUsageException(Bad());
        return new HaltPolicy(mode, condition, threshold, percent, minFinished);
    }

    /// <summary>The condition as written on the command line (<c>fail</c>, <c>success</c>, <c>done</c>).</summary>
    public string ConditionName => Condition.ToString().ToLowerInvariant();

    /// <summary>What the run should do now, given final counts so far and the plan size.</summary>
    public HaltMode Check(int succeeded, int failed, int total)
    {
        if (Mode == HaltMode.None)
            return HaltMode.None;
        var count = Condition switch
        {
            HaltCondition.Fail => failed,
            HaltCondition.Success => succeeded,
            _ => succeeded + failed,
        };
        var finished = succeeded + failed;
        bool hit;
        if (Percent)
            hit = finished >= Math.Min(MinFinished, total) && total > 0 && count * 100.0 / Math.Max(finished, 1) >= Threshold;
        else
            hit = count >= Threshold;
        return hit ? Mode : HaltMode.None;
    }
}
