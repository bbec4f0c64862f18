using System.Globalization;
using System.Text;
using Herd.Agent;

namespace Herd.Cli.Ci;

/// <summary>
/// <c>herd ci init github|gitlab|jenkins [--shards N] [--force] [--dir DIR]</c>: writes a ready pipeline (issue #11
/// item 5; docs/ci.md) plus the review prompt and findings schema it reads, which are never overwritten.
/// </summary>
public static class CiCommand
{
    private static readonly OptionSpec Shards = new(["--shards"], Arity.Value, $"Number of parallel shard jobs (default {Pipelines.DefaultShards}; a GitHub matrix allows 256)", "n");
    private static readonly OptionSpec Force = new(["--force"], Arity.Flag, "Replace an existing pipeline file (the prompt and schema are always kept)");
    private static readonly OptionSpec Dir = new(["--dir"], Arity.Value, "Repository root to write into (default: the current directory)", "dir");
    private static readonly OptionSpec Help = new(["-h", "--help"], Arity.Flag, "Show this help");

    private const string Usage = "herd ci init github|gitlab|jenkins [--shards N] [--force] [--dir DIR]";

    private const string Description = """
        Write a ready CI pipeline that reviews the repository with herd run in N shards, merges them with herd merge,
        publishes the reports in the CI's own UI (GitHub code scanning and step summary; GitLab Code Quality and JUnit;
        Jenkins JUnit and Warnings NG) and fails on the gate. Also writes .herd/review.md (the prompt) and
        .herd/findings.schema.json (the findings shape) when they do not exist yet.
        """;

    private const string Footer = """
        Files: .github/workflows/herd.yml, .gitlab-ci.yml or Jenkinsfile. Exit codes: 0 written, 255 usage (unknown CI,
        bad --shards, pipeline exists without --force) or a file that could not be written. See docs/ci.md.
        """;

    public static int Run(string[] argv, TextWriter stdout, TextWriter stderr, string cwd) =>
        ErrorEdge.Run(HerdCommand.Ci, stderr, () => RunCore(argv, stdout, stderr, cwd));

    /// <summary>What the pipeline reads that herd ci init cannot write: the API key and where Herd's source is.</summary>
    private static string Settings(CiSystem system) => system switch
    {
        CiSystem.GitHub => "Set the secret ANTHROPIC_API_KEY and, unless herd is on the runner, the repository variable HERD_REPO (git URL of Herd's source)",
        CiSystem.GitLab => "Set the CI/CD variables ANTHROPIC_API_KEY (masked) and, unless herd is in the image, HERD_REPO (git URL of Herd's source)",
        _ => "Add the secret-text credential 'anthropic-api-key' and, unless herd is on the agents, set HERD_REPO in the Jenkinsfile (git URL of Herd's source)",
    };

    private static int RunCore(string[] argv, TextWriter stdout, TextWriter stderr, string cwd)
    {
        var args = CommandLineParser.Parse(argv, [Shards, Force, Dir, Help], ExitCodes.For(HerdCommand.Ci));
        if (args.Has(Help) || args.Positionals.Count == 0)
        {
            (args.Has(Help) ? stdout : stderr).Write(CommandLineParser.FormatHelp(Usage, Description, [Shards, Force, Dir, Help], Footer + "\n"));
            return args.Has(Help) ? 0 : ExitCodes.For(HerdCommand.Ci).Usage;
        }
        if (args.Positionals[0] != "init")
            throw new HerdUsageException($"Error: unknown herd ci command '{args.Positionals[0]}'. Use: {Usage}");
        if (args.Positionals.Count != 2)
            throw new HerdUsageException($"Error: herd ci init needs one CI system: github, gitlab or jenkins. Usage: {Usage}");
        var system = args.Positionals[1] switch
        {
            "github" => CiSystem.GitHub,
            "gitlab" => CiSystem.GitLab,
            "jenkins" => CiSystem.Jenkins,
            var other => throw new HerdUsageException($"Error: unknown CI system '{other}'. Use github, gitlab or jenkins."),
        };
        var shards = Pipelines.DefaultShards;
        if (args.Value(Shards) is { } text && (!int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out shards) || shards < 1 || shards > 256))
            throw new HerdUsageException($"Error: --shards '{text}' must be a whole number from 1 to 256 (a GitHub matrix holds at most 256 jobs).");
        var root = Path.GetFullPath(args.Value(Dir) ?? ".", cwd);
        if (!Directory.Exists(root))
            throw new HerdUsageException($"Error: --dir '{root}' does not exist. Pass the repository root.");

        var files = Pipelines.For(system, shards);
        var pipeline = Path.Combine(root, files[0].Path);
        if (File.Exists(pipeline) && !args.Has(Force))
            throw new HerdUsageException($"Error: '{files[0].Path}' already exists. Pass --force to replace it.");
        foreach (var file in files)
        {
            var path = Path.Combine(root, file.Path);
            if (File.Exists(path) && !file.Overwrite)
            {
                stderr.WriteLine($"herd ci: kept {file.Path} (it exists; the pipeline reads it).");
                continue;
            }
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            File.WriteAllText(path, file.Text, new UTF8Encoding(false));
            stdout.WriteLine(file.Path);
        }
        stderr.WriteLine($"herd ci: wrote a {args.Positionals[1]} pipeline with {shards} shard(s). {Settings(system)}; see docs/ci.md.");
        return 0;
    }
}
