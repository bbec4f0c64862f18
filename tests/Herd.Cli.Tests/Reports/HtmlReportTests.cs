using System.Text.Json;
using System.Text.RegularExpressions;
using Herd.Fleet.Reports;

namespace Herd.Cli.Tests.Reports;

/// <summary>What the HTML report embeds, checked without a browser (the drawing is checked in Chromium).</summary>
public sealed partial class HtmlReportTests
{
    [Fact]
    public void A_merged_multi_shard_run_gets_one_timeline_row_per_shard_and_slot()
    {
        // Given two shards that each ran on slots 0 and 1
        var data = HtmlReportBrowserTests.SyntheticRun(40, slots: 2);
        var merged = data with { Tasks = data.Tasks.Select((t, i) => t with { Shard = i % 2 == 0 ? "1/2" : "2/2" }).ToArray() };

        var embedded = Embedded(HtmlReport.Write(new ReportContext(merged, ReportOptions.Default)).Content);

        // Then the timeline has four rows, and no two attempts of one row overlap
        var attempts = embedded.GetProperty("attempts").EnumerateArray().Select(a => (Row: a[2].GetInt32(), Start: a[3].GetDouble(), End: a[4].GetDouble())).ToArray();
        attempts.Select(a => a.Row).Distinct().Order().ShouldBe([0, 1, 2, 3]);
        foreach (var row in attempts.GroupBy(a => a.Row))
        {
            var sorted = row.OrderBy(a => a.Start).ToArray();
            sorted.Zip(sorted.Skip(1)).ShouldAllBe(p => p.First.End <= p.Second.Start + 1e-9);
        }
    }

    [Fact]
    public void Task_text_cannot_close_the_script_element_that_holds_the_data()
    {
        // Given a task whose name and result try to break out of the page's data block
        var data = HtmlReportBrowserTests.SyntheticRun(3, slots: 1);
        const string hostile = "</script><script>alert(1)</script><!--";
        var run = data with { Tasks = [data.Tasks[0] with { Name = hostile, ResultText = hostile }, .. data.Tasks.Skip(1)] };

        var html = HtmlReport.Write(new ReportContext(run, ReportOptions.Default)).Content;

        // Then the page holds exactly its own two script elements and the text survives as data
        Regex.Matches(html, "<script").Count.ShouldBe(2);
        html.ShouldNotContain("<script>alert");
        Embedded(html).GetProperty("tasks")[0][1].GetString().ShouldBe(hostile);
    }

    [Fact]
    public void The_report_loads_nothing_from_the_network()
    {
        var html = HtmlReport.Write(new ReportContext(HtmlReportBrowserTests.SyntheticRun(20, slots: 2), ReportOptions.Default)).Content;

        ExternalReference().IsMatch(html).ShouldBeFalse();
        html.ShouldNotContain("<link");
        html.ShouldNotContain("@import");
        html.ShouldNotContain("<script src");
    }

    [GeneratedRegex("""(src|href)\s*=\s*["']?\s*(https?:)?//""", RegexOptions.IgnoreCase)]
    private static partial Regex ExternalReference();

    private static JsonElement Embedded(string html)
    {
        var m = Regex.Match(html, """<script type="application/json" id="herd-data">(.*?)</script>""", RegexOptions.Singleline);
        m.Success.ShouldBeTrue();
        return JsonDocument.Parse(m.Groups[1].Value).RootElement.Clone();
    }
}
