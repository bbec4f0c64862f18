using System.Diagnostics;
using System.Text;
using System.Text.Json.Nodes;

namespace Herd.Testing;

/// <summary>What a finished herd process left behind.</summary>
public sealed record HerdRun(int ExitCode, string Stdout, string Stderr)
{
    /// <summary>stdout as NDJSON: every line that starts with '{'.</summary>
    public IReadOnlyList<JsonObject> JsonLines => Stdout.Split('\n')
        .Where(l => l.StartsWith('{'))
        .Select(l => (JsonObject)JsonNode.Parse(l)!)
        .ToList();

    /// <summary>stdout as one JSON object (json output).</summary>
    public JsonObject Json => (JsonObject)JsonNode.Parse(Stdout)!;

    /// <summary>What assertion messages show: never parses, so a failed run is reported as it is.</summary>
    public override string ToString() => $"exit {ExitCode}; stderr: {Stderr}; stdout: {(Stdout.Length > 2000 ? Stdout[..2000] + "…" : Stdout)}";
}

/// <summary>
/// Runs the real <c>herd</c> as a child process, the way users do. By default the JIT build next to the tests
/// (<c>herd.dll</c>); set HERD_TEST_BINARY to a published (e.g. Native AOT) binary to run the same tests against it.
/// </summary>
public sealed class HerdProcess
{
    private readonly Dictionary<string, string?> _environment = new(StringComparer.Ordinal);

    public HerdProcess(Uri? modelServer, string workingDirectory, string configDirectory)
    {
        WorkingDirectory = workingDirectory;
        _environment["ANTHROPIC_BASE_URL"] = modelServer?.ToString().TrimEnd('/');
        _environment["ANTHROPIC_API_KEY"] = "sk-ant-test-secret-0123456789";
        _environment["HERD_CONFIG_DIR"] = configDirectory;
        // The user's memory file (CLAUDE.md) is read from here; a test never sees the machine's own.
        _environment["CLAUDE_CONFIG_DIR"] = configDirectory;
        _environment["HERD_RETRY_BASE_MS"] = "5";
        _environment["ANTHROPIC_MODEL"] = null;
        _environment["HERD_PRICES"] = null;
        _environment["CLAUDECODE"] = null;
    }

    public string WorkingDirectory { get; }

    public HerdProcess WithEnvironment(string name, string? value)
    {
        _environment[name] = value;
        return this;
    }

    /// <summary>A program (and its arguments) that starts herd, such as <c>setpriv … --</c>; empty: herd starts directly.</summary>
    public IReadOnlyList<string> Launcher { get; init; } = [];

    public static string BinaryPath => Environment.GetEnvironmentVariable("HERD_TEST_BINARY") is { Length: > 0 } bin
        ? bin
        : Path.Combine(AppContext.BaseDirectory, "herd.dll");

    /// <summary>Starts herd without waiting; the caller reads, signals and waits.</summary>
    public Process Start(IEnumerable<string> args, bool redirectStdin = true)
    {
        var binary = BinaryPath;
        var program = binary.EndsWith(".dll", StringComparison.Ordinal) ? "dotnet" : binary;
        var info = new ProcessStartInfo
        {
            FileName = Launcher.Count > 0 ? Launcher[0] : program,
            WorkingDirectory = WorkingDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = redirectStdin,
            StandardOutputEncoding = Encoding.UTF8,
            StandardErrorEncoding = Encoding.UTF8,
            UseShellExecute = false,
        };
        foreach (var a in Launcher.Skip(1))
            info.ArgumentList.Add(a);
        if (Launcher.Count > 0)
            info.ArgumentList.Add(program);
        if (binary.EndsWith(".dll", StringComparison.Ordinal))
            info.ArgumentList.Add(binary);
        foreach (var a in args)
            info.ArgumentList.Add(a);
        foreach (var (k, v) in _environment)
        {
            if (v is null)
                info.Environment.Remove(k);
            else
                info.Environment[k] = v;
        }
        return Process.Start(info)!;
    }

    /// <summary>Runs herd to completion with the given stdin (null: stdin closed at once).</summary>
    public async Task<HerdRun> RunAsync(IEnumerable<string> args, string? stdin = null, TimeSpan? timeout = null)
    {
        using var process = Start(args);
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        try
        {
            if (stdin is not null)
                await process.StandardInput.WriteAsync(stdin).ConfigureAwait(false);
            process.StandardInput.Close();
        }
        catch (IOException)
        {
            // herd may exit before reading all of stdin (e.g. the 10 MB cap); that is what some tests check.
        }
        using var cts = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(60));
        try
        {
            await process.WaitForExitAsync(cts.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"herd {string.Join(' ', args)} did not finish in time. stderr: {await stderr.ConfigureAwait(false)}");
        }
        return new HerdRun(process.ExitCode, await stdout.ConfigureAwait(false), await stderr.ConfigureAwait(false));
    }

    public Task<HerdRun> RunAsync(params string[] args) => RunAsync(args, null, null);
}
