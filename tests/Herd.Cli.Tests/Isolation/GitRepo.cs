using System.Diagnostics;

namespace Herd.Cli.Tests.Isolation;

/// <summary>A real git repository in a temp folder, with a first commit; removed on dispose.</summary>
public sealed class GitRepo : IDisposable
{
    public GitRepo(IReadOnlyDictionary<string, string> files)
    {
        Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "herd-repo-" + Guid.NewGuid().ToString("N")[..10]);
        Directory.CreateDirectory(Path);
        Git("init", "-q", "-b", "main");
        foreach (var (name, content) in files)
        {
            var full = System.IO.Path.Combine(Path, name);
            Directory.CreateDirectory(System.IO.Path.GetDirectoryName(full)!);
            File.WriteAllText(full, content);
        }
        Git("add", "-A");
        Git("commit", "-q", "-m", "start");
    }

    public string Path { get; }

    public string Read(string name) => File.ReadAllText(System.IO.Path.Combine(Path, name));

    /// <summary>Runs git in the repository; returns stdout, fails the test on a non-zero exit.</summary>
    public string Git(params string[] args)
    {
        var (exit, output, error) = GitIn(Path, args);
        if (exit != 0)
            throw new InvalidOperationException($"git {string.Join(' ', args)}: {error}");
        return output;
    }

    /// <summary>Runs git in any folder (a clone, a worktree): its exit code, stdout and stderr.</summary>
    public static (int Exit, string Output, string Error) GitIn(string directory, params string[] args)
    {
        var psi = new ProcessStartInfo("git") { WorkingDirectory = directory, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in (string[])["-c", "user.name=test", "-c", "user.email=test@localhost", "-c", "commit.gpgsign=false", .. args])
            psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var error = p.StandardError.ReadToEndAsync();
        var output = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        return (p.ExitCode, output, error.Result);
    }

    /// <summary>The worktrees git knows of (the repository itself is the first).</summary>
    public IReadOnlyList<string> Worktrees() => WorktreesOf(Path);

    /// <summary>The worktrees of the repository in <paramref name="directory"/> (itself first).</summary>
    public static IReadOnlyList<string> WorktreesOf(string directory) =>
        GitIn(directory, "worktree", "list", "--porcelain").Output.Split('\n').Where(l => l.StartsWith("worktree ", StringComparison.Ordinal)).Select(l => l["worktree ".Length..]).ToArray();

    public void Dispose()
    {
        try
        {
            Directory.Delete(Path, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
