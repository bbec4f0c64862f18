using Herd.Cli.Ci;
using Herd.Cli.Run;
using Herd.Fleet.Runs;
using Herd.Testing;

namespace Herd.Cli.Tests.Run;

/// <summary>`herd run --shard`, `herd merge` and `herd ci init` from the command line (docs/ci.md).</summary>
public sealed class ShardCommandTests
{
    private static readonly string[] Flags = ["-j", "4", "--prompt", "Review {}", "--progress", "none"];

    private static async Task<int> RunShardAsync(FleetHarness h, string shard, string dir, string[] inputs) =>
        await h.RunAsync([.. Flags, "--shard", shard, "--run-dir", dir, ":::", .. inputs]);

    private static (int Exit, string Out, string Err) Merge(FleetHarness h, params string[] args)
    {
        var (stdout, stderr) = (new StringWriter(), new StringWriter());
        var exit = MergeCommand.Run([.. args.Select((a, i) => Path.Combine(h.Dir, a))], stdout, stderr);
        return (exit, stdout.ToString(), stderr.ToString());
    }

    [Fact]
    public async Task I_can_run_one_shard_and_every_record_and_the_summary_name_it()
    {
        await using var h = await FleetHarness.StartAsync(new ModelScript { Default = Reply.WithText("ok") });
        var inputs = FleetHarness.Inputs(30);

        var exit = await RunShardAsync(h, "2/4", "run", inputs);

        exit.ShouldBe(0, h.Err.ToString());
        var records = h.Records();
        records.Count.ShouldBeGreaterThan(0);
        records.Count.ShouldBeLessThan(30);
        records.ShouldAllBe(r => r.GetProperty("shard").GetString() == "2/4");
        records.ShouldAllBe(r => Shard.Of(r.GetProperty("key").GetString()!, 4).Index == 2);
        var summary = System.Text.Json.JsonDocument.Parse(File.ReadAllText(Path.Combine(h.RunDir(), "summary.json"))).RootElement;
        summary.GetProperty("shard").GetString().ShouldBe("2/4");
        summary.GetProperty("plan_hash").GetString()!.Length.ShouldBe(64);
        summary.GetProperty("plan_tasks").GetInt32().ShouldBe(30);
    }

    [Fact]
    public async Task Dry_run_with_a_shard_lists_only_that_shard_and_the_shards_together_list_the_plan()
    {
        await using var h = await FleetHarness.StartAsync(new ModelScript());
        var inputs = FleetHarness.Inputs(25);
        await h.RunAsync([.. Flags, "--dry-run", ":::", .. inputs]);
        var all = h.Out.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.Split('\t')[0]).ToArray();

        var listed = new List<string>();
        foreach (var k in Enumerable.Range(1, 3))
        {
            (await h.RunAsync([.. Flags, "--dry-run", "--shard", $"{k}/3", ":::", .. inputs.Reverse()])).ShouldBe(0, h.Err.ToString());
            var lines = h.Out.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries);
            lines.ShouldAllBe(l => l.Split('\t')[3] == $"{k}/3");
            h.Err.ToString().ShouldContain($"in shard {k}/3");
            listed.AddRange(lines.Select(l => l.Split('\t')[0]));
        }

        listed.Order().ShouldBe(all.Order());
        Directory.Exists(h.RunDir()).ShouldBeFalse();
    }

    [Fact]
    public async Task Shard_auto_takes_the_shard_from_gitlab_parallel_variables()
    {
        await using var h = await FleetHarness.StartAsync(new ModelScript { Default = Reply.WithText("ok") });
        h.Environment["CI_NODE_INDEX"] = "3";
        h.Environment["CI_NODE_TOTAL"] = "3";

        (await RunShardAsync(h, "auto", "run", FleetHarness.Inputs(12))).ShouldBe(0, h.Err.ToString());

        h.Records().ShouldAllBe(r => r.GetProperty("shard").GetString() == "3/3");
    }

    [Theory]
    [InlineData("5/4", "--shard '5/4' is not a shard k/n")]
    [InlineData("auto", "--shard auto found no shard in the environment")]
    public async Task A_bad_shard_is_one_line_and_exit_255_before_anything_is_written(string shard, string message)
    {
        await using var h = await FleetHarness.StartAsync(new ModelScript());

        var exit = await RunShardAsync(h, shard, "run", FleetHarness.Inputs(3));

        exit.ShouldBe(255);
        h.Err.ToString().Trim().Split('\n').Length.ShouldBe(1);
        h.Err.ToString().ShouldContain(message);
        Directory.Exists(h.RunDir()).ShouldBeFalse();
        h.Server.RequestCount.ShouldBe(0);
    }

    [Fact]
    public async Task Herd_merge_gives_one_run_that_runs_show_accepts_and_retry_failed_completes()
    {
        // Given three shards, in which one task fails for good
        await using var h = await FleetHarness.StartAsync(new ModelScript
        {
            Conversations = [new Conversation("item-0005", [Reply.Error(400, errorType: "invalid_request_error")])],
            Default = Reply.WithText("ok"),
        });
        var inputs = FleetHarness.Inputs(18);
        foreach (var k in new[] { 1, 2, 3 })
            await RunShardAsync(h, $"{k}/3", $"shard-{k}", inputs);

        // When they are merged
        var (exit, stdout, stderr) = Merge(h, "merged", "shard-3", "shard-1", "shard-2");

        // Then one run holds every task once, failures included, and the merge exits 0 (the gate decides on failures)
        exit.ShouldBe(0, stderr);
        stdout.Trim().ShouldBe(Path.Combine(h.RunDir("merged"), "results.ndjson"));
        stderr.ShouldContain("3/3 shard(s), 18/18 task(s) finished");
        h.Records("merged").Count.ShouldBe(18);
        var show = new StringWriter();
        RunsCommand.Run(["show", h.RunDir("merged")], show, new StringWriter(), h.Dir).ShouldBe(0);
        show.ToString().ShouldContain("18 finished");

        // And --retry-failed on the merged run reruns the failed task only
        h.Server.Reset(new ModelScript { Default = Reply.WithText("ok") });
        var requests = h.Server.RequestCount;
        (await h.RunAsync(["--retry-failed", "--run-dir", h.RunDir("merged"), "--progress", "none"])).ShouldBe(0, h.Err.ToString());
        h.Server.RequestCount.ShouldBe(requests + 1);
        h.Records("merged").ShouldAllBe(r => r.GetProperty("outcome").GetProperty("class").GetString() == "success");
    }

    [Fact]
    public async Task Herd_merge_names_a_missing_shard_and_its_tasks_and_exits_1()
    {
        await using var h = await FleetHarness.StartAsync(new ModelScript { Default = Reply.WithText("ok") });
        var inputs = FleetHarness.Inputs(12);
        await RunShardAsync(h, "1/2", "shard-1", inputs);

        var (exit, _, stderr) = Merge(h, "merged", "shard-1");

        exit.ShouldBe(MergeCommand.Incomplete);
        stderr.ShouldContain("missing shard 2/2");
        var missing = inputs.Where(i => stderr.Contains($"missing task '{i}'")).ToArray();
        missing.Length.ShouldBe(12 - h.Records("shard-1").Count);
        File.Exists(Path.Combine(h.RunDir("merged"), "results.ndjson")).ShouldBeTrue();
    }

    [Fact]
    public async Task Herd_merge_refuses_shards_of_different_plans_with_one_line_and_exit_255()
    {
        await using var h = await FleetHarness.StartAsync(new ModelScript { Default = Reply.WithText("ok") });
        await RunShardAsync(h, "1/2", "shard-1", FleetHarness.Inputs(6));
        await RunShardAsync(h, "2/2", "shard-2", FleetHarness.Inputs(7));

        var (exit, stdout, stderr) = Merge(h, "merged", "shard-1", "shard-2");

        exit.ShouldBe(255);
        stdout.ShouldBeEmpty();
        stderr.Trim().Split('\n').Length.ShouldBe(1);
        stderr.ShouldContain("different plans");
        Directory.Exists(h.RunDir("merged")).ShouldBeFalse();
    }

    [Fact]
    public void Herd_merge_without_run_directories_is_a_usage_error()
    {
        var err = new StringWriter();
        MergeCommand.Run(["only-out"], new StringWriter(), err).ShouldBe(255);
        err.ToString().ShouldContain("herd merge OUT RUN_DIR");
    }

    [Theory]
    [InlineData(new[] { "init", "travis" }, "unknown CI system 'travis'")]
    [InlineData(new[] { "init", "github", "--shards", "0" }, "--shards '0' must be a whole number from 1 to 256")]
    [InlineData(new[] { "init" }, "needs one CI system")]
    [InlineData(new[] { "deploy" }, "unknown herd ci command 'deploy'")]
    public void Herd_ci_refuses_bad_arguments_with_one_line(string[] args, string message)
    {
        var dir = Directory.CreateTempSubdirectory("herd-ci-").FullName;
        var err = new StringWriter();

        CiCommand.Run(args, new StringWriter(), err, dir).ShouldBe(255);

        err.ToString().ShouldContain(message);
        err.ToString().Trim().Split('\n').Length.ShouldBe(1);
        Directory.EnumerateFileSystemEntries(dir).ShouldBeEmpty();
        Directory.Delete(dir, true);
    }

    [Fact]
    public void Herd_ci_init_keeps_an_existing_pipeline_unless_forced_and_never_overwrites_the_prompt()
    {
        var dir = Directory.CreateTempSubdirectory("herd-ci-").FullName;
        try
        {
            CiCommand.Run(["init", "gitlab"], new StringWriter(), new StringWriter(), dir).ShouldBe(0);
            File.WriteAllText(Path.Combine(dir, Pipelines.PromptPath), "my prompt {}");
            var err = new StringWriter();

            CiCommand.Run(["init", "gitlab", "--shards", "6"], new StringWriter(), err, dir).ShouldBe(255);
            err.ToString().ShouldContain("already exists. Pass --force");
            CiCommand.Run(["init", "gitlab", "--shards", "6", "--force"], new StringWriter(), new StringWriter(), dir).ShouldBe(0);

            File.ReadAllText(Path.Combine(dir, ".gitlab-ci.yml")).ShouldContain("parallel: 6");
            File.ReadAllText(Path.Combine(dir, Pipelines.PromptPath)).ShouldBe("my prompt {}");
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }
}
