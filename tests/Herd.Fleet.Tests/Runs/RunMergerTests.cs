using Herd.Agent;
using Herd.Fleet.Runs;
using Herd.Fleet.Store;
using Herd.Testing;

namespace Herd.Fleet.Tests.Runs;

public sealed class RunMergerTests
{
    private static ModelScript Script => new()
    {
        // file007 fails for good (400 is not retryable): the merge must carry failures through as well as successes.
        Conversations = [new Conversation("src/file007.cs", [Reply.Error(400, errorType: "invalid_request_error")])],
        Default = Reply.WithText("Reviewed: {prompt}"),
    };

    private static async Task<string[]> RunAllShardsAsync(ShardedRunFixture f, IReadOnlyList<Jobs.FleetTask> plan, int n, params int[] skip)
    {
        var dirs = new List<string>();
        foreach (var k in Enumerable.Range(1, n).Except(skip))
        {
            await f.RunShardAsync($"shard-{k}", plan, new Shard(k, n));
            dirs.Add(f.Path_($"shard-{k}"));
        }
        return [.. dirs];
    }

    private static RunDefinition Definition(string shard) => new()
    {
        Agent = new Herd.Agent.Loop.AgentProfile { Cwd = "/work", SystemPrompt = "be brief" },
        Shard = shard,
    };

    [Fact]
    public async Task The_merged_run_keeps_the_shards_definition_for_the_whole_plan_and_a_shard_a_newer_herd_wrote_is_refused()
    {
        // Given two shards, each stored with its definition
        await using var f = await ShardedRunFixture.StartAsync(Script);
        var shards = await RunAllShardsAsync(f, ShardedRunFixture.PlanOf(8), 2);
        for (var k = 0; k < 2; k++)
        {
            using var shard = SqliteRunStore.Open(shards[k]);
            shard.WriteDefinition(Definition($"{k + 1}/2").ToJson());
        }

        // When they are merged
        new RunMerger().Merge(f.Path_("merged"), shards);

        // Then the merged run is defined as they were, for the whole plan (no shard)
        using (var merged = SqliteRunStore.OpenReadOnly(f.Path_("merged")))
        {
            var definition = RunDefinition.Parse(merged.ReadRun()!.DefinitionJson!, "the merged run");
            definition.Shard.ShouldBeNull();
            definition.Agent.SystemPrompt.ShouldBe("be brief");
        }

        // And a shard whose definition a newer Herd wrote is refused with one line, nothing merged
        using (var newer = SqliteRunStore.Open(shards[1]))
            newer.WriteDefinition(Definition("2/2").ToJson().Replace("\"version\":1", "\"version\":99", StringComparison.Ordinal));
        Should.Throw<HerdFatalException>(() => new RunMerger().Merge(f.Path_("merged-again"), shards)).Message.ShouldContain("newer Herd");
        Directory.Exists(f.Path_("merged-again")).ShouldBeFalse();
    }

    [Fact]
    public async Task Four_shards_merge_into_one_run_with_every_task_exactly_once()
    {
        await using var f = await ShardedRunFixture.StartAsync(Script);
        var plan = ShardedRunFixture.PlanOf(40);
        var shards = await RunAllShardsAsync(f, plan, 4);

        // When the four run directories are merged
        var result = new RunMerger().Merge(f.Path_("merged"), shards);

        // Then every task has exactly one record, each still naming the shard it ran in
        result.Complete.ShouldBeTrue();
        var records = ShardedRunFixture.Records(f.Path_("merged"));
        records.Select(r => r.GetProperty("key").GetString()).Order().ShouldBe(plan.Select(t => t.Key).Order());
        records.ShouldAllBe(r => r.GetProperty("shard").GetString() == Shard.Of(r.GetProperty("key").GetString()!, 4).ToString());
        records.Count(r => r.GetProperty("outcome").GetProperty("class").GetString() != "success").ShouldBe(1);

        // And the summary names the plan, all four shards and totals equal to the shards' sums
        var summary = ShardedRunFixture.SummaryOf(f.Path_("merged"));
        var shardSummaries = shards.Select(ShardedRunFixture.SummaryOf).ToArray();
        summary.GetProperty("plan_hash").GetString().ShouldBe(shardSummaries[0].GetProperty("plan_hash").GetString());
        summary.GetProperty("shard").ValueKind.ShouldBe(System.Text.Json.JsonValueKind.Null);
        summary.GetProperty("shards").EnumerateArray().Select(e => e.GetString()).ShouldBe(["1/4", "2/4", "3/4", "4/4"]);
        summary.GetProperty("tasks").GetInt32().ShouldBe(40);
        summary.GetProperty("failed").GetInt32().ShouldBe(1);
        summary.GetProperty("exit_code").GetInt32().ShouldBe(1);
        summary.GetProperty("status").GetString().ShouldBe("finished");
        summary.GetProperty("cost_usd").GetDouble().ShouldBe(shardSummaries.Sum(s => s.GetProperty("cost_usd").GetDouble()), 1e-9);
        summary.GetProperty("tokens").GetProperty("input").GetInt64().ShouldBe(shardSummaries.Sum(s => s.GetProperty("tokens").GetProperty("input").GetInt64()));

        // And run.db is a run any reader opens
        using var store = SqliteRunStore.OpenReadOnly(f.Path_("merged"));
        store.ReadStatus().ShouldBe((RunStatus.Finished, 1));
        store.Totals().Tasks.ShouldBe(40);
        store.FinalRecords().Count.ShouldBe(40);
    }

    [Fact]
    public async Task Each_shard_summary_names_its_shard_and_the_plan_of_the_whole_run()
    {
        await using var f = await ShardedRunFixture.StartAsync(Script);
        var plan = ShardedRunFixture.PlanOf(20);
        var shards = await RunAllShardsAsync(f, plan, 2);

        var summaries = shards.Select(ShardedRunFixture.SummaryOf).ToArray();
        summaries.Select(s => s.GetProperty("shard").GetString()).ShouldBe(["1/2", "2/2"]);
        summaries.Select(s => s.GetProperty("plan_hash").GetString()).Distinct().Count().ShouldBe(1);
        summaries.ShouldAllBe(s => s.GetProperty("plan_tasks").GetInt32() == 20);
        summaries.Sum(s => s.GetProperty("tasks").GetInt32()).ShouldBe(20);
        ShardedRunFixture.Records(shards[0]).ShouldAllBe(r => r.GetProperty("shard").GetString() == "1/2");
    }

    [Fact]
    public async Task Merging_again_replaces_the_earlier_merge_with_the_same_content()
    {
        await using var f = await ShardedRunFixture.StartAsync(Script);
        var shards = await RunAllShardsAsync(f, ShardedRunFixture.PlanOf(12), 3);
        new RunMerger().Merge(f.Path_("merged"), shards);
        var results = File.ReadAllText(f.Path_("merged/results.ndjson"));
        var summary = File.ReadAllText(f.Path_("merged/summary.json"));

        // When the same merge runs again, inputs in another order
        new RunMerger().Merge(f.Path_("merged"), shards.Reverse().ToArray());

        File.ReadAllText(f.Path_("merged/results.ndjson")).ShouldBe(results);
        File.ReadAllText(f.Path_("merged/summary.json")).ShouldBe(summary);
        Directory.GetDirectories(f.Dir).Select(Path.GetFileName).ShouldNotContain(d => d!.Contains(".merging-"));
    }

    [Fact]
    public async Task A_missing_shard_is_named_with_its_tasks_and_the_merge_is_still_written()
    {
        await using var f = await ShardedRunFixture.StartAsync(Script);
        var plan = ShardedRunFixture.PlanOf(24);
        var shards = await RunAllShardsAsync(f, plan, 4, skip: 3);

        var result = new RunMerger().Merge(f.Path_("merged"), shards);

        result.Complete.ShouldBeFalse();
        result.MissingShards.ShouldBe(["3/4"]);
        var expectedMissing = plan.Where(t => new Shard(3, 4).Owns(t.Key)).Select(t => t.Name).Order().ToArray();
        expectedMissing.ShouldNotBeEmpty();
        result.MissingTasks.Select(t => t.Name).Order().ShouldBe(expectedMissing);
        var summary = ShardedRunFixture.SummaryOf(f.Path_("merged"));
        summary.GetProperty("missing_shards").EnumerateArray().Select(e => e.GetString()).ShouldBe(["3/4"]);
        summary.GetProperty("missing_tasks").GetInt32().ShouldBe(expectedMissing.Length);
        summary.GetProperty("status").GetString().ShouldBe("stopped");
        ShardedRunFixture.Records(f.Path_("merged")).Count.ShouldBe(24 - expectedMissing.Length);
    }

    [Fact]
    public async Task A_long_plan_missing_a_shard_names_the_first_hundred_tasks_counts_all_and_keeps_the_whole_plan()
    {
        // Given shard 1/2 of a 400-task plan (about 200 tasks missing: more than a merge names)
        await using var f = await ShardedRunFixture.StartAsync(Script);
        var plan = ShardedRunFixture.PlanOf(400);
        var shards = await RunAllShardsAsync(f, plan, 2, skip: 2);

        var result = new RunMerger().Merge(f.Path_("merged"), shards);

        // Then every missing task is counted, the first hundred of the plan's order named
        var expectedMissing = plan.Where(t => new Shard(2, 2).Owns(t.Key)).ToArray();
        expectedMissing.Length.ShouldBeGreaterThan(MergeResult.NamedMissingTasks);
        result.MissingTaskCount.ShouldBe(expectedMissing.Length);
        result.MissingTasks.Select(t => t.Key).ShouldBe(expectedMissing.Take(MergeResult.NamedMissingTasks).Select(t => t.Key));
        ShardedRunFixture.SummaryOf(f.Path_("merged")).GetProperty("missing_tasks").GetInt32().ShouldBe(expectedMissing.Length);

        // And the merged plan.json, copied as it streamed, is the whole plan in its order, holding shard 1 of 2
        var manifest = PlanManifest.Read(f.Path_("merged")).ShouldNotBeNull();
        manifest.Tasks.Select(t => t.Key).ShouldBe(plan.Select(t => t.Key));
        manifest.Shards.ShouldBe([1]);
        manifest.Merged.ShouldBeTrue();
        result.Plan.TaskCount.ShouldBe(400);
    }

    [Fact]
    public async Task Shards_of_different_plans_are_refused_naming_which_and_nothing_is_written()
    {
        await using var f = await ShardedRunFixture.StartAsync(Script);
        await f.RunShardAsync("a-1", ShardedRunFixture.PlanOf(10), new Shard(1, 2));
        await f.RunShardAsync("b-2", ShardedRunFixture.PlanOf(10, template: "Summarize {}"), new Shard(2, 2));

        var ex = Should.Throw<HerdUsageException>(() => new RunMerger().Merge(f.Path_("merged"), [f.Path_("a-1"), f.Path_("b-2")]));

        ex.Message.ShouldContain("different plans");
        ex.Message.ShouldContain("a-1");
        ex.Message.ShouldContain("b-2");
        Directory.Exists(f.Path_("merged")).ShouldBeFalse();
    }

    [Fact]
    public async Task A_shard_given_twice_is_refused_naming_both_directories()
    {
        await using var f = await ShardedRunFixture.StartAsync(Script);
        var plan = ShardedRunFixture.PlanOf(10);
        await f.RunShardAsync("first", plan, new Shard(1, 2));
        await f.RunShardAsync("again", plan, new Shard(1, 2));

        var ex = Should.Throw<HerdUsageException>(() => new RunMerger().Merge(f.Path_("merged"), [f.Path_("first"), f.Path_("again")]));

        ex.Message.ShouldContain("shard 1/2 appears twice");
        ex.Message.ShouldContain("first");
        ex.Message.ShouldContain("again");
    }

    [Fact]
    public async Task Shards_of_different_splits_are_refused()
    {
        await using var f = await ShardedRunFixture.StartAsync(Script);
        var plan = ShardedRunFixture.PlanOf(10);
        await f.RunShardAsync("of2", plan, new Shard(1, 2));
        await f.RunShardAsync("of3", plan, new Shard(2, 3));

        Should.Throw<HerdUsageException>(() => new RunMerger().Merge(f.Path_("merged"), [f.Path_("of2"), f.Path_("of3")]))
            .Message.ShouldContain("different numbers of shards");
    }

    [Fact]
    public async Task An_output_directory_that_holds_another_run_is_never_overwritten()
    {
        await using var f = await ShardedRunFixture.StartAsync(Script);
        var plan = ShardedRunFixture.PlanOf(6);
        var shards = await RunAllShardsAsync(f, plan, 2);
        var before = File.ReadAllText(Path.Combine(shards[0], "results.ndjson"));

        Should.Throw<HerdUsageException>(() => new RunMerger().Merge(shards[0], [shards[1]])).Message.ShouldContain("herd merge did not write");
        Should.Throw<HerdUsageException>(() => new RunMerger().Merge(shards[0], shards)).Message.ShouldContain("both the output and an input");
        File.ReadAllText(Path.Combine(shards[0], "results.ndjson")).ShouldBe(before);
    }

    [Fact]
    public async Task A_directory_without_a_run_is_refused_naming_it()
    {
        await using var f = await ShardedRunFixture.StartAsync(Script);
        Directory.CreateDirectory(f.Path_("empty"));

        Should.Throw<HerdUsageException>(() => new RunMerger().Merge(f.Path_("merged"), [f.Path_("empty")])).Message.ShouldContain("'" + f.Path_("empty") + "' holds no run");
    }

    [Fact]
    public async Task A_damaged_plan_json_is_named_and_nothing_is_written()
    {
        await using var f = await ShardedRunFixture.StartAsync(Script);
        var shards = await RunAllShardsAsync(f, ShardedRunFixture.PlanOf(6), 2);
        File.WriteAllText(Path.Combine(shards[1], PlanManifest.FileName), "{\"plan_hash\": 12");

        var ex = Should.Throw<HerdFatalException>(() => new RunMerger().Merge(f.Path_("merged"), shards));

        ex.Message.ShouldContain(Path.Combine(shards[1], PlanManifest.FileName));
        ex.Message.ShouldContain("damaged");
        Directory.Exists(f.Path_("merged")).ShouldBeFalse();
    }

    [Fact]
    public async Task A_merged_run_reruns_its_failed_tasks_and_keeps_the_rest()
    {
        await using var f = await ShardedRunFixture.StartAsync(Script);
        var plan = ShardedRunFixture.PlanOf(16);
        var shards = await RunAllShardsAsync(f, plan, 2);
        new RunMerger().Merge(f.Path_("merged"), shards);
        f.Server.Reset(new Testing.ModelScript { Default = Testing.Reply.WithText("Reviewed: {prompt}") }); // the cause of the failure is fixed

        // When the merged run is continued with --retry-failed
        var result = await f.RunShardAsync("merged", [], shard: null, RunStart.Resume, RequeueMode.FailedOnly);

        result.ExitCode.ShouldBe(0);
        var records = ShardedRunFixture.Records(f.Path_("merged"));
        records.Count.ShouldBe(16);
        records.ShouldAllBe(r => r.GetProperty("outcome").GetProperty("class").GetString() == "success");
        ShardedRunFixture.SummaryOf(f.Path_("merged")).GetProperty("plan_hash").GetString()
            .ShouldBe(ShardedRunFixture.SummaryOf(shards[0]).GetProperty("plan_hash").GetString());
    }

    [Fact]
    public async Task A_resumed_shard_keeps_its_shard_and_refuses_another()
    {
        await using var f = await ShardedRunFixture.StartAsync(Script);
        var plan = ShardedRunFixture.PlanOf(8);
        await f.RunShardAsync("s", plan, new Shard(2, 2));

        var ex = await Should.ThrowAsync<HerdUsageException>(() => f.RunShardAsync("s", [], new Shard(1, 2), RunStart.Resume));
        ex.Message.ShouldContain("holds shard 2/2, not 1/2");

        f.Server.Reset(new Testing.ModelScript { Default = Testing.Reply.WithText("Reviewed: {prompt}") });
        await f.RunShardAsync("s", [], shard: null, RunStart.Resume, RequeueMode.FailedOnly);
        ShardedRunFixture.Records(f.Path_("s")).ShouldAllBe(r => r.GetProperty("shard").GetString() == "2/2");
    }
}
