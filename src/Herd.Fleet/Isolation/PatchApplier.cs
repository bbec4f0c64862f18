using System.Text;
using System.Text.RegularExpressions;
using Herd.Fleet.Store;

namespace Herd.Fleet.Isolation;

/// <summary>One successful task's patch, in the run's task order; its bytes are read from the run's <see cref="IPatchStore"/>.</summary>
public sealed record TaskPatch(int Seq, string Key, string Task);

public enum ApplyVerdict
{
    /// <summary>Applied (or, with --check, would apply).</summary>
    Applied,

    /// <summary>Does not apply on top of the patches before it: skipped, nothing of it written.</summary>
    Conflict,

    /// <summary>Touches a protected path (.git/, .claude/, .herd/, CI configuration) that --allow-path does not name.</summary>
    Refused,

    /// <summary>The patch is missing from the run's store, or unreadable.</summary>
    Missing,
}

/// <summary>What became of one patch, and the files that decided it.</summary>
public sealed record ApplyResult(TaskPatch Patch, ApplyVerdict Verdict, IReadOnlyList<string> Files, string? Detail = null);

/// <param name="Branch">Create this branch at HEAD and land the patches there (the current branch otherwise).</param>
/// <param name="CommitPerTask">One commit per task; otherwise one commit for the run on a new branch, or no commit at all.</param>
/// <param name="Check">Report what would apply on HEAD; change nothing.</param>
/// <param name="AllowPaths">Globs of protected paths a patch may touch after all (e.g. <c>.github/workflows/*.yml</c>).</param>
public sealed record ApplyOptions(string RunId, string? Branch = null, bool CommitPerTask = false, bool Check = false, IReadOnlyList<string>? AllowPaths = null);

/// <summary>
/// Lands a run's patches in a git repository (<c>herd apply</c>), in task order. <c>git apply</c> is all-or-nothing
/// (it checks every hunk before it writes any), so the tree is never left with half a patch: one that conflicts with the patches before it is skipped and listed with its files. Patches are applied to
/// a scratch index built from HEAD when checking, so <c>--check</c> sees exactly what a real apply would.
/// </summary>
public static class PatchApplier
{
    /// <summary>Paths a task's patch may not change unless --allow-path names them: git, agent and Herd state, CI configuration.</summary>
    public static bool IsProtected(string path)
    {
        var parts = path.Split('/');
        return parts.Any(p => p is ".git" or ".claude" or ".herd")
            || path.StartsWith(".github/", StringComparison.Ordinal)
            || path is ".gitlab-ci.yml" or "Jenkinsfile" or ".gitmodules";
    }

    /// <param name="store">Where the run keeps its patches (the run directory, or the shared store); read one patch at a time.</param>
    /// <exception cref="GitException">The repository cannot be read or the branch cannot be created.</exception>
    public static IReadOnlyList<ApplyResult> Apply(string repository, IReadOnlyList<TaskPatch> patches, IPatchStore store, ApplyOptions options)
    {
        var allow = (options.AllowPaths ?? []).Select(Glob).ToArray();
        var results = new List<ApplyResult>();
        string? scratchIndex = null;
        Dictionary<string, string>? env = null;
        if (options.Check)
        {
            // A scratch index from HEAD: each patch that would apply is applied to it, so later checks see earlier patches.
            scratchIndex = Path.Combine(Path.GetTempPath(), "herd-apply-" + Guid.NewGuid().ToString("N")[..12] + ".index");
            env = new Dictionary<string, string> { ["GIT_INDEX_FILE"] = scratchIndex };
            Must(Git.Run(repository, ["read-tree", "HEAD"], null, env), "read-tree HEAD");
        }
        else if (options.Branch is { } branch)
        {
            Must(Git.Run(repository, ["switch", "-c", branch], null, null), $"switch -c {branch}");
        }
        try
        {
            foreach (var patch in patches)
                results.Add(ApplyOne(repository, patch, store, options, allow, env));
            if (!options.Check && !options.CommitPerTask && options.Branch is not null && results.Any(r => r.Verdict == ApplyVerdict.Applied))
            {
                var landed = results.Count(r => r.Verdict == ApplyVerdict.Applied);
                Must(Git.Run(repository, ["commit", "-q", "--no-verify", "-m", $"herd: {landed} task(s) of run {options.RunId}\n\nApplied with herd apply from the run's verified patches."], null, null), "commit");
            }
        }
        finally
        {
            if (scratchIndex is not null)
                File.Delete(scratchIndex);
        }
        return results;
    }

    private static ApplyResult ApplyOne(string repository, TaskPatch patch, IPatchStore store, ApplyOptions options, Regex[] allow, Dictionary<string, string>? env)
    {
        if (store.ReadPatch(patch.Key) is not { } bytes)
            return new ApplyResult(patch, ApplyVerdict.Missing, [], $"no patch {PatchNames.Of(patch.Key)} in the run's store");
        // git apply reads a file: the one patch in hand is written to a scratch file and removed after.
        var path = Path.Combine(Path.GetTempPath(), "herd-apply-" + Guid.NewGuid().ToString("N")[..12] + ".patch");
        File.WriteAllBytes(path, bytes);
        try
        {
            return ApplyFile(repository, patch, path, options, allow, env);
        }
        finally
        {
            File.Delete(path);
        }
    }

    private static ApplyResult ApplyFile(string repository, TaskPatch patch, string path, ApplyOptions options, Regex[] allow, Dictionary<string, string>? env)
    {
        var listed = Git.Run(repository, ["apply", "--numstat", "-z", path], null, env);
        if (!listed.Ok)
            return new ApplyResult(patch, ApplyVerdict.Missing, [], "not a patch git can read: " + Git.FirstLine(listed.Error));
        var files = TreePool.ParseNumstat(listed.Output).Select(f => f.Path).ToArray();
        var refused = files.Where(f => IsProtected(f) && !allow.Any(a => a.IsMatch(f))).ToArray();
        if (refused.Length > 0)
            return new ApplyResult(patch, ApplyVerdict.Refused, refused, "touches protected paths (pass --allow-path GLOB to allow)");
        // --cached in check mode (the scratch index); --index when a commit follows; the working tree alone otherwise.
        string[] mode = options.Check ? ["--cached"] : options.CommitPerTask || options.Branch is not null ? ["--index"] : [];
        // git apply is all-or-nothing by itself (without --reject): a patch that does not apply changes nothing.
        var applied = Git.Run(repository, ["apply", .. mode, path], null, env);
        if (!applied.Ok)
            return new ApplyResult(patch, ApplyVerdict.Conflict, ConflictingFiles(applied.Error, files), Git.FirstLine(applied.Error));
        if (options.CommitPerTask && !options.Check)
        {
            var message = $"herd: {patch.Task}\n\nTask {patch.Key[..Math.Min(12, patch.Key.Length)]} of run {options.RunId} (herd apply).";
            Must(Git.Run(repository, ["commit", "-q", "--no-verify", "-m", message], null, null), "commit");
        }
        return new ApplyResult(patch, ApplyVerdict.Applied, files);
    }

    /// <summary>The files git names in its refusal ("error: patch failed: FILE:LINE", "FILE: already exists…"), else all of the patch's.</summary>
    private static IReadOnlyList<string> ConflictingFiles(string error, IReadOnlyList<string> files)
    {
        var named = files.Where(f => error.Contains(f + ":", StringComparison.Ordinal)).ToArray();
        return named.Length > 0 ? named : files;
    }

    private static void Must(GitResult result, string what)
    {
        if (!result.Ok)
            throw new GitException($"git {what} failed: {Git.FirstLine(result.Error)}");
    }

    /// <summary>A path glob: <c>**</c> any depth, <c>*</c> and <c>?</c> within one segment; a folder also matches what is in it.</summary>
    internal static Regex Glob(string glob)
    {
        var sb = new StringBuilder("^");
        for (var i = 0; i < glob.Length; i++)
        {
            var c = glob[i];
            if (c == '*' && i + 1 < glob.Length && glob[i + 1] == '*')
            {
                sb.Append(".*");
                i++;
            }
            else if (c == '*')
                sb.Append("[^/]*");
            else if (c == '?')
                sb.Append("[^/]");
            else
                sb.Append(Regex.Escape(c.ToString()));
        }
        sb.Append(glob.EndsWith('/') ? ".*$" : "(/.*)?$");
        return new Regex(sb.ToString(), RegexOptions.CultureInvariant);
    }
}
