using System.Collections;
using Herd.Fleet.Engines;

namespace Herd.Cli.Tests.Engines;

/// <summary>
/// The pinned agent CLIs the engine tests run for real (.ci/run installs them under <c>$HERD_CLIS</c>, default
/// /opt/herd-clis, with tests/install-clis.sh). A missing CLI fails the test with the command that installs it: these
/// tests never skip silently.
/// </summary>
public static class Clis
{
    public const string ClaudeVersion = "2.1.332";
    public const string CodexVersion = "0.169.0";
    public const string GeminiVersion = "0.61.0";

    public const string TestApiKey = "sk-ant-engine-test-secret-4c1d9e";
    public const string TestOpenAiKey = "sk-openai-engine-test-secret-7a2b";

    public static string Require(string name)
    {
        var env = ProcessEnvironment();
        return TaskEngines.FindBinary(name, env) ?? throw new InvalidOperationException(
            $"The `{name}` CLI is not installed: run `bash tests/install-clis.sh` (installs the pinned CLIs under ${TaskEngines.CliPrefixVariable}, default {TaskEngines.DefaultCliPrefix}).");
    }

    /// <summary>
    /// What an engine process starts from in tests: this machine's PATH, a private HOME and CODEX_HOME under
    /// <paramref name="dir"/> (no test touches the real ~/.claude or ~/.codex), and the scripted server's URLs.
    /// </summary>
    public static Dictionary<string, string> Environment(string dir, Uri server)
    {
        var home = Path.Combine(dir, "home");
        var codexHome = Path.Combine(dir, "codex-home");
        Directory.CreateDirectory(home);
        Directory.CreateDirectory(codexHome);
        var env = ProcessEnvironment();
        var url = server.ToString().TrimEnd('/');
        return new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["PATH"] = env.GetValueOrDefault("PATH") ?? "/usr/local/bin:/usr/bin:/bin",
            [TaskEngines.CliPrefixVariable] = env.GetValueOrDefault(TaskEngines.CliPrefixVariable) ?? TaskEngines.DefaultCliPrefix,
            ["HOME"] = home,
            ["ANTHROPIC_BASE_URL"] = url,
            ["ANTHROPIC_API_KEY"] = TestApiKey,
            ["OPENAI_BASE_URL"] = url + "/v1",
            ["OPENAI_API_KEY"] = TestOpenAiKey,
            ["CODEX_HOME"] = codexHome,
        };
    }

    private static Dictionary<string, string> ProcessEnvironment()
    {
        var all = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (DictionaryEntry e in System.Environment.GetEnvironmentVariables())
            all[(string)e.Key] = (string?)e.Value ?? "";
        return all;
    }

    /// <summary>Processes still alive whose command line or environment contains <paramref name="marker"/> (for "no child left behind").</summary>
    public static IReadOnlyList<int> Alive(string marker)
    {
        var found = new List<int>();
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out var pid) || pid == System.Environment.ProcessId)
                continue;
            try
            {
                var cmdline = File.ReadAllText(Path.Combine(dir, "cmdline")).Replace('\0', ' ') + " " + File.ReadAllText(Path.Combine(dir, "environ")).Replace('\0', ' ');
                var stat = File.ReadAllText(Path.Combine(dir, "stat"));
                var state = stat[(stat.LastIndexOf(')') + 2)..][0];
                if (state != 'Z' && cmdline.Contains(marker, StringComparison.Ordinal))
                    found.Add(pid);
            }
            catch (IOException)
            {
            }
            catch (UnauthorizedAccessException)
            {
            }
        }
        return found;
    }
}
