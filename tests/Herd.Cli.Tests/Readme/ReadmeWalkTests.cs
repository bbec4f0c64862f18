using System.Diagnostics;
using System.Text;
using System.Text.RegularExpressions;
using Herd.Testing;

namespace Herd.Cli.Tests.Readme;

/// <summary>
/// A newcomer's first hour, automated: every <c>```sh</c> block of README.md runs in order, in one bash session, from a
/// fresh copy of the repository (its tracked and new files, no build output) with an empty HOME, against the scripted
/// model server. Only the API key and base URL are substituted — and the few commands listed in <see cref="Exceptions"/>,
/// each with the reason a test cannot run it as written. A README example that stops working fails this test.
/// </summary>
public sealed partial class ReadmeWalkTests : IAsyncLifetime
{
    /// <summary>
    /// The explicit exceptions: a command (matched by how it starts) and what the walk does instead. Nothing else of the
    /// README is changed. <c>null</c> skips the command.
    /// </summary>
    private static readonly (string Starts, string? Instead, string Why)[] Exceptions =
    [
        // The main job summarizes every C# file; a handful shows it works at a fraction of the cost.
        ("git ls-files 'src/*.cs' | dotnet run", "git ls-files 'src/*.cs' | sed -n 1,4p | dotnet run" + MainJobTail, "a handful of files instead of all (sed reads its whole input: head would end the pipe early and git ls-files would die of SIGPIPE under pipefail)"),
        ("./test", null, "runs the whole test suite, which this test is part of"),
        ("dotnet publish src/Herd.Cli -r linux-x64 -p:PublishAot=true", null, "a Native AOT link takes minutes and needs clang; the JIT build below is walked instead"),
        ("dotnet pack src/Herd.Cli", null, "dotnet tool install --global would change the machine's own tools"),
        ("dotnet tests/Herd.Testing/bin/Release/net10.0/herd-model-server.dll &", "test -f tests/Herd.Testing/bin/Release/net10.0/herd-model-server.dll",
            "the test serves the scripted server itself, at the URL it substitutes; it checks the built server is where the README says"),
        ("export ANTHROPIC_BASE_URL=", "export ANTHROPIC_BASE_URL=$WALK_BASE_URL ANTHROPIC_API_KEY=sk-anything", "the substituted base URL"),
        ("git ls-files '*.py' | herd run", null, "reads fix.md, the reader's own prompt file"),
        ("herd run --tasks tasks.ndjson", null, "reads tasks.ndjson and schema.json, the reader's own files"),
        ("herd run --resume --run-dir .herd/runs/20261127-2213-ab12", null, "an example run id"),
        ("herd report RUN", null, "a synopsis (RUN, FORMAT choices), not a command"),
        ("herd gate RUN", null, "a synopsis (RUN), not a command"),
        ("herd run --gate", null, "a synopsis (…), not a command"),
        ("herd run --shard auto", null, "a synopsis (…), not a command"),
        ("herd merge herd-merged herd-shards/*/", "herd merge herd-merged herd-shards/*/ || test $? -eq 1", "only one of the four shard jobs runs here: the merge names the three missing shards and exits 1"),
        ("HERD_STORE=$(tests/postgres.sh)", "test -n \"$HERD_TEST_PG\" && export HERD_STORE=$HERD_TEST_PG", "the tests' own PostgreSQL (HERD_TEST_PG) instead of installing one"),
        ("cat logs.txt | herd -p", null, "reads logs.txt, the reader's own file"),
        ("herd -p \"Classify\" --json-schema", null, "the scripted server's default reply holds no structured output"),
    ];

    private const string MainJobTail = " --project src/Herd.Cli -c Release -- run -j 8 --prompt 'Summarize {} in 3 bullets' --tools Read --allowedTools Read";

    private readonly TempDirectory _temp = new("herd-readme");
    private ScriptedModelServer _server = null!;

    public async Task InitializeAsync() => _server = await ScriptedModelServer.StartAsync();

    public async Task DisposeAsync()
    {
        await _server.DisposeAsync();
        _temp.Dispose();
    }

    [Fact]
    [Trait("Category", "Slow")]
    public async Task Every_README_shell_block_runs_as_written_from_a_fresh_copy_and_an_empty_HOME()
    {
        // Given a fresh copy of the repository and an empty HOME
        var source = RepositoryRoot();
        var repo = Path.Combine(_temp.Path, "herd");
        var home = Path.Combine(_temp.Path, "home");
        Directory.CreateDirectory(home);
        CopyRepository(source, repo);
        var readme = File.ReadAllText(Path.Combine(repo, "README.md"));

        // When its shell blocks run in order, in one bash session
        var script = Script(readme, out var unused);
        unused.ShouldBeEmpty("every exception in the test's table matches a README command; remove the stale ones");
        File.WriteAllText(Path.Combine(_temp.Path, "walk.sh"), script);
        var (exit, output) = await RunAsync(Path.Combine(_temp.Path, "walk.sh"), repo, home);

        // Then every block ran to its end
        exit.ShouldBe(0, output);
        output.ShouldContain("walk: all blocks ran");
        _server.RequestCount.ShouldBeGreaterThan(0);
    }

    /// <summary>The README's sh blocks as one bash script; <paramref name="unused"/> names exceptions that matched nothing.</summary>
    internal static string Script(string readme, out IReadOnlyList<string> unused)
    {
        var used = new HashSet<string>(StringComparer.Ordinal);
        var sb = new StringBuilder();
        // A terminal expands aliases (the README's `alias herd=…`); a script must be told to.
        sb.AppendLine("set -eo pipefail");
        sb.AppendLine("shopt -s expand_aliases");
        sb.AppendLine("trap 'echo \"walk: README block $BLOCK failed at: $BASH_COMMAND\" >&2' ERR");
        var block = 0;
        foreach (Match m in ShBlock().Matches(readme))
        {
            block++;
            sb.AppendLine($"BLOCK={block}");
            sb.AppendLine($"echo \"walk: block {block}\" >&2");
            foreach (var command in Commands(m.Groups[1].Value))
            {
                var exception = Exceptions.FirstOrDefault(e => command.StartsWith(e.Starts, StringComparison.Ordinal));
                if (exception.Starts is null)
                {
                    sb.AppendLine(command);
                    continue;
                }
                used.Add(exception.Starts);
                sb.AppendLine($"# README: {command.ReplaceLineEndings(" ")}");
                sb.AppendLine($"# walk: {exception.Why}");
                sb.AppendLine(exception.Instead ?? ":");
            }
        }
        sb.AppendLine("echo 'walk: all blocks ran' >&2");
        unused = Exceptions.Where(e => !used.Contains(e.Starts)).Select(e => e.Starts).ToArray();
        return sb.ToString();
    }

    /// <summary>The commands of a block: continuation lines joined, comment-only and blank lines dropped.</summary>
    private static IEnumerable<string> Commands(string block)
    {
        var current = new StringBuilder();
        foreach (var line in block.Split('\n'))
        {
            var trimmed = line.TrimEnd();
            if (current.Length == 0 && (trimmed.Length == 0 || trimmed.TrimStart().StartsWith('#')))
                continue;
            current.Append(trimmed);
            if (trimmed.EndsWith('\\'))
            {
                current.Append('\n');
                continue;
            }
            yield return current.ToString();
            current.Clear();
        }
        if (current.Length > 0)
            yield return current.ToString();
    }

    [GeneratedRegex(@"```sh\n(.*?)```", RegexOptions.Singleline)]
    private static partial Regex ShBlock();

    private static string RepositoryRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Herd.slnx")))
            dir = dir.Parent;
        return dir?.FullName ?? throw new InvalidOperationException("the repository root (Herd.slnx) was not found above the test binary");
    }

    /// <summary>The files git knows (tracked, and new ones not ignored) as they are in the working tree, in a new repository.</summary>
    private static void CopyRepository(string source, string target)
    {
        var files = Git(source, "ls-files", "-z", "--cached", "--others", "--exclude-standard").Split('\0', StringSplitOptions.RemoveEmptyEntries);
        foreach (var file in files)
        {
            var from = Path.Combine(source, file);
            if (!File.Exists(from))
                continue;
            var to = Path.Combine(target, file);
            Directory.CreateDirectory(Path.GetDirectoryName(to)!);
            File.Copy(from, to);
            if (!OperatingSystem.IsWindows())
                File.SetUnixFileMode(to, File.GetUnixFileMode(from));
        }
        Git(target, "init", "-q");
        Git(target, "add", "-A");
        Git(target, "-c", "user.name=walk", "-c", "user.email=walk@example.invalid", "commit", "-qm", "fresh copy");
    }

    private static string Git(string cwd, params string[] args)
    {
        var psi = new ProcessStartInfo("git") { WorkingDirectory = cwd, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args)
            psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEnd();
        var stderr = p.StandardError.ReadToEnd();
        p.WaitForExit();
        p.ExitCode.ShouldBe(0, $"git {string.Join(' ', args)}: {stderr}");
        return stdout;
    }

    private async Task<(int Exit, string Output)> RunAsync(string script, string repo, string home)
    {
        var psi = new ProcessStartInfo("setsid")
        {
            WorkingDirectory = repo,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
        };
        psi.ArgumentList.Add("-w");
        psi.ArgumentList.Add("bash");
        psi.ArgumentList.Add(script);
        psi.Environment.Clear();
        psi.Environment["HOME"] = home;
        psi.Environment["PATH"] = Environment.GetEnvironmentVariable("PATH");
        psi.Environment["TERM"] = "dumb";
        psi.Environment["WALK_BASE_URL"] = _server.BaseUrl.ToString().TrimEnd('/');
        psi.Environment["ANTHROPIC_BASE_URL"] = _server.BaseUrl.ToString().TrimEnd('/');
        psi.Environment["ANTHROPIC_API_KEY"] = "sk-anything";
        psi.Environment["HERD_TEST_PG"] = Environment.GetEnvironmentVariable("HERD_TEST_PG") ?? "";
        // The machine's NuGet packages: an empty HOME would otherwise download every package again.
        psi.Environment["NUGET_PACKAGES"] = Environment.GetEnvironmentVariable("NUGET_PACKAGES") is { Length: > 0 } packages
            ? packages
            : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages");
        psi.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        psi.Environment["DOTNET_NOLOGO"] = "1";
        // No build servers left behind by the walk's builds.
        psi.Environment["MSBUILDDISABLENODEREUSE"] = "1";
        psi.Environment["UseSharedCompilation"] = "false";
        psi.Environment["DOTNET_CLI_USE_MSBUILD_SERVER"] = "0";
        if (Environment.GetEnvironmentVariable("DOTNET_ROOT") is { Length: > 0 } root)
            psi.Environment["DOTNET_ROOT"] = root;
        using var process = Process.Start(psi)!;
        process.StandardInput.Close();
        var output = new StringBuilder();
        var lockObject = new object();
        process.OutputDataReceived += (_, e) => { lock (lockObject) output.AppendLine(e.Data); };
        process.ErrorDataReceived += (_, e) => { lock (lockObject) output.AppendLine(e.Data); };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        using var cts = new CancellationTokenSource(TimeSpan.FromMinutes(15));
        try
        {
            await process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"the README walk did not finish in 15 minutes:\n{output}");
        }
        process.WaitForExit();
        string text;
        lock (lockObject)
            text = output.ToString();
        return (process.ExitCode, text.Length > 20000 ? text[^20000..] : text);
    }
}
