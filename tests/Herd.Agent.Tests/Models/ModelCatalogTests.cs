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
    [InlineData("sonnet", 3.0)]
    [InlineData("claude-haiku-4-5", 1.0)]
    [InlineData("claude-opus-4-1", 15.0)]
    public void Prices_are_found_by_id_dated_id_or_alias(string model, double input)
    {
        ModelCatalog.BuiltIn.TryGetPrice(model, out var price).ShouldBeTrue();
        price.Input.ShouldBe(input);
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
