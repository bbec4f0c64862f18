using System.Diagnostics;
using System.Globalization;
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
        var html = HtmlReportBrowserTests.WriteReport(new ReportContext(data, ReportOptions.Default), "report-10k.html");
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

}
