using Herd.Fleet.Reports;

namespace Herd.Cli.Tests.Reports;

/// <summary>
/// The changes table of the reports (<c>--isolate</c>/<c>--verify</c>) stays bounded however large the migration: the
/// one-pass digest keeps the top rows — failed verifications first, then plan order — and counts what it left out.
/// </summary>
public sealed class ChangesReportTests
{
    [Fact]
    public void A_migration_of_five_thousand_tasks_keeps_the_failed_verifications_first_and_says_how_many_rows_it_left_out()
    {
        // Given 5 000 finished tasks, streamed in reverse plan order, of which every 500th failed its verification
        const int tasks = 5000;
        var run = new RunStream(new RunHeader("/tmp/migration", "migration", "finished", 1, "/tmp", tasks, [], null, null), () => Tasks(tasks));

        // When the digest is built, and the Markdown written from it
        var digest = RunDigest.Build(run, ReportOptions.Default);
        var markdown = MarkdownReport.Write(digest).Content;

        // Then it kept the top rows: the ten failed ones first, then the earliest in plan order, and counted the rest
        digest.ChangeTasks.ShouldBe(tasks);
        digest.Changes.Count.ShouldBe(RunDigest.KeptChanges);
        digest.ChangesLeftOut.ShouldBe(tasks - RunDigest.KeptChanges);
        digest.Changes.Take(10).ShouldAllBe(t => t.Class == "verify_failed");
        digest.Changes.Take(10).Select(t => t.Seq).ShouldBe(Enumerable.Range(1, 10).Select(i => i * 500));
        digest.Changes.Skip(10).Select(t => t.Seq).ShouldBe(Enumerable.Range(1, RunDigest.KeptChanges - 10));
        digest.VerifyFailed.ShouldBe(10);
        digest.VerifyPassed.ShouldBe(tasks - 10);
        digest.FixRounds.ShouldBe(10 * 2);
        digest.LinesAdded.ShouldBe(tasks * 3);
        digest.Changes.ShouldAllBe(t => t.ResultText.Length == 0, "a kept row holds no result text");
        markdown.ShouldContain($"…and {tasks - RunDigest.KeptChanges} more (`herd report /tmp/migration --format patch` lists every patch that would land).");
        markdown.ShouldContain("| task 500 | `verify_failed` | 1 | 3 | 1 | failed, 3 run(s), 2 fix round(s) | line 500 still fails |");
    }

    private static IEnumerable<ReportTask> Tasks(int tasks)
    {
        var t0 = new DateTimeOffset(2026, 12, 3, 9, 0, 0, TimeSpan.Zero);
        for (var i = tasks; i >= 1; i--)
        {
            var failed = i % 500 == 0;
            yield return new ReportTask(i, $"k{i:D8}", $"task {i}", failed ? "verify_failed" : "success", null, t0, t0.AddSeconds(1), 1, 0.01, 100, 10, 0, 0, 0, null, "",
                "a long result " + new string('x', 200), null, null, [])
            {
                Changes = new ReportChanges($"patches/k{i:D8}.patch", [$"src/f{i}.cs"], 3, 1),
                Verify = new ReportVerify(!failed, failed ? 3 : 1, failed ? 2 : 0, 0.5, failed ? $"building\nline {i} still fails\n" : ""),
            };
        }
    }
}
