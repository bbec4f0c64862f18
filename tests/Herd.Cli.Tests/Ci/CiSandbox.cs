using System.Diagnostics;
using System.Text;
using System.Text.Json.Nodes;
using Herd.Cli.Ci;
using Herd.Testing;

namespace Herd.Cli.Tests.Ci;

/// <summary>What one shell step of a simulated pipeline did.</summary>
public sealed record StepRun(string Job, string Step, int ExitCode, string Stdout, string Stderr)
{
    public override string ToString() => $"[{Job}] {Step}: exit {ExitCode}\n--- stdout\n{Tail(Stdout)}\n--- stderr\n{Tail(Stderr)}";

    private static string Tail(string s) => s.Length > 3000 ? "…" + s[^3000..] : s;
}

/// <summary>
/// The machine a simulated CI runs on: a git repository of source files with the pipeline <c>herd ci init</c> wrote,
/// a <c>herd</c> on PATH (the build under test), the scripted model server, a private HOME, and a store for artifacts.
/// Every job gets a fresh copy of the repository (a runner's checkout); only artifacts travel between jobs.
/// </summary>
public sealed class CiSandbox : IAsyncDisposable
{
    public const string ApiKey = "sk-ant-test-secret-ci-0123456789";

    private int _workspaces;

    private CiSandbox(string root, ScriptedModelServer server)
    {
        Root = root;
        Server = server;
    }

    public string Root { get; }

    public ScriptedModelServer Server { get; }

    public string Repo => Path.Combine(Root, "repo");

    public string Artifacts => Path.Combine(Root, "artifacts");

    public List<StepRun> Steps { get; } = [];

    /// <summary>A repository of <paramref name="files"/> source files, with the pipeline of <paramref name="system"/> written by the real <c>herd ci init</c>.</summary>
    public static async Task<CiSandbox> CreateAsync(CiSystem system, int files, int shards, ModelScript script)
    {
        var root = Path.Combine(Path.GetTempPath(), "herd-ci-" + Guid.NewGuid().ToString("N")[..10]);
        var sandbox = new CiSandbox(root, await ScriptedModelServer.StartAsync(script));
        Directory.CreateDirectory(sandbox.Repo);
        Directory.CreateDirectory(sandbox.Artifacts);
        Directory.CreateDirectory(Path.Combine(root, "home"));
        for (var i = 1; i <= files; i++)
        {
            var path = Path.Combine(sandbox.Repo, "src", SourceFile(i));
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            await File.WriteAllTextAsync(path, $"namespace Demo;\n\npublic static class Mod{i:D3}\n{{\n    public static int Value() => {i};\n}}\n");
        }
        var bin = Path.Combine(root, "bin");
        Directory.CreateDirectory(bin);
        var herd = HerdProcess.BinaryPath;
        var wrapper = Path.Combine(bin, "herd");
        await File.WriteAllTextAsync(wrapper, herd.EndsWith(".dll", StringComparison.Ordinal)
            ? $"#!/bin/sh\nexec dotnet '{herd}' \"$@\"\n"
            : $"#!/bin/sh\nexec '{herd}' \"$@\"\n");
        if (!OperatingSystem.IsWindows())
            File.SetUnixFileMode(wrapper, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute | UnixFileMode.GroupRead | UnixFileMode.GroupExecute);

        // The pipeline file as a team gets it: written by `herd ci init` itself.
        var init = await sandbox.ShellAsync("setup", "herd ci init", $"herd ci init {system.ToString().ToLowerInvariant()} --shards {shards}", sandbox.Repo, sandbox.BaseEnvironment());
        init.ExitCode.ShouldBe(0, init.ToString());
        var git = await sandbox.ShellAsync("setup", "git", "git init -q . && git add -A", sandbox.Repo, sandbox.BaseEnvironment());
        git.ExitCode.ShouldBe(0, git.ToString());
        sandbox.Steps.Clear();
        return sandbox;
    }

    public static string SourceFile(int i) => $"mod{i:D3}.cs";

    /// <summary>Whether the herd under test has <c>herd report</c> (issue #11 item 3, built on another branch).</summary>
    public async Task<bool> HasReportsAsync()
    {
        var help = await ShellAsync("probe", "herd report --help", "herd report --help", Root, BaseEnvironment());
        Steps.Remove(help);
        // Before `report` existed, `herd report --help` was print mode's help (exit 0 too), so look for the command's own usage.
        return help.ExitCode == 0 && help.Stdout.Contains("herd report", StringComparison.Ordinal);
    }

    /// <summary>A fresh checkout of the repository for one job.</summary>
    public string NewWorkspace(string job)
    {
        var dir = Path.Combine(Root, "ws", $"{Interlocked.Increment(ref _workspaces):D2}-{Sanitize(job)}");
        CopyDirectory(Repo, dir);
        return dir;
    }

    /// <summary>What every job sees, before the CI's own variables: PATH with herd, a private HOME, the model server.</summary>
    public Dictionary<string, string> BaseEnvironment() => new(StringComparer.Ordinal)
    {
        ["PATH"] = Path.Combine(Root, "bin") + ":" + Environment.GetEnvironmentVariable("PATH"),
        ["HOME"] = Path.Combine(Root, "home"),
        ["CI"] = "true",
        ["ANTHROPIC_BASE_URL"] = Server.BaseUrl.ToString().TrimEnd('/'),
        ["HERD_CONFIG_DIR"] = Path.Combine(Root, "home", ".herd-config"),
        ["HERD_RETRY_BASE_MS"] = "5",
        ["HERD_FLEET_RETRY_BASE_MS"] = "5",
    };

    /// <summary>Runs a script as the CI's shell would (<paramref name="shell"/> before the script path) and records it.</summary>
    public async Task<StepRun> ShellAsync(string job, string step, string script, string cwd, IReadOnlyDictionary<string, string> environment, string shell = "bash -e")
    {
        var file = Path.Combine(Root, "scripts", $"{Steps.Count:D3}-{Sanitize(job)}.sh");
        Directory.CreateDirectory(Path.GetDirectoryName(file)!);
        await File.WriteAllTextAsync(file, script + "\n");
        var parts = shell.Split(' ');
        var info = new ProcessStartInfo(parts[0])
        {
            WorkingDirectory = cwd,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        foreach (var p in parts.Skip(1))
            info.ArgumentList.Add(p);
        info.ArgumentList.Add(file);
        // A runner starts from a clean environment: nothing of this test process leaks in (no API key, no HERD_*).
        info.Environment.Clear();
        foreach (var (k, v) in environment)
            info.Environment[k] = v;
        foreach (var k in new[] { "DOTNET_ROOT", "DOTNET_CLI_HOME", "NUGET_PACKAGES" })
        {
            if (Environment.GetEnvironmentVariable(k) is { } v && !info.Environment.ContainsKey(k))
                info.Environment[k] = v;
        }
        using var process = Process.Start(info)!;
        process.StandardInput.Close();
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(3));
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"[{job}] {step} did not finish in 3 minutes: {await stderr}");
        }
        var run = new StepRun(job, step, process.ExitCode, await stdout, await stderr);
        Steps.Add(run);
        return run;
    }

    /// <summary>Every step's output, for assertion messages.</summary>
    public string Log() => string.Join("\n\n", Steps.Select(s => s.ToString()));

    public static void CopyDirectory(string from, string to)
    {
        Directory.CreateDirectory(to);
        foreach (var dir in Directory.GetDirectories(from, "*", SearchOption.AllDirectories))
            Directory.CreateDirectory(Path.Combine(to, Path.GetRelativePath(from, dir)));
        foreach (var file in Directory.GetFiles(from, "*", SearchOption.AllDirectories))
            File.Copy(file, Path.Combine(to, Path.GetRelativePath(from, file)), overwrite: true);
    }

    /// <summary>The findings a model answers for a file: the seed's slide-10 shape through the StructuredOutput tool.</summary>
    public static Conversation Finding(int file, string severity, int line, string message) =>
        new($"Review the file src/{SourceFile(file)} for bugs", [Reply.WithTool("StructuredOutput", new JsonObject
        {
            ["issues"] = new JsonArray(new JsonObject { ["severity"] = severity, ["file"] = $"src/{SourceFile(file)}", ["line"] = line, ["message"] = message }),
        })]);

    /// <summary>A review without findings: what every other file gets.</summary>
    public static Reply NoFindings => Reply.WithTool("StructuredOutput", new JsonObject { ["issues"] = new JsonArray() });

    private static string Sanitize(string s) => new(s.Select(c => char.IsLetterOrDigit(c) ? c : '-').ToArray());

    public async ValueTask DisposeAsync()
    {
        await Server.DisposeAsync();
        try
        {
            Directory.Delete(Root, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}

/// <summary>Checks on the files a merged run and the reports left in a workspace.</summary>
public static class MergedRun
{
    public static IReadOnlyList<JsonObject> Records(string runDirectory) =>
        File.ReadAllLines(Path.Combine(runDirectory, "results.ndjson")).Where(l => l.Length > 0).Select(l => (JsonObject)JsonNode.Parse(l)!).ToArray();

    public static JsonObject Summary(string runDirectory) => (JsonObject)JsonNode.Parse(File.ReadAllText(Path.Combine(runDirectory, "summary.json")))!;

    /// <summary>Exactly one record per file of the repository, each from the shard its key falls in, all shards merged.</summary>
    public static void ShouldHoldEveryTaskOnce(string runDirectory, int files, int shards)
    {
        var records = Records(runDirectory);
        records.Select(r => (string)r["task"]!).Order(StringComparer.Ordinal)
            .ShouldBe(Enumerable.Range(1, files).Select(i => $"src/{CiSandbox.SourceFile(i)}").Order(StringComparer.Ordinal));
        records.Select(r => (string)r["key"]!).Distinct().Count().ShouldBe(files);
        records.ShouldAllBe(r => (string)r["shard"]! == Herd.Fleet.Runs.Shard.Of((string)r["key"]!, shards).ToString());
        var summary = Summary(runDirectory);
        summary["shards"]!.AsArray().Select(s => (string)s!).ShouldBe(Enumerable.Range(1, shards).Select(k => $"{k}/{shards}"));
        summary["missing_tasks"]!.GetValue<int>().ShouldBe(0);
        summary["tasks"]!.GetValue<int>().ShouldBe(files);
    }

    public static void ShouldBeJson(string path, Func<JsonNode, bool> shape, string what)
    {
        File.Exists(path).ShouldBeTrue($"{what} was not written ({path})");
        var bytes = File.ReadAllBytes(path);
        (bytes.Length >= 3 && bytes[0] == 0xEF && bytes[1] == 0xBB && bytes[2] == 0xBF).ShouldBeFalse($"{what} starts with a BOM");
        shape(JsonNode.Parse(Encoding.UTF8.GetString(bytes))!).ShouldBeTrue($"{what} is not the expected JSON shape");
    }

    public static void ShouldBeJUnit(string path, int files)
    {
        File.Exists(path).ShouldBeTrue($"JUnit report was not written ({path})");
        var doc = System.Xml.Linq.XDocument.Load(path);
        doc.Descendants("testcase").Count().ShouldBe(files);
    }
}
