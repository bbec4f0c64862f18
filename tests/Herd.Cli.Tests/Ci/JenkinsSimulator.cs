using System.Text.RegularExpressions;

namespace Herd.Cli.Tests.Ci;

/// <summary>
/// Runs a declarative Jenkinsfile far enough to prove a generated one works. It reads the Groovy as text: the
/// <c>environment</c> block (literals, <c>credentials('id')</c>, <c>"${env.X}"</c>), then every step in the order it
/// is written — <c>sh</c> (run with <c>sh -xe</c>, as Jenkins does), <c>stash</c>/<c>unstash</c>,
/// <c>archiveArtifacts</c>, <c>junit</c>, <c>recordIssues(tools: [sarif(…)])</c> — with the stages of a
/// <c>parallel</c> block one after another. A stage with its own <c>agent any</c> gets a workspace of its own (another
/// agent: only stashes travel); <c>withEnv(["PATH+X=dir"])</c> puts dir before PATH for the steps inside it. A failed
/// step inside <c>catchError</c> marks the build failed and the pipeline goes on; any other failed step skips what
/// follows except <c>post { always { … } }</c>, as in Jenkins.
/// </summary>
public sealed partial class JenkinsSimulator(CiSandbox sandbox, IReadOnlyDictionary<string, string> credentials)
{
    private readonly Dictionary<string, string> _stashes = [];

    public bool StoppedBeforeReports { get; private set; }

    /// <value>The workspace of the last stage that ran on an agent (the merge).</value>
    public string Workspace { get; private set; } = "";

    /// <summary>Each stage's own workspace, by stage name, for the stages that declare an agent.</summary>
    public Dictionary<string, string> Workspaces { get; } = [];

    public bool Succeeded { get; private set; } = true;

    /// <summary>The files each publisher step was pointed at, and whether they were there.</summary>
    public List<(string Step, string Pattern)> Published { get; } = [];

    public List<string> StagesRun { get; } = [];

    public async Task RunAsync(string jenkinsfile, bool stopBeforeReports)
    {
        var text = await File.ReadAllTextAsync(jenkinsfile);
        var env = sandbox.BaseEnvironment();
        env["JENKINS_URL"] = "http://jenkins.invalid/";
        env["BUILD_NUMBER"] = "7";
        env["WORKSPACE"] = Workspace;
        foreach (Match m in EnvironmentLine().Matches(Block(text, "environment")))
        {
            var value = m.Groups["cred"].Success ? credentials[m.Groups["cred"].Value]
                : m.Groups["sq"].Success ? m.Groups["sq"].Value
                : GroovyInterpolation().Replace(m.Groups["dq"].Value, g => env.GetValueOrDefault(g.Groups[1].Value, ""));
            env[m.Groups["name"].Value] = value;
        }

        var always = Ranges(text, "always {");
        var caught = Ranges(text, "catchError(");
        var agents = StageAgents(text);
        var withEnv = WithEnvRanges(text);
        if (!text.Contains("agent none", StringComparison.Ordinal))
            Workspace = sandbox.NewWorkspace("jenkins");
        var failed = false;
        foreach (Match step in Step().Matches(text))
        {
            var inAlways = always.Any(r => step.Index > r.Start && step.Index < r.End);
            if (failed && !inAlways)
                continue;
            if (step.Groups["stage"].Success)
            {
                var stage = step.Groups["stage"].Value;
                StagesRun.Add(stage);
                if (agents.Contains(stage))
                    Workspace = Workspaces[stage] = sandbox.NewWorkspace("jenkins-" + stage);
                continue;
            }
            if (step.Groups["sh"].Success)
            {
                var script = Dedent(step.Groups["sh"].Value);
                var lines = script.Split('\n');
                var cut = Array.FindIndex(lines, l => l.Contains("herd report", StringComparison.Ordinal) || l.Contains("herd gate", StringComparison.Ordinal));
                if (stopBeforeReports && cut >= 0)
                {
                    script = string.Join("\n", lines[..cut]);
                    StoppedBeforeReports = true;
                }
                var stepEnv = new Dictionary<string, string>(env, StringComparer.Ordinal);
                foreach (var (start, end, dir) in withEnv.Where(r => step.Index > r.Start && step.Index < r.End))
                    stepEnv["PATH"] = GroovyInterpolation().Replace(dir, g => env.GetValueOrDefault(g.Groups[1].Value, "")) + ":" + stepEnv["PATH"];
                var run = await sandbox.ShellAsync("jenkins", StagesRun.LastOrDefault() ?? "sh", script, Workspace, stepEnv, "sh -xe");
                if (run.ExitCode != 0)
                {
                    // catchError: the build (and stage) are marked failed, and the pipeline goes on
                    failed |= !caught.Any(r => step.Index > r.Start && step.Index < r.End);
                    Succeeded = false;
                }
                if (StoppedBeforeReports)
                    return;
                continue;
            }
            if (step.Groups["stash"].Success)
            {
                var store = Path.Combine(sandbox.Artifacts, "jenkins-stash", step.Groups["stash"].Value);
                var prefix = step.Groups["includes"].Value.Replace("/**", "", StringComparison.Ordinal);
                if (Directory.Exists(Path.Combine(Workspace, prefix)))
                    CiSandbox.CopyDirectory(Path.Combine(Workspace, prefix), Path.Combine(store, prefix));
                _stashes[step.Groups["stash"].Value] = store;
                continue;
            }
            if (step.Groups["unstash"].Success)
            {
                if (_stashes.TryGetValue(step.Groups["unstash"].Value, out var store) && Directory.Exists(store))
                    CiSandbox.CopyDirectory(store, Workspace);
                else
                    Succeeded = false; // inside catchError: the build is marked failed and the pipeline goes on
                continue;
            }
            var publisher = step.Groups["archive"].Success ? ("archiveArtifacts", step.Groups["archive"].Value)
                : step.Groups["junit"].Success ? ("junit", step.Groups["junit"].Value)
                : ("recordIssues/sarif", step.Groups["sarif"].Value);
            Published.Add(publisher);
        }
    }

    /// <summary>The text between the braces of the first <c>name {</c>.</summary>
    private static string Block(string text, string name)
    {
        var start = text.IndexOf(name + " {", StringComparison.Ordinal);
        var open = text.IndexOf('{', start);
        return text[(open + 1)..Matching(text, open)];
    }

    /// <summary>The blocks that open with <paramref name="opening"/> (up to their first brace) and end at its match.</summary>
    private static List<(int Start, int End)> Ranges(string text, string opening)
    {
        var list = new List<(int, int)>();
        var i = 0;
        while ((i = text.IndexOf(opening, i, StringComparison.Ordinal)) >= 0)
        {
            var open = text.IndexOf('{', i);
            list.Add((open, Matching(text, open)));
            i = open + 1;
        }
        return list;
    }

    /// <summary>The stages whose own block (not a nested stage's) declares <c>agent any</c>.</summary>
    private static HashSet<string> StageAgents(string text)
    {
        var stages = new HashSet<string>(StringComparer.Ordinal);
        foreach (Match m in StageOpening().Matches(text))
        {
            var open = text.IndexOf('{', m.Index + m.Length - 1);
            var body = text[(open + 1)..Matching(text, open)];
            var nested = body.IndexOf("stage(", StringComparison.Ordinal);
            var own = nested < 0 ? body : body[..nested];
            if (own.Contains("agent any", StringComparison.Ordinal))
                stages.Add(m.Groups[1].Value);
        }
        return stages;
    }

    /// <summary>Each <c>withEnv(["PATH+NAME=dir"]) { … }</c> block and the directory it prepends to PATH.</summary>
    private static List<(int Start, int End, string Dir)> WithEnvRanges(string text) =>
        WithEnvPath().Matches(text).Select(m =>
        {
            var open = text.IndexOf('{', m.Index + m.Length - 1);
            return (open, Matching(text, open), m.Groups["dir"].Value);
        }).ToList();

    private static int Matching(string text, int open)
    {
        var depth = 0;
        for (var i = open; i < text.Length; i++)
        {
            if (string.CompareOrdinal(text, i, "'''", 0, 3) == 0)
            {
                i = text.IndexOf("'''", i + 3, StringComparison.Ordinal) + 2; // braces inside shell text do not count
                continue;
            }
            if (text[i] == '"')
            {
                i = text.IndexOf('"', i + 1); // nor inside a Groovy string ("${env.HOME}")
                continue;
            }
            if (text[i] == '{')
                depth++;
            else if (text[i] == '}' && --depth == 0)
                return i;
        }
        throw new FormatException("unbalanced braces in the Jenkinsfile");
    }

    private static string Dedent(string script)
    {
        var lines = script.Split('\n').SkipWhile(string.IsNullOrWhiteSpace).ToArray();
        var indent = lines.Where(l => l.Trim().Length > 0).Select(l => l.Length - l.TrimStart().Length).DefaultIfEmpty(0).Min();
        return string.Join("\n", lines.Select(l => l.Length >= indent ? l[indent..] : l.TrimStart()));
    }

    [GeneratedRegex("""^\s*(?<name>[A-Z_][A-Z0-9_]*)\s*=\s*(?:credentials\('(?<cred>[^']+)'\)|'(?<sq>[^']*)'|"(?<dq>[^"]*)")""", RegexOptions.Multiline)]
    private static partial Regex EnvironmentLine();

    [GeneratedRegex(@"stage\('([^']+)'\)\s*\{")]
    private static partial Regex StageOpening();

    [GeneratedRegex("""withEnv\(\["PATH\+[A-Z_]+=(?<dir>[^"]*)"\]\)\s*\{""")]
    private static partial Regex WithEnvPath();

    [GeneratedRegex(@"\$\{env\.([A-Za-z_][A-Za-z0-9_]*)\}")]
    private static partial Regex GroovyInterpolation();

    [GeneratedRegex("""stage\('(?<stage>[^']+)'\)|\bsh\s+'''(?<sh>.*?)'''|\bsh\s+'(?<sh>[^'\n]*)'|\bstash\s+name:\s*'(?<stash>[^']+)',\s*includes:\s*'(?<includes>[^']+)'|\bunstash\s+'(?<unstash>[^']+)'|\barchiveArtifacts\s+artifacts:\s*'(?<archive>[^']+)'|\bjunit\s+testResults:\s*'(?<junit>[^']+)'|recordIssues\(tools:\s*\[sarif\(pattern:\s*'(?<sarif>[^']+)'""", RegexOptions.Singleline)]
    private static partial Regex Step();
}
