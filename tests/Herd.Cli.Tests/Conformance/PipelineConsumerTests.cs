using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Herd.Cli.Ci;
using Herd.Testing;
using Json.Schema;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace Herd.Cli.Tests.Conformance;

/// <summary>
/// Every pipeline <c>herd ci init</c> writes, checked by what its CI checks it with: actionlint for the GitHub workflow,
/// GitLab's CI JSON schema for .gitlab-ci.yml, and shellcheck for the shell of every step of all three.
/// </summary>
public sealed partial class PipelineConsumerTests : IDisposable
{
    private readonly TempDirectory _temp = new("herd-pipeline-lint");

    [Fact]
    public async Task actionlint_finds_nothing_in_the_github_workflow()
    {
        var workflow = _temp.Combine(".github", "workflows", "herd.yml");
        Directory.CreateDirectory(Path.GetDirectoryName(workflow)!);
        await File.WriteAllTextAsync(workflow, Pipelines.Pipeline(CiSystem.GitHub, 4));

        var lint = await Consumers.ActionlintAsync(workflow);

        lint.ExitCode.ShouldBe(0, lint.ToString());
        JsonNode.Parse(lint.Stdout)!.AsArray().ShouldBeEmpty(lint.Stdout);
    }

    /// <summary>
    /// The first major of each action that runs on Node 24 (GitHub retired Node 20 for actions), and of
    /// codeql-action after v3's deprecation (December 2026), from each action's release notes.
    /// </summary>
    [Fact]
    public void The_github_workflow_pins_no_action_on_node_20_nor_a_deprecated_codeql_action()
    {
        var minimum = new Dictionary<string, int>
        {
            ["actions/checkout"] = 5,
            ["actions/setup-dotnet"] = 5,
            ["actions/upload-artifact"] = 6,
            ["actions/download-artifact"] = 7,
            ["github/codeql-action/upload-sarif"] = 4,
        };
        var uses = UsesLine().Matches(Pipelines.Pipeline(CiSystem.GitHub, 4)).Select(m => (Action: m.Groups["action"].Value, Major: int.Parse(m.Groups["major"].Value, CultureInfo.InvariantCulture))).ToArray();

        uses.ShouldNotBeEmpty();
        uses.ShouldAllBe(u => minimum.ContainsKey(u.Action), "every action the workflow uses has its runtime checked here");
        uses.ShouldAllBe(u => u.Major >= minimum[u.Action]);
    }

    [Fact]
    public void GitLabs_CI_schema_accepts_the_gitlab_pipeline()
    {
        var schema = JsonSchema.FromText(File.ReadAllText(Consumers.GitLabCiSchema), new BuildOptions { SchemaRegistry = new SchemaRegistry() });
        var pipeline = ToJson(Yaml(Pipelines.Pipeline(CiSystem.GitLab, 4)));

        using var doc = JsonDocument.Parse(pipeline!.ToJsonString());
        var result = schema.Evaluate(doc.RootElement, new EvaluationOptions { OutputFormat = OutputFormat.List });

        result.IsValid.ShouldBeTrue(string.Join("\n", (result.Details ?? []).Where(d => d.Errors is not null).SelectMany(d => d.Errors!.Select(e => $"{d.InstanceLocation}: {e.Value}")).Take(10)));
    }

    [Theory]
    [InlineData(CiSystem.GitHub)]
    [InlineData(CiSystem.GitLab)]
    [InlineData(CiSystem.Jenkins)]
    public async Task shellcheck_finds_nothing_in_any_step_of_the_pipeline(CiSystem system)
    {
        var text = Pipelines.Pipeline(system, 4);
        var scripts = ShellSteps(system, text).ToArray();
        scripts.Length.ShouldBeGreaterThanOrEqualTo(2);

        foreach (var (name, script) in scripts)
        {
            // GitHub expressions are substituted before the shell runs: a plain word stands in for them
            var check = await Consumers.RunAsync("shellcheck", ["--shell", system == CiSystem.Jenkins ? "sh" : "bash", "-"], stdin: GitHubExpression().Replace(script, "GHEXPR"));
            check.ExitCode.ShouldBe(0, $"{system} step '{name}':\n{script}\n{check}");
        }
    }

    /// <summary>The shell each step runs: GitHub <c>run:</c>, GitLab <c>before_script</c> + <c>script</c> (one shell), Jenkins <c>sh</c>.</summary>
    private static IEnumerable<(string Name, string Script)> ShellSteps(CiSystem system, string text)
    {
        switch (system)
        {
            case CiSystem.GitHub:
                foreach (var (job, node) in (YamlMappingNode)Yaml(text)["jobs"])
                    foreach (var step in ((YamlSequenceNode)((YamlMappingNode)node)["steps"]).Cast<YamlMappingNode>())
                        if (step.Children.TryGetValue("run", out var run))
                            yield return ($"{job}: {(step.Children.TryGetValue("name", out var n) ? n : "run")}", ((YamlScalarNode)run).Value!);
                break;
            case CiSystem.GitLab:
                var root = Yaml(text);
                var before = Lines((YamlMappingNode)root["default"], "before_script");
                foreach (var (job, node) in root.Children.Where(kv => kv.Value is YamlMappingNode m && m.Children.ContainsKey("script")))
                    yield return (job.ToString(), string.Join("\n", before.Concat(Lines((YamlMappingNode)node, "script"))));
                break;
            default:
                foreach (Match m in JenkinsSh().Matches(text))
                    yield return ($"sh at {m.Index}", m.Groups["long"].Success ? m.Groups["long"].Value : m.Groups["short"].Value);
                break;
        }
    }

    private static IEnumerable<string> Lines(YamlMappingNode job, string key) =>
        job.Children.TryGetValue(key, out var v) ? ((YamlSequenceNode)v).Select(l => ((YamlScalarNode)l).Value!) : [];

    private static YamlMappingNode Yaml(string text)
    {
        var stream = new YamlStream();
        stream.Load(new StringReader(text));
        return (YamlMappingNode)stream.Documents[0].RootNode;
    }

    /// <summary>YAML 1.2 core schema to JSON: plain scalars that are numbers, booleans or null become those.</summary>
    private static JsonNode? ToJson(YamlNode node) => node switch
    {
        YamlMappingNode map => new JsonObject(map.Children.Select(kv => KeyValuePair.Create(((YamlScalarNode)kv.Key).Value!, ToJson(kv.Value)))),
        YamlSequenceNode seq => new JsonArray(seq.Children.Select(ToJson).ToArray()),
        YamlScalarNode { Style: ScalarStyle.Plain } s when long.TryParse(s.Value, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var n) => JsonValue.Create(n),
        YamlScalarNode { Style: ScalarStyle.Plain, Value: "true" or "false" } s => JsonValue.Create(s.Value == "true"),
        YamlScalarNode { Style: ScalarStyle.Plain, Value: null or "" or "~" or "null" } => null,
        YamlScalarNode s => JsonValue.Create(s.Value),
        _ => throw new NotSupportedException(node.NodeType.ToString()),
    };

    [GeneratedRegex(@"uses:\s*(?<action>[\w./-]+)@v(?<major>\d+)")]
    private static partial Regex UsesLine();

    [GeneratedRegex(@"\$\{\{.*?\}\}")]
    private static partial Regex GitHubExpression();

    [GeneratedRegex(@"\bsh\s+'''(?<long>.*?)'''|\bsh\s+'(?<short>[^'\n]*)'", RegexOptions.Singleline)]
    private static partial Regex JenkinsSh();

    public void Dispose() => _temp.Dispose();
}
