using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using Herd.Agent;

namespace Herd.Fleet.Isolation;

/// <summary>
/// The trees of one run's tasks: one per slot, created on the slot's first task, reset between tasks — so 10 000
/// tasks on -j 8 make 8 trees, not 10 000. A slot is used by one attempt at a time (the scheduler's guarantee), so a
/// tree needs no lock of its own; only the commands that touch the shared repository (worktree add/remove/prune) are
/// serialized.
/// </summary>
/// <remarks>
/// <para>
/// <b>worktree</b>: <c>git worktree add --detach</c> at the run's starting commit; the task works in the same
/// sub-folder it would in the repository. <b>copy</b>: a copy of the folder (without <c>.git</c> and <c>.herd</c>)
/// with a private repository beside it (GIT_DIR outside the tree, so the agent sees no <c>.git</c> the original
/// lacks), committed once as the starting point. Either way a task's changes are <c>git add -A</c> +
/// <c>git diff --cached --binary</c> against the start (new and binary files included), and a reset is
/// <c>git reset --hard</c> + <c>git clean -ffdx</c>.
/// </para>
/// <para>
/// <b>Clean-up.</b> The pool lives under the temp folder at a path derived from the run directory, so a run resumed
/// after kill -9 finds its dead predecessor's pool and removes it (and prunes git's worktree records) before it
/// builds its own; disposing the pool at the end of a run removes it. The starting commit is kept in the run
/// directory (<c>isolation.json</c>), so a resumed run starts its tasks where the first session did.
/// </para>
/// </remarks>
public sealed class TreePool : IDisposable
{
    public const string StateFile = "isolation.json";

    private readonly Lock _repoGate = new();
    private readonly Dictionary<int, Tree> _trees = [];
    private readonly Lock _treesGate = new();
    private readonly IsolationMode _mode;
    private readonly string _source;
    private readonly string? _repository;
    private readonly string _relative;
    private int _disposed;

    private TreePool(IsolationMode mode, string source, string? repository, string relative, string baseCommit, string root)
    {
        _mode = mode;
        _source = source;
        _repository = repository;
        _relative = relative;
        BaseCommit = baseCommit;
        Root = root;
    }

    /// <value>The commit every task starts from (worktree); for a copy, the source folder's content at the first tree.</value>
    public string BaseCommit { get; }

    /// <value>The folder that holds the trees.</value>
    public string Root { get; }

    /// <summary>
    /// Opens the pool of a run: reads (or records) the starting commit, removes what a dead session of the same run left.
    /// </summary>
    /// <param name="source">The run's working directory.</param>
    /// <param name="runDirectory">Where the starting commit is kept; the pool's location derives from it.</param>
    /// <param name="notice">Warnings worth a line (uncommitted changes that tasks will not see).</param>
    /// <exception cref="HerdUsageException">worktree outside a git repository, or a repository without a commit.</exception>
    /// <param name="baseCommit">The pinned start (<see cref="IsolationSpec.BaseCommit"/>); null = HEAD now.</param>
    /// <param name="perProcess">
    /// Several processes share the run directory (herd worker): each gets a pool of its own, and the pools of dead
    /// processes of the same run are removed.
    /// </param>
    public static TreePool Open(IsolationMode mode, string source, string runDirectory, Action<string>? notice = null, string? baseCommit = null, bool perProcess = false)
    {
        source = Path.GetFullPath(source);
        var root = perProcess ? PoolRoot(runDirectory) + "-" + Environment.ProcessId.ToString(CultureInfo.InvariantCulture) : PoolRoot(runDirectory);
        var state = ReadState(runDirectory);
        string? repository = null;
        var relative = "";
        if (mode == IsolationMode.Worktree)
        {
            var top = Git.Run(source, "rev-parse", "--show-toplevel");
            if (!top.Ok)
                throw new HerdUsageException($"Error: --isolate worktree needs a git repository, and '{source}' is not in one. Use --isolate copy for a plain folder.");
            repository = top.Text;
            relative = Path.GetRelativePath(repository, source);
            if (relative == ".")
                relative = "";
            if (state?["base"]?.GetValue<string>() is { Length: > 0 } stored)
            {
                baseCommit = stored;
            }
            else if (baseCommit is not null)
            {
                // Pinned when the run was created (another process, maybe another machine): fetch it if this clone lacks it.
                if (!Git.Run(source, "cat-file", "-e", baseCommit + "^{commit}").Ok)
                    Git.Run(source, "fetch", "-q", "origin", baseCommit);
                if (!Git.Run(source, "cat-file", "-e", baseCommit + "^{commit}").Ok)
                    throw new HerdUsageException($"Error: the run's tasks start at commit {baseCommit}, which '{repository}' does not have. Fetch it (git fetch origin), then start again.");
            }
            else
            {
                var head = Git.Run(source, "rev-parse", "--verify", "HEAD^{commit}");
                if (!head.Ok)
                    throw new HerdUsageException($"Error: --isolate worktree starts every task at the current commit, and '{repository}' has none yet. Commit first (git commit), or use --isolate copy.");
                baseCommit = head.Text;
                var dirty = Git.Run(source, "status", "--porcelain", "--untracked-files=no");
                if (dirty.Ok && dirty.Output.Length > 0)
                    notice?.Invoke($"warning: uncommitted changes in '{repository}' are not in the tasks' trees; every task starts at commit {baseCommit[..12]}.");
            }
        }
        var pool = new TreePool(mode, source, repository, relative, baseCommit ?? "", root);
        pool.RemoveStale(pool.Root);
        if (perProcess)
        {
            foreach (var dead in DeadSiblings(PoolRoot(runDirectory)))
                pool.RemoveStale(dead);
        }
        Directory.CreateDirectory(runDirectory);
        if (state is null)
            WriteState(runDirectory, mode, baseCommit ?? "", repository ?? source);
        return pool;
    }

    /// <summary>$TMPDIR/herd-trees/HASH: derived from the run directory, so a resumed session finds a dead one's pool.</summary>
    public static string PoolRoot(string runDirectory)
    {
        var hash = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(Path.GetFullPath(runDirectory))))[..16];
        return Path.Combine(Path.GetTempPath(), "herd-trees", hash);
    }

    /// <summary>The task's working directory in the slot's tree, creating the tree on the slot's first use.</summary>
    /// <exception cref="GitException">The tree cannot be created.</exception>
    public string Acquire(int slot)
    {
        var tree = TreeOf(slot);
        if (!tree.Created)
            Create(tree);
        return _relative.Length == 0 ? tree.Path : Path.Combine(tree.Path, _relative);
    }

    /// <summary>Everything the task changed against the start: the binary patch and the changed files with their line counts.</summary>
    /// <remarks>
    /// One walk of the tree (<c>git status</c>) says what changed; everything after it is limited to those paths, so
    /// the cost of a task that changed a few files does not grow with the repository (docs/performance.md, "Worktree
    /// pool"). A task that moved HEAD or staged changes itself is captured and reset over the whole tree.
    /// </remarks>
    public (byte[] Patch, IReadOnlyList<FileChange> Files) Capture(int slot)
    {
        var tree = TreeOf(slot);
        tree.Dirty = null;
        var status = Git.Must(tree.Path, ["status", "--porcelain=v1", "-z", "--untracked-files=all", "--ignored=matching"], tree.GitDir);
        var entries = StatusEntry.Parse(status.Output);
        var headAtBase = HeadIsBase(tree);
        if (entries.Count == 0 && headAtBase)
        {
            tree.Pristine = true;
            return ([], []);
        }
        // What the task itself staged, renamed or committed is not in the status's per-path view: the whole tree then.
        var paths = headAtBase && entries.All(e => e.NothingStaged && !e.Opaque) ? DirtyPaths.Of(entries) : null;
        tree.Dirty = paths;
        if (paths is { Changed.Count: 0 })
            return ([], []);
        if (paths is null)
            Git.Must(tree.Path, ["add", "-A"], tree.GitDir);
        else
            Git.Must(tree.Path, ["--literal-pathspecs", "add", "-A", "--pathspec-from-file=" + WritePathspec(tree, paths.Changed), "--pathspec-file-nul"], tree.GitDir);
        var numstat = Git.Must(tree.Path, ["diff", "--cached", "--no-renames", "--numstat", "-z", tree.Base], tree.GitDir);
        var files = ParseNumstat(numstat.Output);
        if (files.Count == 0)
            return ([], files);
        var patch = Git.Must(tree.Path, ["diff", "--cached", "--no-renames", "--binary", "--full-index", tree.Base], tree.GitDir);
        return (patch.Output, files);
    }

    /// <summary>Back to the starting commit, untracked and ignored files removed. A tree that cannot be reset is rebuilt on its next use.</summary>
    public void Reset(int slot)
    {
        var tree = TreeOf(slot);
        if (!tree.Created)
            return;
        var pristine = tree.Pristine;
        var dirty = tree.Dirty;
        tree.Pristine = false;
        tree.Dirty = null;
        if (pristine)
            return;
        if (dirty is not null && ResetPaths(tree, dirty))
            return;
        // Not captured (a requeued attempt), or more than the status showed: the whole tree, two more walks.
        var reset = Git.Run(tree.Path, ["reset", "-q", "--hard", tree.Base], tree.GitDir, null);
        var clean = reset.Ok ? Git.Run(tree.Path, ["clean", "-q", "-ffdx"], tree.GitDir, null) : reset;
        if (!clean.Ok)
            Remove(tree);
    }

    /// <summary>
    /// Restores only what the capture found changed: the changed paths from the start (<c>git restore</c>, which also
    /// removes the new files the capture staged), then the ignored files and folders the task made, then folders left empty.
    /// </summary>
    private bool ResetPaths(Tree tree, DirtyPaths dirty)
    {
        if (dirty.Changed.Count > 0)
        {
            var restore = Git.Run(tree.Path, ["--literal-pathspecs", "restore", "-q", "--source=" + tree.Base, "--staged", "--worktree",
                "--pathspec-from-file=" + WritePathspec(tree, dirty.Changed), "--pathspec-file-nul"], tree.GitDir, null);
            if (!restore.Ok)
                return false;
        }
        var root = Path.GetFullPath(tree.Path) + Path.DirectorySeparatorChar;
        foreach (var relative in dirty.Ignored.Concat(dirty.Changed))
        {
            var full = Path.GetFullPath(Path.Combine(tree.Path, relative.TrimEnd('/')));
            if (!full.StartsWith(root, StringComparison.Ordinal))
                return false;
            try
            {
                if (dirty.Ignored.Contains(relative))
                {
                    if (Directory.Exists(full) && new FileInfo(full).LinkTarget is null)
                        Directory.Delete(full, recursive: true);
                    else
                        File.Delete(full);
                }
                RemoveEmptyParents(full, root);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                return false;
            }
        }
        return true;
    }

    /// <summary>Folders a task made and the reset emptied (git tracks no empty folder, so none of the start's is empty).</summary>
    private static void RemoveEmptyParents(string path, string root)
    {
        for (var dir = Path.GetDirectoryName(path); dir is not null && dir.Length + 1 > root.Length && dir.StartsWith(root, StringComparison.Ordinal); dir = Path.GetDirectoryName(dir))
        {
            if (!Directory.Exists(dir) || Directory.EnumerateFileSystemEntries(dir).Any())
                return;
            Directory.Delete(dir);
        }
    }

    /// <summary>The paths, NUL-separated, in a file beside the slot's tree (outside it): git reads them with --pathspec-from-file.</summary>
    private static string WritePathspec(Tree tree, IReadOnlyList<string> paths)
    {
        var file = tree.Path + ".paths";
        using (var stream = File.Create(file))
        {
            foreach (var p in paths)
            {
                stream.Write(Encoding.UTF8.GetBytes(p));
                stream.WriteByte(0);
            }
        }
        return file;
    }

    /// <summary>Removes every tree and git's records of them: what a run leaves is only its patches.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
            return;
        Tree[] trees;
        lock (_treesGate)
            trees = [.. _trees.Values];
        foreach (var tree in trees)
            Remove(tree);
        DeleteDirectory(Root);
        if (_repository is not null)
        {
            lock (_repoGate)
                Git.Run(_repository, "worktree", "prune");
        }
    }

    private Tree TreeOf(int slot)
    {
        lock (_treesGate)
        {
            if (!_trees.TryGetValue(slot, out var tree))
                _trees[slot] = tree = new Tree(Path.Combine(Root, "slot-" + slot.ToString(CultureInfo.InvariantCulture)));
            return tree;
        }
    }

    private void Create(Tree tree)
    {
        DeleteDirectory(tree.Path);
        Directory.CreateDirectory(Root);
        if (_mode == IsolationMode.Worktree)
        {
            lock (_repoGate)
                Git.Must(_repository!, ["worktree", "add", "--detach", "-q", tree.Path, BaseCommit]);
            tree.Base = BaseCommit;
        }
        else
        {
            CopyFolder(_source, tree.Path);
            var gitDir = tree.Path + ".git";
            DeleteDirectory(gitDir);
            Git.Must(tree.Path, ["init", "-q"], gitDir);
            // Every file, ignored ones too: the copy's start is the folder as it is; later ignored files stay out of patches.
            Git.Must(tree.Path, ["add", "-A", "-f"], gitDir);
            Git.Must(tree.Path, ["commit", "-q", "--allow-empty", "--no-verify", "-m", "herd: start of the task"], gitDir);
            tree.GitDir = gitDir;
            tree.Base = Git.Must(tree.Path, ["rev-parse", "HEAD"], gitDir).Text;
        }
        tree.Created = true;
    }

    private void Remove(Tree tree)
    {
        if (_mode == IsolationMode.Worktree && tree.Created)
        {
            lock (_repoGate)
                Git.Run(_repository!, "worktree", "remove", "--force", "--force", tree.Path);
        }
        DeleteDirectory(tree.Path);
        if (tree.GitDir is { } gitDir)
            DeleteDirectory(gitDir);
        tree.Created = false;
    }

    /// <summary>A dead session's pool of this run (kill -9): its trees go, and git forgets them.</summary>
    private void RemoveStale(string root)
    {
        if (!Directory.Exists(root))
            return;
        if (_repository is not null)
        {
            foreach (var dir in Directory.EnumerateDirectories(root, "slot-*"))
            {
                lock (_repoGate)
                    Git.Run(_repository, "worktree", "remove", "--force", "--force", dir);
            }
        }
        DeleteDirectory(root);
        if (_repository is not null)
        {
            lock (_repoGate)
                Git.Run(_repository, "worktree", "prune");
        }
    }

    /// <summary>Per-process pools of this run (ROOT-PID) whose process is gone.</summary>
    private static IEnumerable<string> DeadSiblings(string root)
    {
        var parent = Path.GetDirectoryName(root)!;
        if (!Directory.Exists(parent))
            yield break;
        foreach (var dir in Directory.EnumerateDirectories(parent, Path.GetFileName(root) + "-*"))
        {
            if (int.TryParse(dir.AsSpan(root.Length + 1), NumberStyles.None, CultureInfo.InvariantCulture, out var pid) && pid != Environment.ProcessId && !Alive(pid))
                yield return dir;
        }
    }

    private static bool Alive(int pid) => Directory.Exists("/proc/" + pid.ToString(CultureInfo.InvariantCulture));

    /// <summary>The folder as the task sees it: everything but version control and Herd's own run directories.</summary>
    private static void CopyFolder(string from, string to)
    {
        Directory.CreateDirectory(to);
        foreach (var entry in new DirectoryInfo(from).EnumerateFileSystemInfos())
        {
            if (entry.Name is ".git" or ".herd")
                continue;
            var target = Path.Combine(to, entry.Name);
            if (entry.LinkTarget is { } link)
                File.CreateSymbolicLink(target, link);
            else if (entry is DirectoryInfo dir)
                CopyFolder(dir.FullName, target);
            else
                File.Copy(entry.FullName, target);
        }
    }

    /// <summary><c>git diff --numstat -z</c>: "added TAB removed TAB path NUL"; a binary file's counts are "-".</summary>
    internal static IReadOnlyList<FileChange> ParseNumstat(byte[] output)
    {
        var files = new List<FileChange>();
        foreach (var entry in Encoding.UTF8.GetString(output).Split('\0', StringSplitOptions.RemoveEmptyEntries))
        {
            var parts = entry.Split('\t', 3);
            if (parts.Length < 3)
                continue;
            files.Add(new FileChange(parts[2], Count(parts[0]), Count(parts[1])));
        }
        return files;
    }

    private static int? Count(string text) => int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var n) ? n : null;

    private static JsonObject? ReadState(string runDirectory)
    {
        var path = Path.Combine(runDirectory, StateFile);
        if (!File.Exists(path))
            return null;
        try
        {
            return JsonNode.Parse(File.ReadAllText(path)) as JsonObject;
        }
        catch (System.Text.Json.JsonException)
        {
            throw new HerdUsageException($"Error: '{path}' is damaged; it records the commit the run's tasks start from. Restore it, or start a new run.");
        }
    }

    private static void WriteState(string runDirectory, IsolationMode mode, string baseCommit, string source)
    {
        var state = new JsonObject { ["mode"] = mode.Name(), ["base"] = baseCommit, ["source"] = source };
        var path = Path.Combine(runDirectory, StateFile);
        File.WriteAllText(path + ".tmp", state.ToJsonString());
        File.Move(path + ".tmp", path, overwrite: true);
    }

    private static void DeleteDirectory(string path)
    {
        if (!Directory.Exists(path))
            return;
        try
        {
            Directory.Delete(path, recursive: true);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // A process still holding a file in it (a leftover child of a task) only leaves the folder behind.
        }
    }

    /// <summary>A worktree's HEAD, read from its git directory's HEAD file (no process): detached at the start commit?</summary>
    private static bool HeadIsBase(Tree tree)
    {
        try
        {
            var dotGit = Path.Combine(tree.Path, ".git");
            if (tree.GitDir is not null || !File.Exists(dotGit))
                return false;
            var gitDir = File.ReadAllText(dotGit).Trim();
            if (!gitDir.StartsWith("gitdir: ", StringComparison.Ordinal))
                return false;
            return File.ReadAllText(Path.Combine(gitDir["gitdir: ".Length..], "HEAD")).Trim() == tree.Base;
        }
        catch (IOException)
        {
            return false;
        }
    }

    /// <summary>One entry of <c>git status --porcelain=v1 -z</c>: XY PATH (a rename's second path is its origin).</summary>
    private sealed record StatusEntry(char Index, char WorkTree, string Path)
    {
        /// <value>Nothing staged for it: a change in the working tree only, an untracked file, or an ignored one.</value>
        public bool NothingStaged => Index is ' ' or '?' or '!';

        public bool Ignored => Index == '!';

        /// <value>An untracked folder git does not look into (a nested repository): the whole-tree reset handles it.</value>
        public bool Opaque => !Ignored && Path.EndsWith('/');

        public static IReadOnlyList<StatusEntry> Parse(byte[] output)
        {
            var entries = new List<StatusEntry>();
            var parts = Encoding.UTF8.GetString(output).Split('\0');
            for (var i = 0; i < parts.Length; i++)
            {
                var part = parts[i];
                if (part.Length < 4)
                    continue;
                entries.Add(new StatusEntry(part[0], part[1], part[3..]));
                if (part[0] is 'R' or 'C' || part[1] is 'R' or 'C')
                    i++; // the origin path
            }
            return entries;
        }
    }

    /// <summary>What a capture found: the changed paths (tracked or new) and the ignored files and folders the task made.</summary>
    private sealed record DirtyPaths(IReadOnlyList<string> Changed, IReadOnlySet<string> Ignored)
    {
        public static DirtyPaths Of(IReadOnlyList<StatusEntry> entries) =>
            new(entries.Where(e => !e.Ignored).Select(e => e.Path).ToArray(), entries.Where(e => e.Ignored).Select(e => e.Path).ToHashSet(StringComparer.Ordinal));
    }

    private sealed class Tree(string path)
    {
        /// <value>What the last capture found changed, when a reset of those paths alone restores the start; null otherwise.</value>
        public DirtyPaths? Dirty { get; set; }

        /// <value>The last capture found the tree exactly at the start (no change, nothing untracked or ignored): no reset needed.</value>
        public bool Pristine { get; set; }

        public string Path { get; } = path;
        public string? GitDir { get; set; }
        public string Base { get; set; } = "";
        public bool Created { get; set; }
    }
}
