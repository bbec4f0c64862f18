using System.Text.Json.Nodes;
using Herd.Cli.Ci;
using Herd.Testing;

namespace Herd.Cli.Tests.Ci;

/// <summary>
/// Issue #11 item 5: each pipeline <c>herd ci init</c> writes is run here, its shell steps in order with the CI's
/// variables simulated, against the scripted model server: a 4-shard review of a 100-file repository, merged, then the
/// reports and the gate. Until <c>herd report</c>/<c>herd gate</c> exist in the herd under test (they come from another
/// branch), a pipeline is run up to its first report step and the merged run is checked; once they exist, everything.
/// </summary>
public sealed class PipelineTests
{
    private const int Files = 100;
    private const int Shards = 4;

    /// <summary>One high finding (the gate's --max-severity major trips), a few lesser ones, an empty review for the rest.</summary>
    private static ModelScript ReviewWithHighFinding => new()
    {
        Conversations =
        [
            CiSandbox.Finding(7, "high", 3, "SQL built from user input: injection"),
            CiSandbox.Finding(42, "medium", 5, "Value() can overflow"),
            CiSandbox.Finding(77, "low", 1, "Namespace does not match the folder"),
        ],
        Default = CiSandbox.NoFindings,
    };

    /// <summary>Only findings under the gate's threshold and no failed task: the gate passes.</summary>
    private static ModelScript ReviewWithMinorFindings => new()
    {
        Conversations = [CiSandbox.Finding(13, "low", 2, "Magic number")],
        Default = CiSandbox.NoFindings,
    };

    private static readonly Dictionary<string, string> Secrets = new() { ["ANTHROPIC_API_KEY"] = CiSandbox.ApiKey };

    [Fact]
    public async Task The_github_workflow_runs_four_shards_merges_them_and_fails_only_at_the_gate_on_a_high_finding()
    {
        // Given a 100-file repository with the workflow herd ci init wrote
        await using var sandbox = await CiSandbox.CreateAsync(CiSystem.GitHub, Files, Shards, ReviewWithHighFinding);
        var reports = true;
        var workflow = Path.Combine(sandbox.Repo, ".github/workflows/herd.yml");

        // When the workflow runs: the matrix jobs, then the merge job
        var github = new GitHubActionsSimulator(sandbox, Secrets);
        await github.RunAsync(workflow, stopBeforeReports: !reports);

        // Then the matrix is the shards, without fail-fast, and every shard job succeeded and uploaded its run
        var matrix = (YamlDotNet.RepresentationModel.YamlMappingNode)((YamlDotNet.RepresentationModel.YamlMappingNode)((YamlDotNet.RepresentationModel.YamlMappingNode)github.Workflow["jobs"])["shard"])["strategy"];
        GitHubActionsSimulator.Scalar(matrix, "fail-fast").ShouldBe("false");
        foreach (var k in Enumerable.Range(1, Shards))
        {
            github.JobSucceeded[$"shard({k})"].ShouldBeTrue(sandbox.Log());
            File.Exists(Path.Combine(sandbox.Artifacts, "github", $"herd-shard-{k}", "run.db")).ShouldBeTrue();
        }
        // And the merge job merged exactly one record per file
        var ws = github.Workspaces["merge"];
        MergedRun.ShouldHoldEveryTaskOnce(Path.Combine(ws, "herd-merged"), Files, Shards);
        sandbox.Steps.Single(s => s.Step == "Merge shards").ExitCode.ShouldBe(0, sandbox.Log());
        // The findings came back through --json-schema as the review prompt asked
        var flagged = MergedRun.Records(Path.Combine(ws, "herd-merged")).Single(r => (string)r["task"]! == "src/mod007.cs");
        ((string)flagged["structured_output"]!["issues"]![0]!["severity"]!).ShouldBe("high");
        sandbox.Steps.ShouldAllBe(s => !s.Stdout.Contains(CiSandbox.ApiKey) && !s.Stderr.Contains(CiSandbox.ApiKey));
        if (!reports)
        {
            github.StoppedBeforeReports.ShouldBeTrue();
            return;
        }

        // And the reports are where the workflow uploads them, and the gate alone fails the job (the high finding)
        MergedRun.ShouldBeJson(Path.Combine(ws, "herd.sarif"), n => n["version"]?.GetValue<string>() == "2.1.0" && n["runs"]!.AsArray().Count == 1, "SARIF");
        github.UploadedCategories.ShouldBe(["herd/"], "the workflow's category applies: the SARIF carries no automationDetails.id of its own");
        var reportStep = sandbox.Steps.Single(s => s.Job == "merge" && s.Step == "Reports");
        reportStep.ExitCode.ShouldBe(0, reportStep.ToString());
        var annotations = reportStep.Stdout.Split('\n').Where(l => l.StartsWith("::", StringComparison.Ordinal)).ToArray();
        annotations.ShouldContain(l => l.StartsWith("::error", StringComparison.Ordinal) && l.Contains("src/mod007.cs", StringComparison.Ordinal));
        annotations.Length.ShouldBeLessThanOrEqualTo(31); // 10 per level, plus one line saying what was left out
        new FileInfo(github.StepSummaries["merge"]).Length.ShouldBeGreaterThan(0);
        var gate = sandbox.Steps.Single(s => s.Job == "merge" && s.Step == "Gate");
        gate.ExitCode.ShouldBe(1, gate.ToString());
        sandbox.Steps.Where(s => s.Job == "merge" && s.Step != "Gate").ShouldAllBe(s => s.ExitCode == 0);
        github.JobSucceeded["merge"].ShouldBeFalse();
    }

    [Fact]
    public async Task The_gitlab_pipeline_runs_parallel_shards_from_ci_node_index_and_publishes_code_quality_and_junit()
    {
        await using var sandbox = await CiSandbox.CreateAsync(CiSystem.GitLab, Files, Shards, ReviewWithMinorFindings);
        var reports = true;

        var gitlab = new GitLabSimulator(sandbox, Secrets);
        await gitlab.RunAsync(Path.Combine(sandbox.Repo, ".gitlab-ci.yml"), stopBeforeReports: !reports);

        // Then parallel: 4 made four jobs, each of which ran its own shard (--shard auto from CI_NODE_INDEX/CI_NODE_TOTAL)
        GitHubActionsSimulator.Scalar((YamlDotNet.RepresentationModel.YamlMappingNode)gitlab.Pipeline["herd-shard"], "parallel").ShouldBe("4");
        foreach (var k in Enumerable.Range(1, Shards))
        {
            gitlab.JobSucceeded[$"herd-shard {k}/{Shards}"].ShouldBeTrue(sandbox.Log());
            var shardRecords = MergedRun.Records(Path.Combine(gitlab.Workspaces[$"herd-shard {k}/{Shards}"], "herd-shards", k.ToString()));
            shardRecords.ShouldAllBe(r => (string)r["shard"]! == $"{k}/{Shards}");
        }
        var ws = gitlab.Workspaces["herd-merge"];
        MergedRun.ShouldHoldEveryTaskOnce(Path.Combine(ws, "herd-merged"), Files, Shards);
        if (!reports)
        {
            gitlab.StoppedBeforeReports.ShouldBeTrue();
            gitlab.JobSucceeded["herd-merge"].ShouldBeTrue(sandbox.Log());
            return;
        }

        // And the merge job published Code Quality and JUnit, and passed the gate (nothing at or above high, nothing failed)
        gitlab.JobSucceeded["herd-merge"].ShouldBeTrue(sandbox.Log());
        var published = gitlab.Reports["herd-merge"];
        MergedRun.ShouldBeJson(published["codequality"], n => n is JsonArray a && a.Count == 1 && a[0]!["location"]!["path"]!.GetValue<string>() == "src/mod013.cs", "Code Quality");
        MergedRun.ShouldBeJUnit(published["junit"], Files);
    }

    [Fact]
    public async Task The_jenkinsfile_runs_parallel_shard_stages_merges_publishes_and_gates_failed_tasks()
    {
        // Given a review where one file's task fails for good (the gate's --max-failed 0 trips)
        var script = ReviewWithMinorFindings with
        {
            Conversations = [.. ReviewWithMinorFindings.Conversations!, new Conversation("Review the file src/mod050.cs for bugs", [Reply.Error(400, errorType: "invalid_request_error")])],
        };
        await using var sandbox = await CiSandbox.CreateAsync(CiSystem.Jenkins, Files, Shards, script);
        var reports = true;

        var jenkins = new JenkinsSimulator(sandbox, new Dictionary<string, string> { ["anthropic-api-key"] = CiSandbox.ApiKey });
        await jenkins.RunAsync(Path.Combine(sandbox.Repo, "Jenkinsfile"), stopBeforeReports: !reports);

        jenkins.StagesRun.ShouldContain("Review");
        jenkins.StagesRun.Where(s => s.StartsWith("Shard ", StringComparison.Ordinal)).Count().ShouldBe(Shards);
        // Every shard ran on an agent of its own, and the merge on another: the run directories came by stash/unstash
        jenkins.Workspaces.Values.Distinct().Count().ShouldBe(Shards + 1);
        // A failed task does not fail its shard stage: the shard's exit 1 is left to the gate
        sandbox.Steps.Where(s => s.Step.StartsWith("Shard ", StringComparison.Ordinal)).ShouldAllBe(s => s.ExitCode == 0);
        var merged = Path.Combine(jenkins.Workspace, "herd-merged");
        MergedRun.ShouldHoldEveryTaskOnce(merged, Files, Shards);
        MergedRun.Records(merged).Count(r => (string)r["outcome"]!["class"]! != "success").ShouldBe(1);
        if (!reports)
        {
            jenkins.StoppedBeforeReports.ShouldBeTrue();
            return;
        }

        jenkins.Published.Select(p => p.Step).ShouldBe(["archiveArtifacts", "junit", "recordIssues/sarif"]);
        MergedRun.ShouldBeJUnit(Path.Combine(jenkins.Workspace, "herd-junit.xml"), Files);
        MergedRun.ShouldBeJson(Path.Combine(jenkins.Workspace, "herd.sarif"), n => n["version"]?.GetValue<string>() == "2.1.0", "SARIF");
        // The merge-and-report step, then the gate, which alone fails
        sandbox.Steps.TakeLast(2).ShouldAllBe(s => s.Step == MergeStage);
        sandbox.Steps[^2].ExitCode.ShouldBe(0, sandbox.Log());
        sandbox.Steps.Last().ExitCode.ShouldBe(1, sandbox.Log());
        jenkins.Succeeded.ShouldBeFalse();
    }

    private const string MergeStage = "Merge, report and gate";

    [Fact]
    public async Task A_jenkins_shard_that_fails_does_not_skip_the_merge_the_reports_or_the_gate()
    {
        // Given a review where one file's call is refused for a bad key: that shard's run stops fatally (exit 103)
        var script = ReviewWithMinorFindings with
        {
            Conversations = [.. ReviewWithMinorFindings.Conversations!, new Conversation("Review the file src/mod050.cs for bugs", [Reply.Error(401, errorType: "authentication_error")])],
        };
        await using var sandbox = await CiSandbox.CreateAsync(CiSystem.Jenkins, Files, Shards, script);

        var jenkins = new JenkinsSimulator(sandbox, new Dictionary<string, string> { ["anthropic-api-key"] = CiSandbox.ApiKey });
        await jenkins.RunAsync(Path.Combine(sandbox.Repo, "Jenkinsfile"), stopBeforeReports: false);

        // Then that shard failed (its stage and the build), yet the merge stage ran, published, and the gate decided
        sandbox.Steps.Where(s => s.Step.StartsWith("Shard ", StringComparison.Ordinal)).Select(s => s.ExitCode).ShouldContain(103, sandbox.Log());
        jenkins.StagesRun.ShouldContain(MergeStage);
        sandbox.Steps.Count(s => s.Step == MergeStage).ShouldBe(2, sandbox.Log());
        sandbox.Steps.Last().ExitCode.ShouldNotBe(0, sandbox.Log());
        jenkins.Published.Select(p => p.Step).ShouldBe(["archiveArtifacts", "junit", "recordIssues/sarif"]);
        File.Exists(Path.Combine(jenkins.Workspace, "herd-junit.xml")).ShouldBeTrue(sandbox.Log());
        jenkins.Succeeded.ShouldBeFalse();
    }

    [Theory]
    [InlineData(CiSystem.GitHub)]
    [InlineData(CiSystem.GitLab)]
    [InlineData(CiSystem.Jenkins)]
    public void Every_pipeline_installs_herd_as_docs_ci_md_says_and_uses_the_report_and_gate_commands(CiSystem system)
    {
        var text = Pipelines.Pipeline(system, 3);
        var docs = File.ReadAllText(Path.Combine(RepositoryRoot(), "docs", "ci.md"));

        // The install commands are the ones docs/ci.md documents, line for line
        foreach (var line in new[] { "if ! command -v herd >/dev/null 2>&1; then", "git clone --depth 1 --branch \"${HERD_REF:-main}\" \"$HERD_REPO\" \"$HOME/.herd/src\"", "dotnet publish \"$HOME/.herd/src/src/Herd.Cli\" -c Release -o \"$HOME/.herd/bin\"" })
        {
            text.ShouldContain(line);
            docs.ShouldContain(line);
        }
        text.ShouldContain("herd merge herd-merged herd-shards/*/");
        text.ShouldContain("herd gate herd-merged --max-failed 0 --max-severity major");
        text.ShouldContain(system switch
        {
            CiSystem.GitHub => "herd report herd-merged --format sarif -o herd.sarif",
            CiSystem.GitLab => "herd report herd-merged --format codequality -o gl-code-quality-report.json",
            _ => "recordIssues(tools: [sarif(pattern: 'herd.sarif'",
        });
    }

    private static string RepositoryRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Herd.slnx")))
            dir = dir.Parent;
        return dir?.FullName ?? throw new DirectoryNotFoundException("Herd.slnx not found above the test binaries");
    }
}
