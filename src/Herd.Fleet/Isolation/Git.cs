using System.Diagnostics;
using System.Text;

namespace Herd.Fleet.Isolation;

/// <summary>What one git command produced.</summary>
public sealed record GitResult(int ExitCode, byte[] Output, string Error)
{
    public bool Ok => ExitCode == 0;

    public string Text => Encoding.UTF8.GetString(Output).TrimEnd('\n');
}

/// <summary>A git command failed where the run cannot go on without it (the pool cannot be built or reset).</summary>
public sealed class GitException(string message) : Herd.Agent.HerdException("Error: " + message)
{
    public override bool IsFatal => true;
}

/// <summary>
/// Runs the <c>git</c> CLI: short plumbing commands on the pool's trees. Git's own environment variables of the
/// caller (GIT_DIR, GIT_INDEX_FILE… set when herd runs inside a hook) are removed, so every command addresses exactly
/// the tree it names; hooks and user identity never decide what a pool does.
/// </summary>
public static class Git
{
    private static readonly string[] CallerVariables = ["GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_OBJECT_DIRECTORY", "GIT_ALTERNATE_OBJECT_DIRECTORIES", "GIT_COMMON_DIR", "GIT_PREFIX"];

    /// <summary>
    /// Options every command gets: no hooks, a fixed identity, no pager, no fsmonitor daemons; the untracked cache,
    /// because a pool walks the same tree for every task.
    /// </summary>
    private static readonly string[] Fixed = ["-c", "core.hooksPath=/dev/null", "-c", "user.name=herd", "-c", "user.email=herd@localhost", "-c", "core.fsmonitor=false", "-c", "core.untrackedCache=true", "-c", "gc.auto=0", "--no-pager"];

    public static GitResult Run(string directory, params string[] args) => Run(directory, args, null, null);

    /// <param name="gitDir">Set GIT_DIR and GIT_WORK_TREE (a copy's private repository beside its tree).</param>
    /// <param name="environment">More variables (GIT_INDEX_FILE for a scratch index).</param>
    public static GitResult Run(string directory, IReadOnlyList<string> args, string? gitDir, IReadOnlyDictionary<string, string>? environment)
    {
        var psi = new ProcessStartInfo("git")
        {
            WorkingDirectory = directory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        foreach (var a in Fixed)
            psi.ArgumentList.Add(a);
        foreach (var a in args)
            psi.ArgumentList.Add(a);
        foreach (var name in CallerVariables)
            psi.Environment.Remove(name);
        psi.Environment["GIT_TERMINAL_PROMPT"] = "0";
        psi.Environment["LC_ALL"] = "C";
        if (gitDir is not null)
        {
            psi.Environment["GIT_DIR"] = gitDir;
            psi.Environment["GIT_WORK_TREE"] = directory;
        }
        if (environment is not null)
        {
            foreach (var (k, v) in environment)
                psi.Environment[k] = v;
        }
        Process process;
        try
        {
            process = Process.Start(psi) ?? throw new GitException("git did not start.");
        }
        catch (System.ComponentModel.Win32Exception ex)
        {
            throw new GitException($"git cannot be started ({ex.Message}); install git and put it on PATH.");
        }
        using (process)
        {
            process.StandardInput.Close();
            var error = process.StandardError.ReadToEndAsync();
            using var output = new MemoryStream();
            process.StandardOutput.BaseStream.CopyTo(output);
            process.WaitForExit();
            return new GitResult(process.ExitCode, output.ToArray(), error.GetAwaiter().GetResult().Trim());
        }
    }

    /// <summary>Runs a command that must succeed.</summary>
    /// <exception cref="GitException">It did not; the message names the command and git's own words.</exception>
    public static GitResult Must(string directory, IReadOnlyList<string> args, string? gitDir = null)
    {
        var result = Run(directory, args, gitDir, null);
        if (!result.Ok)
            throw new GitException($"git {string.Join(' ', args)} failed in '{directory}': {FirstLine(result.Error)}");
        return result;
    }

    public static string FirstLine(string text)
    {
        var line = text.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).FirstOrDefault() ?? "";
        return line.Length == 0 ? "no detail" : line;
    }
}
