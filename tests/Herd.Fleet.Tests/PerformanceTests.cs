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
            using (var store = Herd.Fleet.Store.RunStore.Open(dir))
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
            using (var reopened = Herd.Fleet.Store.RunStore.Open(dir))
            {
                reopened.SpentUsd.ShouldBe(2.25, 1e-9);
                reopened.Attempts("k2").Select(a => a.Class).ShouldBe(["crash", "success"]);
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
