using System.Text.Json.Nodes;
using Herd.Cli.Run;
using Herd.Fleet.Jobs;

namespace Herd.Cli.Tests.Run;

/// <summary>
/// issue #23: <c>--sample</c> is drawn as the plan streams past, holding only the tasks it may keep. It must pick the
/// tasks it picked when it shuffled the whole plan (a seeded sample names the same tasks in every Herd version).
/// </summary>
public sealed class PlanSamplerTests
{
    private static IReadOnlyList<FleetTask> PlanOf(int n) =>
        Plan.Build(TaskSources.FromValues(Enumerable.Range(1, n).Select(i => $"src/file{i:D5}.cs")), "Review {}", "herd", new JsonObject { ["model"] = "m" }, _ => { });

    /// <summary>What --sample did before it streamed: shuffle the whole plan by the seeded draws, take the first N, plan order.</summary>
    private static int[] ShuffledWhole(IReadOnlyList<FleetTask> plan, SampleSpec sample)
    {
        var random = new Random(sample.Seed);
        return plan.OrderBy(_ => random.Next()).Take(sample.SizeOf(plan.Count)).OrderBy(t => t.Seq).Select(t => t.Seq).ToArray();
    }

    [Theory]
    [InlineData(1, 1, 1)]
    [InlineData(50, 5, 4)]
    [InlineData(1000, 20, 1)]
    [InlineData(1000, 999, 7)]
    [InlineData(10, 25, 3)]
    public void A_sample_of_n_tasks_picks_what_shuffling_the_whole_plan_picked(int planned, int count, int seed)
    {
        // Given a plan and a seeded sample of N tasks
        var plan = PlanOf(planned);
        var sample = new SampleSpec(count, null, seed);

        // When the sampler sees the plan stream past
        var sampler = new PlanSampler(sample);
        foreach (var task in plan)
            sampler.Offer(task);

        // Then it keeps the same tasks, in plan order
        sampler.Take(plan.Count).Select(t => t.Seq).ShouldBe(ShuffledWhole(plan, sample));
    }

    [Theory]
    [InlineData(200, 5.0, 2)]
    [InlineData(7, 50.0, 9)]
    [InlineData(3000, 33.3, 4)]
    [InlineData(1, 1.0, 1)]
    public void A_percentage_sample_picks_what_shuffling_the_whole_plan_picked_from_its_spool(int planned, double percent, int seed)
    {
        // Given a plan and a seeded sample of P % (its size is known only at the plan's end, so the tasks wait on disk)
        var plan = PlanOf(planned);
        var sample = new SampleSpec(null, percent, seed);
        using var sampler = new PlanSampler(sample);
        foreach (var task in plan)
            sampler.Offer(task);

        // Then it picks the same tasks, in plan order, each read back whole from the spool
        var taken = sampler.Take(plan.Count);
        taken.Select(t => t.Seq).ShouldBe(ShuffledWhole(plan, sample));
        var bySeq = plan.ToDictionary(t => t.Seq);
        foreach (var task in taken)
        {
            var original = bySeq[task.Seq];
            (task.Key, task.Name, task.Prompt, task.Caps).ShouldBe((original.Key, original.Name, original.Prompt, original.Caps));
            task.Values.ShouldBe(original.Values);
            task.Named.ShouldBe(original.Named);
        }
    }
}
