using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Herd.Fleet.Reports;
using Xunit.Abstractions;

namespace Herd.Cli.Tests.Reports;

/// <summary>A timing test: it runs alone, after the parallel tests, so the machine's other work does not decide it.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class LargeReportCollection
{
    public const string Name = "large report";
}

/// <summary>The HTML report of a 10 000-task run in headless Chromium (issue #12: "a 10 000-task report stays usable").</summary>
[Collection(LargeReportCollection.Name)]
public sealed class LargeHtmlReportTests(ITestOutputHelper output)
{
    [Fact]
    public async Task A_10000_task_report_stays_small_and_loads_quickly()
    {
        // Given a synthetic 10 000-task run on 64 slots with retries, failures and findings
        var data = HtmlReportBrowserTests.SyntheticRun(10_000, slots: 64);
        var watch = Stopwatch.StartNew();
        var html = HtmlReportBrowserTests.WriteReport(new ReportContext(RunStream.Of(data), ReportOptions.Default), "report-10k.html");
        var writeMs = watch.Elapsed.TotalMilliseconds;
        await using var browser = await HeadlessChromium.StartAsync();

        // When Chromium opens it
        var loadMs = await browser.OpenAsync(new Uri(html).AbsoluteUri);
        await browser.WaitForAsync("document.body.getAttribute('data-ready') === '1'", TimeSpan.FromSeconds(60));
        var readyMs = double.Parse((await browser.EvaluateAsync("document.body.getAttribute('data-drawn-ms')"))!.GetValue<string>(), CultureInfo.InvariantCulture);

        // Then it is usable: bounded size, every attempt drawn, at most 500 table rows in the page, no errors
        var size = new FileInfo(html).Length;
        var line = $"10k-task report: {size / 1024.0 / 1024.0:0.0} MiB, written in {writeMs:0} ms, load event after {loadMs:0} ms, drawn {readyMs:0} ms after navigation start";
        output.WriteLine(line);
        await File.WriteAllTextAsync(Path.Combine(HtmlReportBrowserTests.Artifacts, "report-10k.txt"), line + "\n");
        browser.Errors.ShouldBeEmpty();
        (await HtmlReportBrowserTests.Count(browser, "#timeline .mark")).ShouldBe(data.Tasks.Sum(t => t.Attempts.Count));
        (await HtmlReportBrowserTests.Count(browser, "#timeline .pause")).ShouldBe(1);
        (await HtmlReportBrowserTests.Count(browser, "#tasks tbody tr")).ShouldBe(500);
        (await browser.EvaluateAsync("document.getElementById('table-count').textContent"))!.GetValue<string>().ShouldStartWith("showing 500 of 10,000");
        size.ShouldBeLessThan(12L * 1024 * 1024);
        readyMs.ShouldBeLessThan(20_000);
    }

    [Fact]
    public async Task A_million_task_report_is_built_in_one_pass_in_bounded_memory_and_opens_quickly()
    {
        // Given a million-task run read one task at a time, as the store is read (issue #23)
        const int tasks = 1_000_000;
        long peakHeap = 0;
        var run = new RunStream(new RunHeader("/tmp/synthetic-1m", "synthetic-1m", "finished", 1, "/tmp", tasks, [], null, null), () => Stream(tasks, sampled => peakHeap = Math.Max(peakHeap, sampled)));

        // When the page is built
        var watch = Stopwatch.StartNew();
        var digest = RunDigest.Build(run, ReportOptions.Default);
        var page = HtmlReport.Write(digest).Content;
        var buildS = watch.Elapsed.TotalSeconds;
        var html = Path.Combine(HtmlReportBrowserTests.Artifacts, "report-1m.html");
        await File.WriteAllTextAsync(html, page);
        await using var browser = await HeadlessChromium.StartAsync();
        await browser.OpenAsync(new Uri(html).AbsoluteUri);
        await browser.WaitForAsync("document.body.getAttribute('data-ready') === '1'", TimeSpan.FromSeconds(60));
        var readyMs = double.Parse((await browser.EvaluateAsync("document.body.getAttribute('data-drawn-ms')"))!.GetValue<string>(), CultureInfo.InvariantCulture);
        var size = new FileInfo(html).Length;
        var line = $"1M-task report: built in {buildS:0.0} s, managed heap peak {peakHeap / 1024.0 / 1024.0:0} MiB, page {size / 1024.0:0} KiB, drawn {readyMs:0} ms after navigation start";
        output.WriteLine(line);
        await File.WriteAllTextAsync(Path.Combine(HtmlReportBrowserTests.Artifacts, "report-1m.txt"), line + "\n");

        // Then memory did not grow with the run, the page is small and complete, and it says what it left out
        peakHeap.ShouldBeLessThan(150L * 1024 * 1024);
        size.ShouldBeLessThan(2L * 1024 * 1024);
        browser.Errors.ShouldBeEmpty();
        digest.Finished.ShouldBe(tasks);
        digest.Exact.ShouldBeFalse();
        (await HtmlReportBrowserTests.Count(browser, "#timeline .mark")).ShouldBe(3); // success, max_turns, rate_limited stacked
        (await HtmlReportBrowserTests.Count(browser, "#cost .mark")).ShouldBe(20);
        // the table keeps the failed (at most 300), the 100 slowest and the 100 costliest tasks
        (await HtmlReportBrowserTests.Count(browser, "#tasks tbody tr")).ShouldBeInRange(RunDigest.KeptFailures, 500);
        (await browser.EvaluateAsync("document.getElementById('table-count').textContent"))!.GetValue<string>().ShouldContain("kept from 1,000,000");
        await File.WriteAllBytesAsync(Path.Combine(HtmlReportBrowserTests.Artifacts, "report-1m.png"), await browser.ScreenshotAsync(fullPage: true));
        (await browser.EvaluateAsync("document.getElementById('findings-more').textContent"))!.GetValue<string>().ShouldStartWith($"The {RunDigest.KeptFindings} most severe of 333,333 findings");
        (await browser.EvaluateAsync("document.querySelector('#cards .card b').textContent"))!.GetValue<string>().ShouldBe("1,000,000");
        readyMs.ShouldBeLessThan(10_000);
        buildS.ShouldBeLessThan(60);
    }

    /// <summary>Synthetic tasks shaped like <see cref="HtmlReportBrowserTests.SyntheticRun"/>, made as they are read; the heap is sampled as they go.</summary>
    internal static IEnumerable<ReportTask> Stream(int tasks, Action<long> sample)
    {
        var random = new Random(5);
        var t0 = new DateTimeOffset(2026, 11, 29, 9, 0, 0, TimeSpan.Zero);
        var free = new DateTimeOffset[64];
        Array.Fill(free, t0);
        string[] severities = ["high", "medium", "low"];
        for (var i = 1; i <= tasks; i++)
        {
            var retried = random.NextDouble() < 0.05;
            var cls = random.NextDouble() < 0.03 ? "max_turns" : "success";
            var attempts = new List<ReportAttempt>(2);
            for (var n = 1; n <= (retried ? 2 : 1); n++)
            {
                var slot = i % free.Length;
                var start = free[slot] + TimeSpan.FromMilliseconds(random.Next(5, 200));
                var end = start + TimeSpan.FromSeconds(n == 1 && retried ? 0.5 : 20 + random.NextDouble() * 60);
                free[slot] = end;
                attempts.Add(new ReportAttempt(n, slot, start, end, n == 1 && retried ? "rate_limited" : cls, n == 1 && retried ? 0 : 0.01 + random.NextDouble() * 0.05));
            }
            using var issues = JsonDocument.Parse(i % 3 == 0
                ? $$"""{"issues":[{"severity":"{{severities[i % 9 / 3]}}","file":"src/module{{i % 97}}/file{{i}}.cs","line":{{1 + i % 300}},"message":"Finding number {{i}}: a possible null dereference"}]}"""
                : """{"issues":[]}""");
            yield return new ReportTask(i, $"k{i:D8}", $"src/module{i % 97}/file{i}.cs", cls, null, attempts[0].Start, attempts[^1].End!.Value,
                (attempts[^1].End!.Value - attempts[^1].Start).TotalSeconds, attempts.Sum(a => a.CostUsd), 12_000, 800, 40_000, 3_000, attempts.Count - 1, "claude-sonnet-4-5",
                "", $"Reviewed src/module{i % 97}/file{i}.cs: " + new string('x', 300), cls == "success" ? null : "error_max_turns after 20 turns", issues.RootElement, attempts);
            // What the digest keeps, not garbage a collection has yet to free: without a full collection the figure
            // follows the GC's allocation budget, which grows with what the rest of the test process did before.
            if (i % 50_000 == 0)
                sample(GC.GetTotalMemory(forceFullCollection: true));
        }
    }
}
