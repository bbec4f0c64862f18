using System.Globalization;
using System.Text.Json;
using Herd.Fleet.Reports;
using Herd.Testing;

namespace Herd.Cli.Tests.Reports;

/// <summary>
/// The HTML report in a real headless Chromium (issue #12): it loads without console errors, every chart draws the
/// number of marks the run implies, and the task table filters and sorts. Screenshots are kept under the test output
/// directory (bin/…/artifacts/), never in the repository.
/// </summary>
[Collection(ReviewRunCollection.Name)]
public sealed class HtmlReportBrowserTests(ReviewRunFixture run)
{
    internal static readonly string Artifacts = Directory.CreateDirectory(Path.Combine(AppContext.BaseDirectory, "artifacts")).FullName;

    [Fact]
    public async Task The_report_of_a_200_task_run_with_retries_and_failures_renders_every_chart_without_console_errors()
    {
        // Given the report of the review run
        var data = RunReader.Read(run.RunDir);
        var html = WriteReport(new ReportContext(data, ReportOptions.Default), "review-report.html");
        await using var browser = await HeadlessChromium.StartAsync();

        // When Chromium opens it from disk, with no network
        await browser.OpenAsync(new Uri(html).AbsoluteUri);
        await browser.WaitForAsync("document.body.getAttribute('data-ready') === '1'");

        // Then nothing failed and each chart has its marks
        browser.Errors.ShouldBeEmpty();
        var attempts = data.Tasks.SelectMany(t => t.Attempts).ToArray();
        (await Count(browser, "#timeline .mark")).ShouldBe(attempts.Length);
        (await Count(browser, "#timeline .mark.retry")).ShouldBe(attempts.Count(a => a.N > 1));
        attempts.Count(a => a.N > 1).ShouldBeGreaterThan(0);
        (await Count(browser, "#spend .mark")).ShouldBe(2); // the spend line and the ceiling
        (await Count(browser, "#spend .mark.ceiling")).ShouldBe(1);
        (await Count(browser, "#concurrency .mark")).ShouldBe(1);
        // the concurrency line peaks at -j 8, and the step lines stay on the chart: nothing is drawn below the zero line
        (await browser.EvaluateAsync("document.querySelector('#concurrency path.mark title').textContent"))!.GetValue<string>().ShouldBe("peak 8 running");
        foreach (var chart in new[] { "#concurrency", "#spend" })
            (await browser.EvaluateAsync($"(() => {{ const b = document.querySelector('{chart} path.mark').getBBox(), axis = document.querySelector('{chart} .axis line'); return b.y + b.height <= axis.y1.baseVal.value + 0.5; }})()"))!.GetValue<bool>().ShouldBeTrue(chart);
        (await Count(browser, "#outcomes .mark")).ShouldBe(data.Tasks.Select(t => t.Class).Distinct().Count());
        (await Count(browser, "#cost .mark")).ShouldBe(20);
        (await Count(browser, "#duration .mark")).ShouldBe(20);
        (await Count(browser, "#findings .mark")).ShouldBe(5);
        (await Count(browser, "#findings-table tbody tr")).ShouldBe(ReviewRunFixture.ExpectedFindings);
        (await Count(browser, "#tasks tbody tr")).ShouldBe(ReviewRunFixture.Files);
        (await browser.EvaluateAsync("getComputedStyle(document.querySelector('#timeline svg')).height"))!.GetValue<string>().ShouldNotBe("0px");
        var png = await browser.ScreenshotAsync();
        await File.WriteAllBytesAsync(Path.Combine(Artifacts, "review-report.png"), png);
        await File.WriteAllBytesAsync(Path.Combine(Artifacts, "review-report-full.png"), await browser.ScreenshotAsync(fullPage: true));
        if (Environment.GetEnvironmentVariable("HERD_DOCS_SCREENSHOT") is { Length: > 0 } docs)
            await File.WriteAllBytesAsync(docs, png);
    }

    [Fact]
    public async Task Filtering_and_sorting_the_task_table_works()
    {
        var data = RunReader.Read(run.RunDir);
        var html = WriteReport(new ReportContext(data, ReportOptions.Default), "filter-report.html");
        await using var browser = await HeadlessChromium.StartAsync();
        await browser.OpenAsync(new Uri(html).AbsoluteUri);
        await browser.WaitForAsync("document.body.getAttribute('data-ready') === '1'");

        // When a person types into the filter box
        await browser.EvaluateAsync("(() => { const f = document.getElementById('filter'); f.value = 'FILE-001'; f.dispatchEvent(new Event('input')); })()");
        var expected = data.Tasks.Count(t => $"{t.Name}\n{t.Class}\n{t.ResultText}\n{t.Error}".Contains("file-001", StringComparison.OrdinalIgnoreCase));
        await browser.WaitForAsync($"document.querySelectorAll('#tasks tbody tr').length === {expected}");

        // Then only matching rows remain, and the count says so
        expected.ShouldBe(10);
        (await browser.EvaluateAsync("[...document.querySelectorAll('#tasks tbody tr td:nth-child(2)')].every(td => td.textContent.includes('file-001'))"))!.GetValue<bool>().ShouldBeTrue();
        (await browser.EvaluateAsync("document.getElementById('table-count').textContent"))!.GetValue<string>().ShouldBe($"10 of {ReviewRunFixture.Files} tasks");

        // When the filter is cleared and the class list picks the failures
        await browser.EvaluateAsync("(() => { const f = document.getElementById('filter'); f.value = ''; f.dispatchEvent(new Event('input')); const s = document.getElementById('class-filter'); s.value = 'invalid_request'; s.dispatchEvent(new Event('change')); })()");
        await browser.WaitForAsync($"document.querySelectorAll('#tasks tbody tr').length === {ReviewRunFixture.Files / 10}");

        // Then every row is a failure
        (await browser.EvaluateAsync("[...document.querySelectorAll('#tasks tbody .cls')].every(s => s.textContent === 'invalid_request')"))!.GetValue<bool>().ShouldBeTrue();

        // When the Cost column is clicked
        await browser.EvaluateAsync("(() => { document.getElementById('class-filter').value = ''; document.getElementById('class-filter').dispatchEvent(new Event('change')); [...document.querySelectorAll('#tasks th')].find(th => th.textContent === 'Cost').click(); })()");
        await browser.WaitForAsync($"document.querySelectorAll('#tasks tbody tr').length === {ReviewRunFixture.Files}");

        // Then the rows run from the most to the least expensive
        var costs = (await browser.EvaluateAsync("[...document.querySelectorAll('#tasks tbody tr')].map(tr => tr.children[5].textContent)"))!.AsArray()
            .Select(n => double.Parse(n!.GetValue<string>().TrimStart('$'), CultureInfo.InvariantCulture)).ToArray();
        costs.ShouldBe(costs.OrderByDescending(c => c).ToArray());
        costs[0].ShouldBe(data.Tasks.Max(t => t.CostUsd), 0.0001);
        browser.Errors.ShouldBeEmpty();
    }

    [Fact]
    public async Task A_short_run_without_a_budget_has_distinct_axis_labels_whole_count_ticks_no_ceiling_and_no_empty_transcript_column()
    {
        // Given a run of five tasks over a third of a second, with no --budget-usd and no transcripts
        var short5 = SyntheticRun(5, slots: 2);
        var t0 = short5.Tasks[0].Start;
        var tasks = short5.Tasks.Select((t, i) =>
        {
            var start = t0.AddMilliseconds(60 * i);
            var end = start.AddMilliseconds(90);
            return t with { Start = start, End = end, RuntimeS = 0.09, Attempts = [new ReportAttempt(1, i % 2, start, end, t.Class, t.CostUsd)] };
        }).ToArray();
        var data = short5 with { Tasks = tasks, CeilingUsd = null, WallS = 0.33, Pauses = [] };
        var html = WriteReport(new ReportContext(data, ReportOptions.Default), "short-report.html");
        await using var browser = await HeadlessChromium.StartAsync();
        await browser.OpenAsync(new Uri(html).AbsoluteUri);
        await browser.WaitForAsync("document.body.getAttribute('data-ready') === '1'");

        // Then no axis repeats a label, count axes tick at whole numbers, the spend chart claims no ceiling, and no
        // column is empty for every task
        browser.Errors.ShouldBeEmpty();
        foreach (var chart in new[] { "timeline", "spend", "concurrency", "cost", "duration" })
        {
            var labels = (await browser.EvaluateAsync($"[...document.querySelectorAll('#{chart} .axis text')].map(t => t.getAttribute('y') + '|' + t.textContent)"))!.AsArray().Select(n => n!.GetValue<string>()).ToArray();
            labels.ShouldBeUnique(chart);
        }
        foreach (var chart in new[] { "concurrency", "cost", "duration" })
        {
            var ticks = (await browser.EvaluateAsync($"[...document.querySelectorAll('#{chart} .axis text[text-anchor=end]')].map(t => t.textContent)"))!.AsArray().Select(n => n!.GetValue<string>()).ToArray();
            ticks.ShouldNotBeEmpty();
            ticks.ShouldAllBe(t => !t.Contains('.'), chart);
        }
        (await browser.EvaluateAsync("document.getElementById('spend-note').textContent"))!.GetValue<string>().ShouldBe("no --budget-usd ceiling set");
        (await Count(browser, "#spend .mark.ceiling")).ShouldBe(0);
        (await browser.EvaluateAsync("[...document.querySelectorAll('#tasks th')].map(th => th.textContent).join(',')"))!.GetValue<string>().ShouldNotContain("Transcript");
        await File.WriteAllBytesAsync(Path.Combine(Artifacts, "short-report.png"), await browser.ScreenshotAsync(fullPage: true));
    }

    [Fact]
    public void A_task_whose_engine_left_its_session_in_the_run_directory_links_its_transcript()
    {
        // Given a run directory where an external engine kept one task's session file under engine/
        using var dir = new TempDirectory("herd-transcript");
        var data = SyntheticRun(3, slots: 1) with { Directory = dir.Path };
        var session = Path.Combine(dir.Path, "engine", "claude", "slot-0", "projects", "-work", data.Tasks[1].SessionId + ".jsonl");
        Directory.CreateDirectory(Path.GetDirectoryName(session)!);
        File.WriteAllText(session, "{}\n");

        // When the page is built
        var page = HtmlReport.Write(new ReportContext(data, ReportOptions.Default)).Content;

        // Then that task's row names the file, and the others none
        var json = System.Text.RegularExpressions.Regex.Match(page, """<script type="application/json" id="herd-data">(.*?)</script>""", System.Text.RegularExpressions.RegexOptions.Singleline).Groups[1].Value;
        using var doc = JsonDocument.Parse(json);
        doc.RootElement.GetProperty("tasks").EnumerateArray().Select(t => t[12].GetString()).ShouldBe(["", session, ""]);
    }

    internal static async Task<int> Count(HeadlessChromium browser, string selector) =>
        (await browser.EvaluateAsync($"document.querySelectorAll({JsonSerializer.Serialize(selector)}).length"))!.GetValue<int>();

    internal static string WriteReport(ReportContext ctx, string name)
    {
        var path = Path.Combine(Artifacts, name);
        File.WriteAllText(path, HtmlReport.Write(ctx).Content);
        return path;
    }

    /// <summary>A run shaped like a large review: 3 % failures, 5 % retried after a 429, one finding in three tasks.</summary>
    internal static RunData SyntheticRun(int tasks, int slots)
    {
        var random = new Random(5);
        var t0 = new DateTimeOffset(2026, 11, 29, 9, 0, 0, TimeSpan.Zero);
        var free = new DateTimeOffset[slots];
        Array.Fill(free, t0);
        var list = new List<ReportTask>(tasks);
        string[] severities = ["high", "medium", "low"];
        for (var i = 1; i <= tasks; i++)
        {
            var attempts = new List<ReportAttempt>();
            var retried = random.NextDouble() < 0.05;
            var cls = random.NextDouble() < 0.03 ? "max_turns" : "success";
            for (var n = 1; n <= (retried ? 2 : 1); n++)
            {
                var slot = Array.IndexOf(free, free.Min());
                var start = free[slot] + TimeSpan.FromMilliseconds(random.Next(5, 200));
                var end = start + TimeSpan.FromSeconds(n == 1 && retried ? 0.5 : 20 + random.NextDouble() * 60);
                free[slot] = end;
                attempts.Add(new ReportAttempt(n, slot, start, end, n == 1 && retried ? "rate_limited" : cls, n == 1 && retried ? 0 : 0.01 + random.NextDouble() * 0.05));
            }
            var issues = i % 3 == 0
                ? $$"""{"issues":[{"severity":"{{severities[i % 9 / 3]}}","file":"src/module{{i % 97}}/file{{i}}.cs","line":{{1 + i % 300}},"message":"Finding number {{i}}: a possible null dereference"}]}"""
                : """{"issues":[]}""";
            list.Add(new ReportTask(i, $"k{i:D8}", $"src/module{i % 97}/file{i}.cs", cls, null, attempts[0].Start, attempts[^1].End!.Value,
                (attempts[^1].End!.Value - attempts[^1].Start).TotalSeconds, attempts.Sum(a => a.CostUsd), 12_000, 800, 40_000, 3_000, attempts.Count - 1, "claude-sonnet-4-5",
                Guid.NewGuid().ToString(), $"Reviewed src/module{i % 97}/file{i}.cs: " + new string('x', 300), cls == "success" ? null : "error_max_turns after 20 turns",
                JsonDocument.Parse(issues).RootElement.Clone(), attempts));
        }
        var wall = (list.Max(t => t.End) - t0).TotalSeconds;
        return new RunData("/tmp/synthetic-run", "synthetic-10k", "finished", 1, "/tmp", tasks, list, [new ReportPause(t0.AddSeconds(300), t0.AddSeconds(360), "usage_window")], 500, wall);
    }
}
