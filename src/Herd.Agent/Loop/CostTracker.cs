using Herd.Agent.Models;

namespace Herd.Agent.Loop;

/// <summary>Running cost and usage per model for the life of the process (spec §3.5: totals accumulate).</summary>
public sealed class CostTracker(ModelCatalog catalog)
{
    private readonly Dictionary<string, ModelUsageEntry> _byModel = new(StringComparer.Ordinal);

    /// <summary>Σ modelUsage[*].costUSD, summed as Claude Code does so totals print the same digits.</summary>
    public double TotalCostUsd => _byModel.Values.Sum(v => v.CostUsd);

    public long ApiDurationMs { get; private set; }

    public IReadOnlyDictionary<string, ModelUsageEntry> ByModel => new Dictionary<string, ModelUsageEntry>(_byModel);

    /// <summary>Takes the totals of a session saved between turns (<see cref="AgentSessionState"/>).</summary>
    internal void Restore(IReadOnlyDictionary<string, ModelUsageEntry> byModel, long apiDurationMs)
    {
        foreach (var (model, entry) in byModel)
            _byModel[model] = entry;
        ApiDurationMs = apiDurationMs;
    }

    /// <summary>Records a finished call and returns its cost.</summary>
    /// <param name="priceFactor">0.5 for a call made in a Message Batch, billed at half the standard price.</param>
    public double Add(string model, Usage usage, TimeSpan duration, double priceFactor = 1.0)
    {
        var cost = catalog.CostOf(model, usage) * priceFactor;
        _byModel[model] = _byModel.TryGetValue(model, out var e)
            ? e with { Usage = e.Usage.Add(usage), CostUsd = e.CostUsd + cost }
            : new ModelUsageEntry(usage, cost, catalog.ContextWindowOf(model), catalog.MaxOutputTokensOf(model));
        ApiDurationMs += (long)duration.TotalMilliseconds;
        return cost;
    }
}
