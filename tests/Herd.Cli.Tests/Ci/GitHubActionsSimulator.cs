using System.Text.RegularExpressions;
using YamlDotNet.RepresentationModel;

namespace Herd.Cli.Tests.Ci;

/// <summary>
/// Runs a GitHub Actions workflow on this machine the way a runner would, far enough to prove a generated workflow
/// works: jobs in <c>needs</c> order, a matrix expanded into one job per value, each job on a fresh checkout, every
/// <c>run:</c> step through <c>bash -e</c> with the runner's variables (GITHUB_ACTIONS, GITHUB_ENV, GITHUB_PATH,
/// GITHUB_STEP_SUMMARY, …), <c>${{ matrix.* }}</c> and <c>${{ secrets.* }}</c> substituted, <c>if:</c> honoured, and
/// the actions the templates use played by their documented file behaviour (artifacts copied between jobs). An action
/// it does not know fails the run, so a template that starts using one is noticed.
/// </summary>
public sealed partial class GitHubActionsSimulator(CiSandbox sandbox, IReadOnlyDictionary<string, string> secrets)
{
    /// <summary>Set when the run stopped at the first report step (the herd under test has no `herd report`).</summary>
    public bool StoppedBeforeReports { get; private set; }

    /// <summary>The workspace of each job instance, by job id (matrix jobs as <c>shard(1)</c>).</summary>
    public Dictionary<string, string> Workspaces { get; } = [];

    public Dictionary<string, string> StepSummaries { get; } = [];

    public Dictionary<string, bool> JobSucceeded { get; } = [];

    public YamlMappingNode Workflow { get; private set; } = null!;

    public async Task RunAsync(string workflowPath, bool stopBeforeReports)
    {
        var yaml = new YamlStream();
        using (var reader = new StreamReader(workflowPath))
            yaml.Load(reader);
        Workflow = (YamlMappingNode)yaml.Documents[0].RootNode;
        var workflowEnv = Map(Workflow, "env");
        var jobs = (YamlMappingNode)Workflow["jobs"];
        foreach (var (jobId, jobNode) in Ordered(jobs))
        {
            var job = (YamlMappingNode)jobNode;
            var needs = Scalars(job, "needs");
            var needsFailed = needs.Any(n => JobSucceeded.Where(kv => kv.Key == n || kv.Key.StartsWith(n + "(", StringComparison.Ordinal)).Any(kv => !kv.Value));
            if (needsFailed && !AlwaysRuns(Scalar(job, "if")))
            {
                JobSucceeded[jobId] = false;
                continue;
            }
            var matrix = job.Children.TryGetValue("strategy", out var strategy) && ((YamlMappingNode)strategy).Children.TryGetValue("matrix", out var m)
                ? ((YamlMappingNode)m).Children.ToDictionary(kv => ((YamlScalarNode)kv.Key).Value!, kv => ((YamlSequenceNode)kv.Value).Children.Select(v => ((YamlScalarNode)v).Value!).ToArray())
                : new Dictionary<string, string[]>();
            if (matrix.Count > 1)
                throw new NotSupportedException("the simulator expands a one-axis matrix only");
            var instances = matrix.Count == 0 ? [new Dictionary<string, string>()] : matrix.First().Value.Select(v => new Dictionary<string, string> { [matrix.First().Key] = v }).ToArray();
            foreach (var values in instances)
            {
                var instance = values.Count == 0 ? jobId : $"{jobId}({string.Join(",", values.Values)})";
                var ok = await RunJobAsync(instance, job, workflowEnv, values, stopBeforeReports);
                JobSucceeded[instance] = ok;
                if (StoppedBeforeReports)
                    return;
            }
        }
    }

    private async Task<bool> RunJobAsync(string instance, YamlMappingNode job, Dictionary<string, string> workflowEnv, Dictionary<string, string> matrix, bool stopBeforeReports)
    {
        var ws = sandbox.NewWorkspace(instance);
        Workspaces[instance] = ws;
        var runnerDir = Path.Combine(sandbox.Root, "runner", instance);
        Directory.CreateDirectory(runnerDir);
        var files = new Dictionary<string, string>
        {
            ["GITHUB_ENV"] = Path.Combine(runnerDir, "env"),
            ["GITHUB_PATH"] = Path.Combine(runnerDir, "path"),
            ["GITHUB_STEP_SUMMARY"] = Path.Combine(runnerDir, "step_summary.md"),
            ["GITHUB_OUTPUT"] = Path.Combine(runnerDir, "output"),
        };
        foreach (var f in files.Values)
            File.WriteAllText(f, "");
        StepSummaries[instance] = files["GITHUB_STEP_SUMMARY"];

        var failed = false;
        var steps = (YamlSequenceNode)job["steps"];
        var index = 0;
        foreach (var stepNode in steps.Children.Cast<YamlMappingNode>())
        {
            index++;
            var condition = Scalar(stepNode, "if");
            if (failed && !AlwaysRuns(condition))
                continue;
            var name = Scalar(stepNode, "name") ?? Scalar(stepNode, "uses") ?? $"step {index}";
            if (Scalar(stepNode, "uses") is { } uses)
            {
                if (!Use(uses, Map(stepNode, "with", matrix), ws, instance))
                    failed = true;
                continue;
            }
            var script = Expand(Scalar(stepNode, "run") ?? throw new InvalidOperationException($"step {name} has neither uses nor run"), matrix);
            if (stopBeforeReports && (script.Contains("herd report", StringComparison.Ordinal) || script.Contains("herd gate", StringComparison.Ordinal)))
            {
                StoppedBeforeReports = true;
                return !failed;
            }
            var env = sandbox.BaseEnvironment();
            foreach (var extra in File.ReadAllLines(files["GITHUB_PATH"]).Where(l => l.Length > 0).Reverse())
                env["PATH"] = extra + ":" + env["PATH"];
            env["GITHUB_ACTIONS"] = "true";
            env["GITHUB_WORKSPACE"] = ws;
            env["GITHUB_JOB"] = instance;
            env["RUNNER_TEMP"] = Path.Combine(runnerDir, "tmp");
            Directory.CreateDirectory(env["RUNNER_TEMP"]);
            foreach (var (k, v) in files)
                env[k] = v;
            foreach (var (k, v) in workflowEnv)
                env[k] = Expand(v, matrix);
            foreach (var (k, v) in Map(job, "env", matrix))
                env[k] = v;
            foreach (var line in File.ReadAllLines(files["GITHUB_ENV"]).Where(l => l.Contains('=')))
                env[line[..line.IndexOf('=')]] = line[(line.IndexOf('=') + 1)..];
            foreach (var (k, v) in Map(stepNode, "env", matrix))
                env[k] = v;
            var run = await sandbox.ShellAsync(instance, name, script, ws, env, "bash -e");
            if (run.ExitCode != 0)
                failed = true;
        }
        return !failed;
    }

    /// <summary>Each uploaded SARIF run's automationDetails.id as code scanning records it (the file's own, else the action's category).</summary>
    public List<string> UploadedCategories { get; } = [];

    /// <summary>The actions the templates use, by what they do to files.</summary>
    private bool Use(string uses, Dictionary<string, string> with, string ws, string instance)
    {
        var action = uses[..uses.IndexOf('@')];
        switch (action)
        {
            case "actions/checkout":
            case "actions/setup-dotnet": // the workspace is already a checkout; dotnet is on PATH
                return true;
            case "actions/upload-artifact":
            {
                var paths = with["path"].Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
                var target = Path.Combine(sandbox.Artifacts, "github", with["name"]);
                var present = paths.Where(p => Directory.Exists(Path.Combine(ws, p)) || File.Exists(Path.Combine(ws, p))).ToArray();
                if (present.Length == 0)
                    return with.GetValueOrDefault("if-no-files-found") != "error";
                if (paths.Length == 1 && Directory.Exists(Path.Combine(ws, paths[0])))
                {
                    CiSandbox.CopyDirectory(Path.Combine(ws, paths[0]), target); // one directory: its contents are the artifact's root
                    return true;
                }
                foreach (var p in present)
                {
                    var source = Path.Combine(ws, p);
                    if (Directory.Exists(source))
                        CiSandbox.CopyDirectory(source, Path.Combine(target, p.TrimEnd('/')));
                    else
                    {
                        Directory.CreateDirectory(target);
                        File.Copy(source, Path.Combine(target, Path.GetFileName(p)), overwrite: true);
                    }
                }
                return true;
            }
            case "actions/download-artifact":
            {
                var pattern = new Regex("^" + Regex.Escape(with["pattern"]).Replace("\\*", ".*", StringComparison.Ordinal) + "$");
                var root = Path.Combine(sandbox.Artifacts, "github");
                foreach (var artifact in Directory.GetDirectories(root).Where(d => pattern.IsMatch(Path.GetFileName(d))))
                    CiSandbox.CopyDirectory(artifact, Path.Combine(ws, with["path"], Path.GetFileName(artifact))); // one folder per artifact (no merge-multiple)
                return true;
            }
            case "github/codeql-action/upload-sarif":
            {
                // What code scanning checks on upload: the file exists and is SARIF JSON with runs.
                var path = Path.Combine(ws, with["sarif_file"]);
                if (!File.Exists(path))
                    return false;
                var sarif = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(path));
                // The action's category becomes each run's automationDetails.id, but only where the file has none.
                var category = with.GetValueOrDefault("category") is { Length: > 0 } c ? c.TrimEnd('/') + "/" : null;
                UploadedCategories.AddRange(sarif?["runs"]?.AsArray().Select(r => r?["automationDetails"]?["id"]?.GetValue<string>() ?? category ?? "") ?? []);
                return sarif?["version"]?.GetValue<string>() == "2.1.0" && sarif["runs"] is System.Text.Json.Nodes.JsonArray;
            }
            default:
                throw new NotSupportedException($"[{instance}] the simulator does not know the action {uses}; teach it what the action does to files.");
        }
    }

    private static bool AlwaysRuns(string? condition) => condition switch
    {
        null => false,
        _ when condition.Contains("always()", StringComparison.Ordinal) || condition.Contains("!cancelled()", StringComparison.Ordinal) => true,
        _ when condition.Contains("failure()", StringComparison.Ordinal) => true,
        _ => throw new NotSupportedException($"if: {condition}"),
    };

    private string Expand(string text, Dictionary<string, string> matrix) => Expression().Replace(text, m =>
    {
        var expr = m.Groups[1].Value.Trim();
        if (expr.StartsWith("matrix.", StringComparison.Ordinal))
            return matrix[expr["matrix.".Length..]];
        if (expr.StartsWith("secrets.", StringComparison.Ordinal))
            return secrets.GetValueOrDefault(expr["secrets.".Length..], "");
        // Repository variables: none are set here (herd is already on PATH), so `vars.X || 'default'` is the default.
        if (VarsExpression().Match(expr) is { Success: true } v)
            return v.Groups["default"].Success ? v.Groups["default"].Value : "";
        throw new NotSupportedException($"expression ${{{{ {expr} }}}}");
    });

    [GeneratedRegex(@"^vars\.[A-Za-z_][A-Za-z0-9_]*(?:\s*\|\|\s*'(?<default>[^']*)')?$")]
    private static partial Regex VarsExpression();

    [GeneratedRegex(@"\$\{\{(.*?)\}\}")]
    private static partial Regex Expression();

    private static IEnumerable<(string Id, YamlNode Node)> Ordered(YamlMappingNode jobs)
    {
        var all = jobs.Children.Select(kv => (Id: ((YamlScalarNode)kv.Key).Value!, Node: kv.Value)).ToList();
        var done = new HashSet<string>();
        while (done.Count < all.Count)
        {
            var next = all.First(j => !done.Contains(j.Id) && Scalars((YamlMappingNode)j.Node, "needs").All(done.Contains));
            done.Add(next.Id);
            yield return next;
        }
    }

    public static string? Scalar(YamlMappingNode node, string key) =>
        node.Children.TryGetValue(key, out var v) && v is YamlScalarNode s ? s.Value : null;

    private static string[] Scalars(YamlMappingNode node, string key) => !node.Children.TryGetValue(key, out var v) ? []
        : v is YamlSequenceNode seq ? seq.Children.Select(c => ((YamlScalarNode)c).Value!).ToArray()
        : [((YamlScalarNode)v).Value!];

    private Dictionary<string, string> Map(YamlMappingNode node, string key, Dictionary<string, string>? matrix = null) =>
        node.Children.TryGetValue(key, out var v) && v is YamlMappingNode map
            ? map.Children.ToDictionary(kv => ((YamlScalarNode)kv.Key).Value!, kv => Expand(((YamlScalarNode)kv.Value).Value ?? "", matrix ?? []))
            : [];
}
