using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using Herd.Fleet.Jobs;
using Herd.Fleet.Runs;

namespace Herd.Fleet.Tests;

/// <summary>
/// issue #23: the duplicate check and the plan's identity keep a bounded batch of keys in memory and spill the rest,
/// sorted, to a temporary file. Across spills a repeated key must still be found (with the task that had it first),
/// and the identity must be the hash over every distinct key, as the whole-plan hash is.
/// </summary>
public sealed class PlanKeysTests
{
    private static string KeyOf(int i) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes($"task {i}")));

    [Fact]
    public void A_key_seen_before_is_found_in_memory_or_in_any_spilled_batch_with_its_first_task()
    {
        // Given keys stored in batches of 100 (30 spills), then every tenth key again
        using var keys = new PlanKeys(batchSize: 100);
        for (var i = 1; i <= 3000; i++)
            keys.TryAdd(KeyBits.Of(KeyOf(i)), i).ShouldBeNull($"key {i} is new");

        // When the keys come again, and new ones too
        for (var i = 1; i <= 3000; i += 10)
            keys.TryAdd(KeyBits.Of(KeyOf(i)), 5000 + i).ShouldBe(i, $"key {i} was first task {i}");
        for (var i = 3001; i <= 3100; i++)
            keys.TryAdd(KeyBits.Of(KeyOf(i)), i).ShouldBeNull($"key {i} is new");

        // Then only the new keys count
        keys.Count.ShouldBe(3100);
    }

    [Fact]
    public void The_identity_over_spilled_batches_is_the_whole_plans_hash()
    {
        // Given a plan of 2 500 tasks, with duplicates, keyed through batches of 64
        var plan = Plan.Build(TaskSources.FromValues(Enumerable.Range(1, 2500).Select(i => $"f{i % 2400}.cs")), "Review {}", "herd",
            new JsonObject { ["model"] = "m" }, _ => { });
        var behaviour = Jobs.TaskKey.Canonical(new JsonObject { ["model"] = "m" });
        using var keys = new PlanKeys(batchSize: 64);
        foreach (var task in plan)
            keys.TryAdd(KeyBits.Of(task.Key), task.Seq).ShouldBeNull();

        // Then its identity is the hash over the plan as a list
        keys.IdentityHash(behaviour).ShouldBe(PlanIdentity.Of(plan, behaviour).Hash);
        plan.Count.ShouldBe(2400);
    }
}
