using YamlDotNet.RepresentationModel;

namespace Herd.Cli.Tests.Ci;

/// <summary>
/// Runs a .gitlab-ci.yml as GitLab Runner would, far enough to prove a generated pipeline works: stages in order,
/// <c>parallel: N</c> as N jobs with CI_NODE_INDEX/CI_NODE_TOTAL (1-based), <c>default:before_script</c> and
/// <c>script</c> in one bash with <c>set -eo pipefail</c>, <c>when: always</c>, each job on a fresh checkout into which
/// the artifacts of its <c>needs</c> are extracted at their paths, and <c>artifacts: when/paths/reports</c> collected.
/// </summary>
public sealed class GitLabSimulator(CiSandbox sandbox, IReadOnlyDictionary<string, string> variables)
{
    private static readonly HashSet<string> Reserved = new(StringComparer.Ordinal) { "stages", "variables", "default", "workflow", "include", "image", "services", "before_script", "after_script", "cache" };

    private readonly Dictionary<string, List<string>> _artifacts = [];

    public bool StoppedBeforeReports { get; private set; }

    public Dictionary<string, string> Workspaces { get; } = [];

    public Dictionary<string, bool> JobSucceeded { get; } = [];

    /// <summary>artifacts:reports of each job: report type → file path in the job's workspace.</summary>
    public Dictionary<string, Dictionary<string, string>> Reports { get; } = [];

    public YamlMappingNode Pipeline { get; private set; } = null!;

    public async Task RunAsync(string path, bool stopBeforeReports)
    {
        var yaml = new YamlStream();
        using (var reader = new StreamReader(path))
            yaml.Load(reader);
        Pipeline = (YamlMappingNode)yaml.Documents[0].RootNode;
        var stages = Sequence(Pipeline, "stages");
        var globals = Map(Pipeline, "variables");
        var defaults = Pipeline.Children.TryGetValue("default", out var d) ? (YamlMappingNode)d : new YamlMappingNode();
        var jobs = Pipeline.Children
            .Select(kv => (Name: ((YamlScalarNode)kv.Key).Value!, Node: kv.Value))
            .Where(j => !Reserved.Contains(j.Name) && !j.Name.StartsWith('.'))
            .ToList();
        var failedSoFar = false;
        foreach (var stage in stages)
        {
            foreach (var (name, node) in jobs.Where(j => GitHubActionsSimulator.Scalar((YamlMappingNode)j.Node, "stage") == stage))
            {
                var job = (YamlMappingNode)node;
                var when = GitHubActionsSimulator.Scalar(job, "when") ?? "on_success";
                if (failedSoFar && when != "always")
                    continue;
                var parallel = int.TryParse(GitHubActionsSimulator.Scalar(job, "parallel"), out var n) ? n : 0;
                var instances = parallel == 0 ? [(Name: name, Index: 0)] : Enumerable.Range(1, parallel).Select(i => (Name: $"{name} {i}/{parallel}", Index: i)).ToArray();
                foreach (var (instance, i) in instances)
                {
                    var ok = await RunJobAsync(instance, name, job, defaults, globals, i, parallel, stopBeforeReports);
                    JobSucceeded[instance] = ok;
                    failedSoFar |= !ok;
                    if (StoppedBeforeReports)
                        return;
                }
            }
        }
    }

    private async Task<bool> RunJobAsync(string instance, string name, YamlMappingNode job, YamlMappingNode defaults, Dictionary<string, string> globals, int index, int total, bool stopBeforeReports)
    {
        var ws = sandbox.NewWorkspace(instance);
        Workspaces[instance] = ws;
        // Artifacts of the jobs named in needs (all earlier jobs without needs) are extracted at their paths.
        var needs = Sequence(job, "needs");
        foreach (var (from, dirs) in _artifacts.Where(a => needs.Length == 0 || needs.Any(n => a.Key == n || a.Key.StartsWith(n + " ", StringComparison.Ordinal))))
        {
            foreach (var dir in dirs)
                CiSandbox.CopyDirectory(dir, ws);
        }

        var lines = new List<string> { "set -eo pipefail" };
        var before = job.Children.ContainsKey("before_script") ? Sequence(job, "before_script") : Sequence(defaults, "before_script");
        lines.AddRange(before);
        var script = Sequence(job, "script");
        var cut = Array.FindIndex(script, l => l.Contains("herd report", StringComparison.Ordinal) || l.Contains("herd gate", StringComparison.Ordinal));
        if (stopBeforeReports && cut >= 0)
        {
            script = script[..cut];
            StoppedBeforeReports = true;
        }
        lines.AddRange(script);

        var env = sandbox.BaseEnvironment();
        env["GITLAB_CI"] = "true";
        env["CI_PROJECT_DIR"] = ws;
        env["CI_JOB_NAME"] = instance;
        env["CI_PIPELINE_ID"] = "4242";
        if (total > 0)
        {
            env["CI_NODE_INDEX"] = index.ToString(System.Globalization.CultureInfo.InvariantCulture);
            env["CI_NODE_TOTAL"] = total.ToString(System.Globalization.CultureInfo.InvariantCulture);
        }
        foreach (var (k, v) in globals)
            env[k] = v;
        foreach (var (k, v) in Map(job, "variables"))
            env[k] = v;
        foreach (var (k, v) in variables)
            env[k] = v;
        var run = await sandbox.ShellAsync(instance, name, string.Join("\n", lines), ws, env, "bash");
        var ok = run.ExitCode == 0;

        if (job.Children.TryGetValue("artifacts", out var a) && a is YamlMappingNode artifacts)
        {
            var when = GitHubActionsSimulator.Scalar(artifacts, "when") ?? "on_success";
            if (ok || when is "always" or "on_failure")
            {
                var store = Path.Combine(sandbox.Artifacts, "gitlab", instance.Replace('/', '-'));
                foreach (var p in Sequence(artifacts, "paths"))
                {
                    var source = Path.Combine(ws, p);
                    if (Directory.Exists(source))
                        CiSandbox.CopyDirectory(source, Path.Combine(store, p.TrimEnd('/')));
                    else if (File.Exists(source))
                    {
                        Directory.CreateDirectory(Path.GetDirectoryName(Path.Combine(store, p))!);
                        File.Copy(source, Path.Combine(store, p), overwrite: true);
                    }
                }
                if (!_artifacts.TryGetValue(instance, out var list))
                    _artifacts[instance] = list = [];
                list.Add(store);
                if (artifacts.Children.TryGetValue("reports", out var r) && r is YamlMappingNode reports)
                    Reports[instance] = reports.Children.ToDictionary(kv => ((YamlScalarNode)kv.Key).Value!, kv => Path.Combine(ws, ((YamlScalarNode)kv.Value).Value!));
            }
        }
        return ok;
    }

    private static string[] Sequence(YamlMappingNode node, string key) => !node.Children.TryGetValue(key, out var v) ? []
        : v is YamlSequenceNode seq ? seq.Children.Select(c => ((YamlScalarNode)c).Value!).ToArray()
        : [((YamlScalarNode)v).Value!];

    private static Dictionary<string, string> Map(YamlMappingNode node, string key) =>
        node.Children.TryGetValue(key, out var v) && v is YamlMappingNode map
            ? map.Children.ToDictionary(kv => ((YamlScalarNode)kv.Key).Value!, kv => ((YamlScalarNode)kv.Value).Value ?? "")
            : [];
}
