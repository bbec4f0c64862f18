using System.Text.Json.Nodes;
using Herd.Agent;
using Herd.Fleet.Jobs;
using Herd.Fleet.Runs;

namespace Herd.Fleet.Tests.Runs;

/// <summary>
/// issue #23: a resumed run reads plan.json in one streaming pass — the hash, the shards and a count of its tasks —
/// instead of loading the list of every task of the plan. It must read what the whole-file reader reads.
/// </summary>
public sealed class PlanManifestHeaderTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "herd-manifest-" + Guid.NewGuid().ToString("N")[..10]);

    public PlanManifestHeaderTests() => Directory.CreateDirectory(_dir);

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static IReadOnlyList<FleetTask> PlanOf(IEnumerable<string> inputs) =>
        Plan.Build(TaskSources.FromValues(inputs), "Review {}", "herd", new JsonObject { ["model"] = "m" }, _ => { });

    [Fact]
    public void The_header_of_a_manifest_written_as_the_plan_streams_matches_the_whole_file()
    {
        // Given plan.json written task by task for shard 2/3, with names long enough to cross the reader's buffer
        var plan = PlanOf(Enumerable.Range(1, 3000).Select(i => $"src/{new string('d', i % 7 == 0 ? 70_000 : 20)}/file{i}.cs"));
        using (var writer = new PlanManifestWriter(_dir))
        {
            foreach (var task in plan)
                writer.Add(task);
            writer.Finish("abc123", new Shard(2, 3));
        }

        // When its header is read
        var header = PlanManifestHeader.Read(_dir).ShouldNotBeNull();

        // Then it says what the whole file says, with the tasks counted
        var whole = PlanManifest.Read(_dir).ShouldNotBeNull();
        header.ShouldBe(new PlanManifestHeader(whole.PlanHash, whole.ShardTotal, header.Shards, whole.Sharded, whole.Merged, whole.Tasks.Count));
        header.Shards.ShouldBe(whole.Shards);
        header.TaskCount.ShouldBe(3000);
        header.PlanHash.ShouldBe("abc123");

        // And read with a callback, it hands over every task in the file's order (herd merge copies plan.json so)
        var entries = new List<PlanEntry>();
        PlanManifestHeader.Read(_dir, entries.Add);
        entries.ShouldBe(whole.Tasks);
    }

    [Fact]
    public void The_header_of_a_merged_manifest_counts_its_tasks()
    {
        // Given plan.json as herd merge writes it (the count and the shards before the tasks)
        var plan = PlanOf(["a", "b", "c"]);
        new PlanManifest("h", 4, [1, 3], Sharded: true, Merged: true, plan.Select(t => new PlanEntry(t.Key, t.Name)).ToArray()).Write(_dir);

        var header = PlanManifestHeader.Read(_dir).ShouldNotBeNull();

        header.TaskCount.ShouldBe(3);
        header.Shards.ShouldBe([1, 3]);
        header.Merged.ShouldBeTrue();
    }

    [Theory]
    [InlineData("{\"format\":1,\"tasks\":[[\"k\",\"n\"]")]
    [InlineData("{\"format\":1,\"tasks\":[],\"plan_hash\":\"h\",\"shard_total\":2,\"shards\":[3],\"sharded\":true,\"merged\":false}")]
    [InlineData("{\"format\":1,\"tasks\":[],\"shard_total\":1,\"shards\":[1],\"sharded\":false,\"merged\":false}")]
    public void A_damaged_manifest_is_one_fatal_error_naming_the_file(string text)
    {
        File.WriteAllText(PlanManifest.PathIn(_dir), text);

        var ex = Should.Throw<HerdFatalException>(() => PlanManifestHeader.Read(_dir));

        ex.Message.ShouldContain("plan.json' is damaged");
    }

    [Fact]
    public void No_manifest_reads_as_none() => PlanManifestHeader.Read(_dir).ShouldBeNull();
}
