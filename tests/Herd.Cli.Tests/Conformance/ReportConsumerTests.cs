using System.Text.Json.Nodes;
using System.Xml.Linq;
using Herd.Cli.Tests.Reports;
using Herd.Fleet.Reports;
using Herd.Testing;

namespace Herd.Cli.Tests.Conformance;

/// <summary>
/// The reports of one real review run, checked by the programs their consumers validate with: SARIF Multitool
/// <c>validate</c> with the SARIF and GitHub rule kinds (GitHub code scanning), and <c>xmllint --schema</c> with
/// Jenkins' JUnit schema. The run has a finding with an absolute path and one without a line.
/// </summary>
[Collection(ReviewRunCollection.Name)]
public sealed class ReportConsumerTests(ReviewRunFixture run) : IDisposable
{
    private readonly TempDirectory _temp = new("herd-consumers");

    private ReportContext Context(ReportOptions? options = null) => new(RunReader.Open(run.RunDir), options ?? ReportOptions.Default);

    [Fact]
    public async Task SARIF_Multitool_validates_the_SARIF_with_the_GitHub_rules_without_an_error_or_warning()
    {
        var sarif = _temp.Combine("herd.sarif");
        await File.WriteAllTextAsync(sarif, SarifReport.Write(Context()).Content);

        var log = _temp.Combine("validation.sarif");
        var validate = await Consumers.RunAsync(Consumers.SarifMultitool,
            ["validate", sarif, "--rule-kind", "Sarif;Gh", "--level", "Error;Warning", "--output", log, "--log", "ForceOverwrite"]);

        validate.ExitCode.ShouldBe(0, validate.ToString());
        var results = JsonNode.Parse(await File.ReadAllTextAsync(log))!["runs"]![0]!["results"]!.AsArray();
        // SARIF2017 asks every result for a region: a file-level finding has none on purpose (no invented line 1)
        var complaints = results.Where(r => (string?)r!["ruleId"] != "SARIF2017").Select(r => $"{r!["ruleId"]}: {r["message"]}").ToArray();
        complaints.ShouldBeEmpty(validate.ToString());
    }

    [Fact]
    public void The_SARIF_names_its_tool_information_URI_invents_no_line_and_leaves_the_category_to_the_uploader()
    {
        var root = JsonNode.Parse(SarifReport.Write(Context()).Content)!["runs"]![0]!;

        Uri.IsWellFormedUriString((string?)root["tool"]!["driver"]!["informationUri"], UriKind.Absolute).ShouldBeTrue();
        // upload-sarif never overrides an automationDetails.id in the file: without --category there is none, so the workflow's category applies
        root["automationDetails"].ShouldBeNull();
        var fileLevel = root["results"]!.AsArray().Single(r => (string?)r!["locations"]![0]!["physicalLocation"]!["artifactLocation"]!["uri"] == ReviewRunFixture.FileName(ReviewRunFixture.NoLineFile) && (string?)r["level"] == "note");
        fileLevel!["locations"]![0]!["physicalLocation"]!["region"].ShouldBeNull();

        var named = JsonNode.Parse(SarifReport.Write(Context(ReportOptions.Default with { Category = "herd-review" })).Content)!["runs"]![0]!;
        ((string?)named["automationDetails"]!["id"]).ShouldBe("herd-review/" + RunReader.Read(run.RunDir).RunId);
    }

    [Fact]
    public async Task Jenkins_JUnit_schema_accepts_the_JUnit_report_and_its_paths_are_repository_relative()
    {
        var junit = _temp.Combine("herd-junit.xml");
        var xml = JUnitReport.Write(Context(ReportOptions.Default with { FailSeverity = Severity.Minor })).Content;
        await File.WriteAllTextAsync(junit, xml);

        var lint = await Consumers.RunAsync("xmllint", ["--noout", "--schema", Consumers.Fixture("jenkins-junit-10.xsd"), junit]);

        lint.ExitCode.ShouldBe(0, lint.ToString());
        lint.Stderr.ShouldContain("validates");
        // A finding named with an absolute path is shown repository-relative, as in SARIF and Code Quality (system-out
        // keeps the task's own result text, as the model wrote it)
        XDocument.Parse(xml).Descendants("failure").ShouldAllBe(f => !f.Value.Contains(run.Repo));
        var absolute = XDocument.Parse(xml).Descendants("testcase").Single(c => (string?)c.Attribute("name") == ReviewRunFixture.FileName(ReviewRunFixture.AbsolutePathFile));
        absolute.Element("failure")!.Value.ShouldContain($"] {ReviewRunFixture.FileName(ReviewRunFixture.AbsolutePathFile)}:12 ");
    }

    public void Dispose() => _temp.Dispose();
}
