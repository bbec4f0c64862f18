using Herd.Fleet.Reports;
using Herd.Fleet.Scheduling;

namespace Herd.Fleet.Tests;

public sealed class PerformanceTests
{
    [Fact]
    public void Running_median_matches_the_sorted_percentile_after_every_value()
    {
        var random = new Random(7);
        var median = new RunningMedian();
        var values = new List<double>();
        median.Median.ShouldBe(0);
        for (var i = 0; i < 500; i++)
        {
            // Duplicates and ties on purpose: the heaps must agree with the sort on them too.
            var v = Math.Round(random.NextDouble() * 20) / 4;
            values.Add(v);
            median.Add(v);
            median.Count.ShouldBe(values.Count);
            median.Median.ShouldBe(Summary.Percentile(values, 0.5));
        }
    }
}

public sealed class BoundedMedianTests
{
    [Fact]
    public void Past_its_exact_range_the_running_median_stays_within_one_percent_of_the_sorted_one()
    {
        // Given values spread over six orders of magnitude, with zeros, far more than the exact range holds
        var random = new Random(11);
        var median = new RunningMedian();
        var values = new List<double>();
        for (var i = 0; i < RunningMedian.ExactUpTo * 5; i++)
        {
            var v = i % 17 == 0 ? 0 : Math.Pow(10, random.NextDouble() * 6 - 3);
            values.Add(v);
            median.Add(v);

            // Then after every value the median is the sorted list's within its 1 % bin, however many came before
            if (i % 997 == 0 || i == RunningMedian.ExactUpTo || i == RunningMedian.ExactUpTo + 1)
            {
                var exact = Summary.Percentile(values, 0.5);
                median.Median.ShouldBe(exact, tolerance: exact * 0.01, $"after {i + 1} values");
            }
        }
        median.Count.ShouldBe(values.Count);
    }
}

public sealed class RunStoreMirrorTests
{
    [Fact]
    public void Spent_mirror_and_prepared_transitions_agree_with_the_database_across_reopen()
    {
        var dir = Path.Combine(Path.GetTempPath(), "herd-store-" + Guid.NewGuid().ToString("N")[..10]);
        try
        {
            var now = DateTimeOffset.UtcNow;
            var tasks = Enumerable.Range(1, 3).Select(i => new Herd.Fleet.Jobs.FleetTask(i, "k" + i, "t" + i, "p", [], new Dictionary<string, string>(), new Herd.Fleet.Jobs.TaskCaps())).ToArray();
            using (var store = Herd.Fleet.Store.SqliteRunStore.Open(dir))
            {
                store.AddTasks(tasks).ShouldBe(3);
                // The same prepared statements serve every task and both outcomes (requeue, then final).
                foreach (var t in tasks)
                {
                    store.StartAttempt(t.Key, 1, 1, now, "s1");
                    store.FinishAttempt(t.Key, 1, Outcome(Herd.Fleet.Engines.OutcomeClass.Crash, 0.25, now), usedRetry: true, buildRecord: null);
                    store.StartAttempt(t.Key, 2, 1, now, "s2");
                    store.FinishAttempt(t.Key, 2, Outcome(Herd.Fleet.Engines.OutcomeClass.Success, 0.5, now), usedRetry: false, rows => $"{{\"key\":\"{t.Key}\",\"n\":{rows.Count}}}")
                        .ShouldBe($"{{\"key\":\"{t.Key}\",\"n\":2}}");
                }
                store.SpentUsd.ShouldBe(2.25, 1e-9);
                store.TotalSpentUsd().ShouldBe(2.25, 1e-9);
                store.FinalRecords().Count().ShouldBe(3);
                store.Totals().Unfinished.ShouldBe(0);
            }
            using (var reopened = Herd.Fleet.Store.SqliteRunStore.Open(dir))
            {
                reopened.SpentUsd.ShouldBe(2.25, 1e-9);
                reopened.Attempts("k2").Select(a => a.Class).ShouldBe([Herd.Fleet.Engines.OutcomeClass.Crash, Herd.Fleet.Engines.OutcomeClass.Success]);
            }
        }
        finally
        {
            Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
            Directory.Delete(dir, recursive: true);
        }
    }

    private static Herd.Fleet.Engines.TaskOutcome Outcome(Herd.Fleet.Engines.OutcomeClass cls, double cost, DateTimeOffset now) =>
        new() { Class = cls, Start = now, End = now.AddSeconds(1), SessionId = "s", CostUsd = cost, IsError = cls != Herd.Fleet.Engines.OutcomeClass.Success };
}

public sealed class TransitionWriterTests
{
    [Fact]
    public async Task Transitions_run_in_post_order_on_one_thread_and_complete_drains_them()
    {
        using var writer = new TransitionWriter();
        var seen = new List<int>();
        var threads = new HashSet<int>();
        for (var i = 0; i < 1000; i++)
        {
            var n = i;
            writer.Post(() =>
            {
                seen.Add(n);
                threads.Add(Environment.CurrentManagedThreadId);
            });
        }
        writer.Complete();
        await writer.Completion.WaitAsync(TimeSpan.FromSeconds(10));
        seen.ShouldBe(Enumerable.Range(0, 1000));
        threads.Count.ShouldBe(1);
        threads.ShouldNotContain(Environment.CurrentManagedThreadId);
    }

    [Fact]
    public async Task The_first_failed_transition_stops_the_writer_and_surfaces_on_completion_and_post()
    {
        using var writer = new TransitionWriter();
        var applied = new List<int>();
        var gate = new ManualResetEventSlim();
        writer.Post(() => gate.Wait());
        writer.Post(() => applied.Add(1));
        writer.Post(() => throw new InvalidDataException("disk full"));
        writer.Post(() => applied.Add(3)); // depends on the failed one: must never run
        gate.Set();

        var ex = await Should.ThrowAsync<InvalidDataException>(() => writer.Completion.WaitAsync(TimeSpan.FromSeconds(10)));
        ex.Message.ShouldBe("disk full");
        applied.ShouldBe([1]);
        Should.Throw<InvalidDataException>(() => writer.Post(() => applied.Add(4)));
        applied.ShouldBe([1]);
    }
}

public sealed class TaskKeyFastPathTests
{
    [Theory]
    [InlineData("Summarize {}", "item-1")]
    [InlineData("héllo \"quoted\" <tag> & \u2028 \t", "a\\b")]
    [InlineData("", "")]
    public void Direct_canonical_writer_gives_the_same_key_as_the_document_form(string prompt, string value)
    {
        var behaviour = (System.Text.Json.Nodes.JsonObject)System.Text.Json.Nodes.JsonNode.Parse(
            """{"model":"m","tools":["Read","Bash"],"z":{"b":1,"a":[{"y":null,"x":true}]},"allow":[]}""")!;
        var named = new Dictionary<string, string> { ["zeta"] = value, ["Alpha"] = "1", ["alpha"] = prompt };
        string[] values = [value, prompt, "third"];

        var doc = new System.Text.Json.Nodes.JsonObject
        {
            ["engine"] = "herd",
            ["prompt"] = prompt,
            ["v"] = new System.Text.Json.Nodes.JsonArray(values.Select(v => (System.Text.Json.Nodes.JsonNode?)System.Text.Json.Nodes.JsonValue.Create(v)).ToArray()),
            ["inputs"] = new System.Text.Json.Nodes.JsonObject(named.Select(kv => KeyValuePair.Create(kv.Key, (System.Text.Json.Nodes.JsonNode?)System.Text.Json.Nodes.JsonValue.Create(kv.Value)))),
            ["options"] = behaviour.DeepClone(),
        };
        var expected = Herd.Fleet.Jobs.TaskKey.Hash(Herd.Fleet.Jobs.TaskKey.Canonical(doc));

        Herd.Fleet.Jobs.TaskKey.Compute("herd", prompt, values, named, behaviour).ShouldBe(expected);
        Herd.Fleet.Jobs.TaskKey.Compute("herd", prompt, values, named, Herd.Fleet.Jobs.TaskKey.Canonical(behaviour)).ShouldBe(expected);
    }
}
