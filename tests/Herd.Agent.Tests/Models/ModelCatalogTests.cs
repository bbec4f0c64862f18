using Herd.Agent;
using Herd.Agent.Models;
using Herd.Testing;

namespace Herd.Agent.Tests.Models;

public sealed class ModelCatalogTests
{
    [Fact]
    public void Cost_matches_a_published_Claude_Code_capture_to_the_last_digit()
    {
        // Spec §8.1: Sonnet 4.5, in 29, out 656, cache read 112,686, 5m write 23,106 → 0.13038029999999998.
        var usage = new Usage(InputTokens: 29, OutputTokens: 656, CacheCreationInputTokens: 23_106, CacheReadInputTokens: 112_686, CacheCreation5mTokens: 23_106);

        var cost = ModelCatalog.BuiltIn.CostOf("claude-sonnet-4-5", usage);

        cost.ShouldBe(0.13038029999999998);
    }

    [Fact]
    public void One_hour_cache_writes_cost_twice_the_input_price()
    {
        var usage = new Usage(CacheCreationInputTokens: 1_000_000, CacheCreation1hTokens: 400_000);

        var cost = ModelCatalog.BuiltIn.CostOf("claude-sonnet-4-5", usage);

        // 600k at 1.25 × $3 + 400k at 2 × $3.
        cost.ShouldBe(0.6 * 3.75 + 0.4 * 6.0, 1e-9);
    }

    [Theory]
    [InlineData("claude-sonnet-4-5-20250929", 3.0)]
    [InlineData("sonnet", 2.0)]
    [InlineData("opus", 4.0)]
    [InlineData("haiku", 0.1)]
    [InlineData("fable", 8.0)]
    [InlineData("claude-haiku-4-5", 1.0)]
    [InlineData("claude-opus-4-1", 15.0)]
    public void Prices_are_found_by_id_dated_id_or_alias(string model, double input)
    {
        ModelCatalog.BuiltIn.TryGetPrice(model, out var price).ShouldBeTrue();
        price.Input.ShouldBe(input);
    }

    [Theory]
    [InlineData(100, 20, 2e-05)] // within the first band: $0.10 / $0.50
    [InlineData(200_000, 0, 0.1)] // a prompt above 100k tokens: $0.50 input
    public void Haiku_5_5_is_priced_in_two_bands_by_prompt_size_as_Claude_Code_prices_it(long input, long output, double expected)
    {
        ModelCatalog.BuiltIn.CostOf("claude-haiku-5-5", new Usage(InputTokens: input, OutputTokens: output)).ShouldBe(expected, 1e-12);
    }

    [Fact]
    public void Cache_reads_of_the_5_5_models_cost_what_Claude_Code_charges()
    {
        // Observed on 2.1.332: a million cache-read tokens cost $0.10 (Sonnet 5.5), $0.20 (Opus 5.5), $0.20 (Fable 5.2).
        var usage = new Usage(CacheReadInputTokens: 1_000_000);
        ModelCatalog.BuiltIn.CostOf("claude-sonnet-5-5", usage).ShouldBe(0.1, 1e-12);
        ModelCatalog.BuiltIn.CostOf("claude-opus-5-5", usage).ShouldBe(0.2, 1e-12);
        ModelCatalog.BuiltIn.CostOf("claude-fable-5-2", usage).ShouldBe(0.2, 1e-12);
    }

    [Fact]
    public void Every_alias_reaches_a_priced_model_and_the_default_is_opus_5_5()
    {
        foreach (var alias in (string[])["default", "best", "opus", "opus[1m]", "opusplan", "sonnet", "sonnet[1m]", "haiku", "fable"])
            ModelCatalog.BuiltIn.TryGetPrice(ModelCatalog.BuiltIn.Resolve(alias), out _).ShouldBeTrue(alias);
        ModelCatalog.BuiltIn.Resolve(null).ShouldBe("claude-opus-5-5");
    }

    [Theory]
    [InlineData("claude-sonnet-5-5", "Sonnet 5.5")]
    [InlineData("claude-haiku-4-5-20251001", "Haiku 4.5")]
    [InlineData("claude-opus-4", "Opus 4")]
    [InlineData("my-model", "my-model")]
    public void Model_display_names_are_worded_as_Claude_Code_words_them(string model, string expected)
    {
        ModelCatalog.DisplayName(model).ShouldBe(expected);
    }

    [Fact]
    public void An_unknown_model_is_priced_at_the_fallback_tier_and_reported_as_unpriced()
    {
        ModelCatalog.BuiltIn.TryGetPrice("some-new-model", out var price).ShouldBeFalse();
        price.Input.ShouldBe(15);
    }

    [Fact]
    public void A_user_price_file_is_merged_over_the_built_in_table()
    {
        using var dir = new TempDirectory();
        var file = dir.WriteFile("p.json", """{"models":{"my-model":{"input":1,"output":2}},"aliases":{"mine":"my-model"}}""");

        var catalog = ModelCatalog.Load(file);

        catalog.Resolve("mine").ShouldBe("my-model");
        catalog.PriceOf("my-model").Output.ShouldBe(2);
        catalog.PriceOf("claude-sonnet-4-5").Input.ShouldBe(3);
    }

    [Fact]
    public void A_broken_price_file_is_a_usage_error_naming_the_file()
    {
        using var dir = new TempDirectory();
        var file = dir.WriteFile("p.json", "{ nope");

        var error = Should.Throw<HerdUsageException>(() => ModelCatalog.Load(file));

        error.Message.ShouldContain(file);
    }
}
