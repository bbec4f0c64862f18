using System.Reflection;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Xml.Linq;
using Herd.Fleet.Reports;
using Json.Schema;

namespace Herd.Cli.Tests.Reports;

/// <summary>Each report format, written from one real review run and checked the way its consumer reads it.</summary>
[Collection(ReviewRunCollection.Name)]
public sealed class ReportFormatTests(ReviewRunFixture run)
{
    private ReportContext Context(ReportOptions? options = null) => new(RunReader.Open(run.RunDir), options ?? ReportOptions.Default);

    [Fact]
    public void The_review_run_used_by_these_tests_has_failures_retries_and_findings()
    {
        var data = RunReader.Read(run.RunDir);

        data.Tasks.Count.ShouldBe(ReviewRunFixture.Files, run.Result.ToString());
        data.Tasks.Count(t => t.Failed).ShouldBe(ReviewRunFixture.Files / 10);
        data.Tasks.SelectMany(t => t.Attempts).Count(a => a.N > 1).ShouldBeGreaterThan(0);
        data.Tasks.SelectMany(t => t.Attempts).ShouldAllBe(a => a.Slot != null);
        data.Tasks.SelectMany(t => FindingExtractor.Extract(t, FindingsOptions.Default)).Count().ShouldBe(ReviewRunFixture.ExpectedFindings);
    }

    [Fact]
    public void The_SARIF_report_validates_against_the_official_SARIF_2_1_0_schema()
    {
        // Given the schema fetched from its npm package by the test build
        var schemaPath = typeof(ReportFormatTests).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>().Single(a => a.Key == "SarifSchemaPath").Value!;
        File.Exists(schemaPath).ShouldBeTrue($"{schemaPath} is missing: the test build fetches it with `npm pack @microsoft/sarif-multitool-linux@5.7.0` (is npm installed?)");
        var schema = JsonSchema.FromText(File.ReadAllText(schemaPath), new BuildOptions { SchemaRegistry = new SchemaRegistry() });

        // When the run's SARIF is written
        var sarif = SarifReport.Write(Context()).Content;

        // Then it is valid, and has what GitHub code scanning needs
        using var doc = JsonDocument.Parse(sarif);
        var result = schema.Evaluate(doc.RootElement, new EvaluationOptions { OutputFormat = OutputFormat.List });
        result.IsValid.ShouldBeTrue(string.Join("\n", (result.Details ?? []).Where(d => d.Errors is not null).SelectMany(d => d.Errors!.Select(e => $"{d.InstanceLocation}: {e.Value}")).Take(10)));
        var root = JsonNode.Parse(sarif)!;
        ((string?)root["version"]).ShouldBe("2.1.0");
        ((string?)root["$schema"]).ShouldNotBeNull();
        var runs = root["runs"]!.AsArray();
        runs.Count.ShouldBe(1);
        var rules = runs[0]!["tool"]!["driver"]!["rules"]!.AsArray();
        rules.ShouldNotBeEmpty();
        rules.ShouldAllBe(r => r!["id"] != null && r["shortDescription"]!["text"] != null && r["fullDescription"]!["text"] != null && r["help"]!["text"] != null);
        var results = runs[0]!["results"]!.AsArray();
        results.Count.ShouldBe(ReviewRunFixture.ExpectedFindings);
        results.Select(r => (string?)r!["level"]).Distinct().Order().ShouldBe(["error", "note", "warning"]);
        var first = results[0]!;
        ((string?)first["level"]).ShouldBe("error");
        var location = first["locations"]![0]!["physicalLocation"]!;
        ((string?)location["artifactLocation"]!["uri"]).ShouldStartWith("src/file-");
        ((int)location["region"]!["startLine"]!).ShouldBe(3);
        results.Count(r => r!["locations"]![0]!["physicalLocation"]!["region"] is null).ShouldBe(1, "only the finding without a line has no region");
        results.Select(r => (string?)r!["partialFingerprints"]!["primaryLocationLineHash"]).Distinct().Count().ShouldBe(results.Count);
    }

    [Fact]
    public void SARIF_over_the_result_limit_keeps_the_most_severe_results_and_says_it_was_cut()
    {
        // When the limit is far below the run's findings
        var output = SarifReport.Write(Context(), maxResults: 10, maxGzipBytes: SarifReport.MaxGzipBytes);

        // Then only the 10 most severe remain and the cut is noted in the file and for stderr
        var runNode = JsonNode.Parse(output.Content)!["runs"]![0]!;
        var results = runNode["results"]!.AsArray();
        results.Count.ShouldBe(10);
        results.ShouldAllBe(r => (string?)r!["level"] == "error");
        output.Notes.ShouldContain(n => n.Contains($"10 most severe of {ReviewRunFixture.ExpectedFindings}"));
        runNode["invocations"]![0]!["toolExecutionNotifications"]!.AsArray().ShouldContain(n => ((string?)n!["message"]!["text"])!.Contains("cut"));
    }

    [Fact]
    public void SARIF_over_the_gzip_size_limit_is_cut_below_it()
    {
        var full = SarifReport.Write(Context()).Content;
        var limit = Gzip(full) / 3;

        var output = SarifReport.Write(Context(), SarifReport.MaxResultsPerRun, limit);

        Gzip(output.Content).ShouldBeLessThanOrEqualTo(limit);
        JsonNode.Parse(output.Content)!["runs"]![0]!["results"]!.AsArray().Count.ShouldBeLessThan(ReviewRunFixture.ExpectedFindings);
        output.Notes.ShouldContain(n => n.Contains("cut"));
    }

    [Fact]
    public void The_Code_Quality_report_is_a_BOM_free_array_with_unique_fingerprints_and_GitLab_severities()
    {
        // Given one finding reported twice, word for word
        var output = CodeQualityReport.Write(Context());
        var bytes = new UTF8Encoding(false).GetBytes(output.Content);

        bytes.Take(3).ShouldNotBe(new byte[] { 0xEF, 0xBB, 0xBF });
        var items = JsonNode.Parse(bytes)!.AsArray();
        items.Count.ShouldBe(ReviewRunFixture.ExpectedFindings);
        items.Select(i => (string?)i!["fingerprint"]).Distinct().Count().ShouldBe(items.Count);
        items.ShouldAllBe(i => new[] { "info", "minor", "major", "critical", "blocker" }.Contains((string?)i!["severity"]));
        items.ShouldAllBe(i => i!["description"] != null && i["check_name"] != null && ((string?)i["location"]!["path"])!.StartsWith("src/") && (int)i["location"]!["lines"]!["begin"]! > 0);
        items.Select(i => (string?)i!["severity"]).Distinct().Order().ShouldBe(["critical", "major", "minor"]);
    }

    [Fact]
    public void The_JUnit_report_has_one_test_case_per_task_and_fails_failed_tasks_and_severe_findings()
    {
        // When findings at or above major fail their test case
        var xml = JUnitReport.Write(Context(ReportOptions.Default with { FailSeverity = Severity.Major })).Content;

        // Then an XML parser reads it and the counts add up
        var doc = XDocument.Parse(xml);
        var cases = doc.Descendants("testcase").ToArray();
        cases.Length.ShouldBe(ReviewRunFixture.Files);
        var failedTasks = Enumerable.Range(1, ReviewRunFixture.Files).Count(ReviewRunFixture.Fails);
        var findingFailures = Enumerable.Range(1, ReviewRunFixture.Files).Count(i => !ReviewRunFixture.Fails(i) && i % 3 is 0 or 1);
        cases.Count(c => c.Element("failure") is not null).ShouldBe(failedTasks + findingFailures);
        ((int)doc.Root!.Element("testsuite")!.Attribute("failures")!).ShouldBe(failedTasks + findingFailures);
        cases.Count(c => (string?)c.Element("failure")?.Attribute("type") == "invalid_request").ShouldBe(failedTasks);
        cases.ShouldAllBe(c => double.Parse((string)c.Attribute("time")!, System.Globalization.CultureInfo.InvariantCulture) >= 0);
        cases.Single(c => (string)c.Attribute("name")! == ReviewRunFixture.FileName(2)).Element("system-out")!.Value.ShouldStartWith("{\"issues\":", customMessage: "system-out holds the task's result, which with --json-schema is the structured output as JSON text (as in Claude Code 2.1.332)");

        // And at blocker only the failed tasks fail
        var lenient = XDocument.Parse(JUnitReport.Write(Context(ReportOptions.Default with { FailSeverity = Severity.Blocker })).Content);
        lenient.Descendants("failure").Count().ShouldBe(failedTasks);
    }

    [Fact]
    public void GitHub_annotations_stay_within_ten_of_each_kind_most_severe_first_with_one_line_for_the_rest()
    {
        var output = GitHubReport.Write(Context());
        var lines = output.Content.TrimEnd('\n').Split('\n');

        lines.Count(l => l.StartsWith("::error ")).ShouldBe(10);
        lines.Count(l => l.StartsWith("::warning ")).ShouldBe(10);
        lines.Count(l => l.StartsWith("::notice ")).ShouldBe(10);
        lines.Length.ShouldBeLessThanOrEqualTo(50);
        // the most severe come first: all errors before any warning before any notice
        var kinds = lines.Select(l => l[2..l.IndexOf(' ')]).ToArray();
        kinds.ShouldBe(kinds.OrderBy(k => k switch { "error" => 0, "warning" => 1, _ => 2 }).ToArray());
        lines[0].ShouldStartWith("::error file=src/file-");
        lines[0].ShouldContain(",line=3,title=critical%3A src/file-");
        lines[^1].ShouldStartWith("::notice title=herd%3A annotations left out::");
        lines[^1].ShouldContain("more annotations left out");
        // the toolkit's escaping: newlines and '%' in data; ':' and ',' in properties
        lines.First(l => l.StartsWith("::warning ")).ShouldContain("line 12, col 4%0A(second line: 100%25 sure)");
    }

    [Fact]
    public void The_markdown_report_has_outcomes_cost_tokens_durations_top_findings_and_failed_tasks()
    {
        var md = MarkdownReport.Write(Context()).Content;

        md.ShouldContain("| `success` | " + (ReviewRunFixture.Files - ReviewRunFixture.Files / 10) + " |");
        md.ShouldContain("| `invalid_request` | " + ReviewRunFixture.Files / 10 + " |");
        md.ShouldContain("Duration per task");
        md.ShouldContain("Tokens: ");
        md.ShouldContain($"### Findings ({ReviewRunFixture.ExpectedFindings})");
        md.ShouldContain("| critical | `src/file-");
        md.ShouldContain($"### Failed tasks ({ReviewRunFixture.Files / 10})");
        md.ShouldContain("| src/file-0010.cs | `invalid_request` |");
        md.ShouldContain("of $50.000 |");
        Encoding.UTF8.GetByteCount(md).ShouldBeLessThan(MarkdownReport.MaxBytes);
    }

    [Fact]
    public void A_markdown_text_over_one_MiB_is_cut_at_a_line_and_says_so()
    {
        var big = string.Concat(Enumerable.Repeat("| a row of a long table |\n", 60_000));

        var cut = MarkdownReport.Bounded(big);

        Encoding.UTF8.GetByteCount(cut).ShouldBeLessThanOrEqualTo(MarkdownReport.MaxBytes);
        cut.ShouldEndWith("…report cut to GitHub's 1 MiB step-summary limit.\n");
        cut.Split('\n').Where(l => l.StartsWith('|')).ShouldAllBe(l => l == "| a row of a long table |");
    }

    [Fact]
    public void Other_finding_shapes_are_read_with_a_findings_path_and_a_severity_map()
    {
        // Given a task whose output nests its findings and grades them P0..P3 with GitLab-like locations
        var output = JsonDocument.Parse("""{"review":{"findings":[{"priority":"P1","location":{"path":"a.cs","lines":{"begin":9}},"description":"bad","check":"Null deref"},{"priority":"urgent","path":"b.cs","message":"x"}]}}""").RootElement;
        var task = RunReader.Read(run.RunDir).Tasks[0] with { StructuredOutput = output };

        var findings = FindingExtractor.Extract(task, new FindingsOptions("$.review.findings", SeverityMap.Parse("urgent=blocker"))).ToArray();

        findings.Length.ShouldBe(2);
        findings[0].ShouldBe(new Finding(task.Key, task.Name, Severity.Critical, "P1", "a.cs", 9, "bad", "Null deref"));
        findings[1].Severity.ShouldBe(Severity.Blocker);
        ReportContext.RuleId(findings[0]).ShouldBe("herd/null-deref");
        Should.Throw<Herd.Agent.HerdUsageException>(() => SeverityMap.Parse("urgent=hot")).Message.ShouldContain("'urgent=hot'");
    }

    private static long Gzip(string s)
    {
        using var sink = new MemoryStream();
        using (var gz = new System.IO.Compression.GZipStream(sink, System.IO.Compression.CompressionLevel.Fastest, true))
            gz.Write(Encoding.UTF8.GetBytes(s));
        return sink.Length;
    }
}
