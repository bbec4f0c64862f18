using System.Text.Json.Nodes;
using Herd.Agent;
using Herd.Fleet.Jobs;
using Herd.Fleet.Runs;

namespace Herd.Fleet.Tests.Runs;

public sealed class ShardTests
{
    private static IReadOnlyList<FleetTask> PlanOf(IEnumerable<string> inputs, string template = "Review {}", string model = "claude-sonnet-4-5") =>
        Plan.Build(TaskSources.FromValues(inputs), template, "herd", new JsonObject { ["model"] = model }, _ => { });

    private static string[] Files(int n) => Enumerable.Range(1, n).Select(i => $"src/file{i:D3}.cs").ToArray();

    [Fact]
    public void Every_task_falls_in_exactly_one_shard_and_the_shards_partition_the_plan()
    {
        // Given a plan of 100 tasks split 4 ways
        var plan = PlanOf(Files(100));

        // When each shard takes its part
        var parts = Enumerable.Range(1, 4).Select(k => plan.Where(t => new Shard(k, 4).Owns(t.Key)).Select(t => t.Key).ToArray()).ToArray();

        // Then every task is in exactly one part, and no part is empty or lopsided
        parts.SelectMany(p => p).Order().ShouldBe(plan.Select(t => t.Key).Order());
        parts.SelectMany(p => p).Distinct().Count().ShouldBe(100);
        parts.ShouldAllBe(p => p.Length >= 12 && p.Length <= 40);
    }

    [Fact]
    public void A_task_keeps_its_shard_when_inputs_are_reordered_or_more_are_added()
    {
        var files = Files(60);
        var first = PlanOf(files).ToDictionary(t => t.Task(), t => Shard.Of(t.Key, 4));
        var reordered = PlanOf(files.Reverse().Concat(["src/new1.cs", "src/new2.cs"])).ToDictionary(t => t.Task(), t => Shard.Of(t.Key, 4));

        foreach (var (name, shard) in first)
            reordered[name].ShouldBe(shard, $"{name} moved");
    }

    [Fact]
    public void The_plan_hash_ignores_input_order_and_changes_with_the_tasks_or_the_shared_options()
    {
        var files = Files(20);
        var options = "{\"model\":\"claude-sonnet-4-5\"}"u8.ToArray();
        var hash = PlanIdentity.Of(PlanOf(files), options).Hash;

        PlanIdentity.Of(PlanOf(files.Reverse()), options).Hash.ShouldBe(hash);
        PlanIdentity.Of(PlanOf(files.Take(19)), options).Hash.ShouldNotBe(hash);
        PlanIdentity.Of(PlanOf(files, template: "Summarize {}"), options).Hash.ShouldNotBe(hash);
        PlanIdentity.Of(PlanOf(files), "{\"model\":\"claude-opus-4-5\"}"u8).Hash.ShouldNotBe(hash);
    }

    [Fact]
    public void A_plan_streamed_to_the_store_has_the_hash_of_the_same_plan_as_a_list()
    {
        // Given inputs with a duplicate, as a shard run streams them and as a --sample run lists them
        var files = Files(50).Append("src/file007.cs").Reverse().ToArray();
        var behaviour = new JsonObject { ["model"] = "claude-sonnet-4-5" };
        var warnings = new List<string>();
        var stream = new PlanStream(TaskSources.FromValues(files), "Review {}", "herd", behaviour, warnings.Add);

        // When the stream is read to its end
        var streamed = stream.Tasks().ToArray();

        // Then it produced the listed plan, collapsed the duplicate once, and hashes as the list does (so herd merge accepts both)
        streamed.Select(t => t.Key).ShouldBe(PlanOf(files).Select(t => t.Key));
        stream.Count.ShouldBe(50);
        warnings.ShouldHaveSingleItem().ShouldContain("is identical to task");
        stream.IdentityHash().ShouldBe(PlanIdentity.Of(PlanOf(files), TaskKey.Canonical(behaviour)).Hash);
    }

    [Theory]
    [InlineData("2/4", 2, 4)]
    [InlineData("1/1", 1, 1)]
    [InlineData("16/16", 16, 16)]
    public void A_shard_parses_as_k_of_n_and_prints_the_same(string text, int k, int n)
    {
        var shard = Shard.Parse(text, "--shard");
        shard.ShouldBe(new Shard(k, n));
        shard.ToString().ShouldBe(text);
    }

    [Theory]
    [InlineData("0/4")]
    [InlineData("5/4")]
    [InlineData("2")]
    [InlineData("a/b")]
    [InlineData("-1/4")]
    [InlineData("2/4/8")]
    [InlineData(" 2/4")]
    public void A_malformed_shard_is_refused_naming_the_flag_and_the_form(string text)
    {
        var ex = Should.Throw<HerdUsageException>(() => Shard.Parse(text, "--shard"));
        ex.Message.ShouldContain($"--shard '{text}'");
        ex.Message.ShouldContain("k/n");
    }

    public static TheoryData<string, string?, string, string> AutoCases => new()
    {
        // variables (NAME=value;…), --shard-total, expected shard, what the case shows
        { "HERD_SHARD=3/8", null, "3/8", "HERD_SHARD as given" },
        { "CI_NODE_INDEX=1;CI_NODE_TOTAL=4", null, "1/4", "GitLab parallel: 1-based" },
        { "CI_NODE_INDEX=4;CI_NODE_TOTAL=4", null, "4/4", "GitLab last job" },
        { "JOB_COMPLETION_INDEX=0", "5", "1/5", "Kubernetes Indexed Job: 0-based" },
        { "JOB_COMPLETION_INDEX=4", "5", "5/5", "Kubernetes last index" },
        { "CIRCLE_NODE_INDEX=0;CIRCLE_NODE_TOTAL=2", null, "1/2", "CircleCI: 0-based" },
        { "BUILDKITE_PARALLEL_JOB=2;BUILDKITE_PARALLEL_JOB_COUNT=3", null, "3/3", "Buildkite: 0-based" },
        { "HERD_SHARD=2/2;CI_NODE_INDEX=1;CI_NODE_TOTAL=2", null, "2/2", "HERD_SHARD wins over the CI's variables" },
    };

    [Theory]
    [MemberData(nameof(AutoCases))]
    public void Shard_auto_reads_the_variables_each_ci_sets(string variables, string? total, string expected, string because)
    {
        var env = Env(variables);
        ShardDetection.Resolve("auto", total, env).ToString().ShouldBe(expected, because);
    }

    [Theory]
    [InlineData("", null, "found no shard")]
    [InlineData("CI_NODE_INDEX=0;CI_NODE_TOTAL=4", null, "CI_NODE_INDEX=0 is outside 1..4")]
    [InlineData("CI_NODE_INDEX=2", null, "no CI_NODE_TOTAL")]
    [InlineData("JOB_COMPLETION_INDEX=1", null, "--shard-total N")]
    [InlineData("JOB_COMPLETION_INDEX=5", "5", "JOB_COMPLETION_INDEX=5 is outside 0..4")]
    [InlineData("HERD_SHARD=9/8", null, "HERD_SHARD '9/8'")]
    public void Shard_auto_refuses_what_it_cannot_read_and_says_what_to_set(string variables, string? total, string message)
    {
        var ex = Should.Throw<HerdUsageException>(() => ShardDetection.Resolve("auto", total, Env(variables)));
        ex.Message.ShouldContain(message);
        ex.Message.ShouldStartWith("Error:");
    }

    [Fact]
    public void Shard_total_without_shard_auto_is_refused()
    {
        Should.Throw<HerdUsageException>(() => ShardDetection.Resolve("2/4", "4", _ => null)).Message.ShouldContain("--shard-total only goes with --shard auto");
        ShardDetection.Resolve(null, null, _ => "1/2").ShouldBeNull();
    }

    private static Func<string, string?> Env(string variables)
    {
        var map = variables.Split(';', StringSplitOptions.RemoveEmptyEntries).Select(p => p.Split('=', 2)).ToDictionary(p => p[0], p => p[1]);
        return name => map.GetValueOrDefault(name);
    }
}

internal static class FleetTaskNames
{
    public static string Task(this FleetTask task) => task.Name;
}
