using System.Text.Json;
using Herd.Agent.Json;

namespace Herd.Agent.Models;

/// <summary>Per-model prices in USD per million tokens, and the model's limits.</summary>
public sealed record ModelPrice(
    double Input,
    double Output,
    double? CacheWrite5m = null,
    double? CacheWrite1h = null,
    double? CacheRead = null,
    int? ContextWindow = null,
    int? MaxOutputTokens = null,
    long? LongContextAbove = null,
    ModelPrice? LongContext = null)
{
    /// <summary>
    /// The prices of one call: the long-context band when the prompt (input, cache reads and cache writes) is above
    /// <see cref="LongContextAbove"/> tokens, as Claude Code 2.1.332 prices Haiku 5.5 above 100k.
    /// </summary>
    public ModelPrice ForPrompt(long promptTokens) =>
        LongContextAbove is { } limit && LongContext is { } band && promptTokens > limit ? band : this;

    public double CacheWrite5mPrice => CacheWrite5m ?? Input * 1.25;
    public double CacheWrite1hPrice => CacheWrite1h ?? Input * 2.0;
    public double CacheReadPrice => CacheRead ?? Input * 0.10;
}

/// <summary>The JSON shape of a price table file (spec headless-compat §8.2).</summary>
public sealed record PriceTableFile
{
    public string? Source { get; init; }
    public string? AsOf { get; init; }
    public string? DefaultModel { get; init; }
    public double? WebSearchPerRequest { get; init; }
    public Dictionary<string, string>? Aliases { get; init; }
    public Dictionary<string, ModelPrice>? Models { get; init; }
    public ModelPrice? UnknownModel { get; init; }
}

/// <summary>
/// Model aliases, prices and limits. Prices are data, never code: the built-in table ships as an embedded file and
/// a user table (<c>--prices FILE</c> or <c>HERD_PRICES</c>) is merged over it.
/// </summary>
public sealed class ModelCatalog
{
    private readonly Dictionary<string, ModelPrice> _models;
    private readonly Dictionary<string, string> _aliases;
    private readonly ModelPrice _unknown;

    private ModelCatalog(PriceTableFile table)
    {
        _models = new Dictionary<string, ModelPrice>(table.Models ?? [], StringComparer.OrdinalIgnoreCase);
        _aliases = new Dictionary<string, string>(table.Aliases ?? [], StringComparer.OrdinalIgnoreCase);
        _unknown = table.UnknownModel ?? new ModelPrice(15, 75, ContextWindow: 200_000, MaxOutputTokens: 32_000);
        DefaultModel = table.DefaultModel ?? "claude-opus-5-5";
        WebSearchPerRequest = table.WebSearchPerRequest ?? 0.01;
        AsOf = table.AsOf;
    }

    public string DefaultModel { get; }
    public double WebSearchPerRequest { get; }
    public string? AsOf { get; }

    public static ModelCatalog BuiltIn { get; } = new(LoadBuiltIn());

    /// <summary>The built-in table, with an optional user table merged over it.</summary>
    /// <exception cref="HerdUsageException">The override file is missing or not a valid price table.</exception>
    public static ModelCatalog Load(string? overridePath)
    {
        if (string.IsNullOrEmpty(overridePath))
            return BuiltIn;
        if (!File.Exists(overridePath))
            throw new HerdUsageException($"Error: price table '{overridePath}' does not exist. Pass an existing JSON file to --prices (or HERD_PRICES).");
        PriceTableFile user;
        try
        {
            user = JsonSerializer.Deserialize(File.ReadAllText(overridePath), HerdJsonContext.Default.PriceTableFile)
                ?? throw new JsonException("the file holds null");
        }
        catch (JsonException ex)
        {
            throw new HerdUsageException($"Error: price table '{overridePath}' is not valid: {ex.Message}. See docs for the format ({{\"models\":{{\"id\":{{\"input\":3,\"output\":15}}}}}}).");
        }
        var builtIn = LoadBuiltIn();
        var merged = builtIn with
        {
            DefaultModel = user.DefaultModel ?? builtIn.DefaultModel,
            WebSearchPerRequest = user.WebSearchPerRequest ?? builtIn.WebSearchPerRequest,
            UnknownModel = user.UnknownModel ?? builtIn.UnknownModel,
            AsOf = user.AsOf ?? builtIn.AsOf,
            Aliases = Merge(builtIn.Aliases, user.Aliases),
            Models = Merge(builtIn.Models, user.Models),
        };
        return new ModelCatalog(merged);
    }

    private static Dictionary<string, T> Merge<T>(Dictionary<string, T>? a, Dictionary<string, T>? b)
    {
        var result = new Dictionary<string, T>(a ?? [], StringComparer.OrdinalIgnoreCase);
        foreach (var (k, v) in b ?? [])
            result[k] = v;
        return result;
    }

    private static PriceTableFile LoadBuiltIn()
    {
        using var stream = typeof(ModelCatalog).Assembly.GetManifestResourceStream("Herd.Agent.prices.json")
            ?? throw new InvalidOperationException("The built-in price table is missing from the assembly.");
        return JsonSerializer.Deserialize(stream, HerdJsonContext.Default.PriceTableFile)!;
    }

    /// <summary>Turns an alias (<c>sonnet</c>, <c>opus</c>, …) into a model id; full ids pass through.</summary>
    public string Resolve(string? modelOrAlias)
    {
        if (string.IsNullOrWhiteSpace(modelOrAlias))
            return Resolve(DefaultModel);
        return _aliases.TryGetValue(modelOrAlias.Trim(), out var id) ? id : modelOrAlias.Trim();
    }

    /// <summary>Exact id → id without a -YYYYMMDD suffix → alias → unknown (spec §8.2).</summary>
    public bool TryGetPrice(string model, out ModelPrice price)
    {
        if (_models.TryGetValue(model, out price!))
            return true;
        var dash = model.LastIndexOf('-');
        if (dash > 0 && model.Length - dash - 1 == 8 && model[(dash + 1)..].All(char.IsAsciiDigit)
            && _models.TryGetValue(model[..dash], out price!))
            return true;
        if (_aliases.TryGetValue(model, out var id) && _models.TryGetValue(id, out price!))
            return true;
        price = _unknown;
        return false;
    }

    public ModelPrice PriceOf(string model) => TryGetPrice(model, out var p) ? p : _unknown;

    /// <summary>
    /// Cost of one call, spec headless-compat §8.1. Terms are computed and summed in Claude Code's order (tokens / 1e6
    /// × price × multiplier; input, cache read, cache writes, output) so totals print the same digits.
    /// </summary>
    public double CostOf(string model, Usage usage)
    {
        var p = PriceOf(model).ForPrompt(usage.InputTokens + usage.CacheReadInputTokens + usage.CacheCreationInputTokens);
        var cw1h = Math.Min(usage.CacheCreation1hTokens, usage.CacheCreationInputTokens);
        var cw5m = usage.CacheCreationInputTokens - cw1h;
        var cost = usage.InputTokens / 1e6 * p.Input;
        cost += p.CacheRead is { } read ? usage.CacheReadInputTokens / 1e6 * read : usage.CacheReadInputTokens / 1e6 * p.Input * 0.1;
        cost += p.CacheWrite5m is { } w5 ? cw5m / 1e6 * w5 : cw5m / 1e6 * p.Input * 1.25;
        if (cw1h > 0)
            cost += p.CacheWrite1h is { } w1 ? cw1h / 1e6 * w1 : cw1h / 1e6 * p.Input * 2.0;
        cost += usage.OutputTokens / 1e6 * p.Output;
        if (usage.WebSearchRequests > 0)
            cost += usage.WebSearchRequests * WebSearchPerRequest;
        return cost;
    }

    /// <summary>
    /// A model's name as Claude Code words it in <c>system/model_fallback</c>: <c>claude-sonnet-5-5</c> →
    /// <c>Sonnet 5.5</c>, <c>claude-haiku-4-5-20251001</c> → <c>Haiku 4.5</c>. Ids of another shape pass through.
    /// </summary>
    public static string DisplayName(string model)
    {
        if (!model.StartsWith("claude-", StringComparison.Ordinal))
            return model;
        var parts = model["claude-".Length..].Split('-');
        var words = parts.Where(p => p.Length > 0 && char.IsAsciiLetter(p[0])).Select(p => char.ToUpperInvariant(p[0]) + p[1..]).ToArray();
        var version = parts.Where(p => p.Length is > 0 and < 8 && p.All(char.IsAsciiDigit)).ToArray();
        if (words.Length == 0)
            return model;
        return version.Length == 0 ? string.Join(' ', words) : string.Join(' ', words) + " " + string.Join('.', version);
    }

    public int ContextWindowOf(string model) => PriceOf(model).ContextWindow ?? 200_000;

    public int MaxOutputTokensOf(string model) => PriceOf(model).MaxOutputTokens ?? 32_000;
}
