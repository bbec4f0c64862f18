using Herd.Fleet.Isolation;

namespace Herd.Fleet.Tests.Isolation;

/// <summary>The tree pool and the patch applier on real git repositories in temp folders.</summary>
public sealed class TreePoolTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "herd-pool-test-" + Guid.NewGuid().ToString("N")[..10]);

    public TreePoolTests() => Directory.CreateDirectory(_dir);

    private string Repo => Path.Combine(_dir, "repo");

    private string RunDir => Path.Combine(_dir, "run");

    private void MakeRepo(params (string Path, string Content)[] files)
    {
        Directory.CreateDirectory(Repo);
        Must(Repo, "init", "-q", "-b", "main");
        foreach (var (path, content) in files)
        {
            Directory.CreateDirectory(Path.GetDirectoryName(Path.Combine(Repo, path))!);
            File.WriteAllText(Path.Combine(Repo, path), content);
        }
        Must(Repo, "add", "-A");
        Must(Repo, "commit", "-q", "-m", "start");
    }

    private static string Must(string dir, params string[] args)
    {
        var r = Git.Run(dir, args);
        r.Ok.ShouldBeTrue($"git {string.Join(' ', args)}: {r.Error}");
        return r.Text;
    }

    [Fact]
    public void A_worktree_task_s_changes_are_captured_with_new_deleted_and_binary_files_and_the_reset_tree_is_the_start_again()
    {
        MakeRepo(("a.txt", "one\ntwo\n"), ("gone.txt", "bye\n"), ("sub/keep.txt", "k\n"));
        using var pool = TreePool.Open(IsolationMode.Worktree, Path.Combine(Repo, "sub"), RunDir);
        var tree = pool.Acquire(1);

        // The task works in the same sub-folder of its own tree
        File.Exists(Path.Combine(tree, "keep.txt")).ShouldBeTrue();
        var root = Path.GetDirectoryName(tree)!;
        File.WriteAllText(Path.Combine(root, "a.txt"), "one\n2\nthree\n");
        File.Delete(Path.Combine(root, "gone.txt"));
        File.WriteAllBytes(Path.Combine(tree, "blob.bin"), [0, 1, 2, 255, 0, 7]);
        Directory.CreateDirectory(Path.Combine(root, "bin"));

        var (patch, files) = pool.Capture(1);
        files.ShouldContain(new FileChange("a.txt", 2, 1));
        files.ShouldContain(new FileChange("gone.txt", 0, 1));
        files.ShouldContain(new FileChange("sub/blob.bin", null, null));
        patch.Length.ShouldBeGreaterThan(0);

        pool.Reset(1);
        File.ReadAllText(Path.Combine(root, "a.txt")).ShouldBe("one\ntwo\n");
        File.Exists(Path.Combine(root, "gone.txt")).ShouldBeTrue();
        File.Exists(Path.Combine(tree, "blob.bin")).ShouldBeFalse();
        pool.Capture(1).Files.ShouldBeEmpty();

        // The captured patch applies to the repository and reproduces the task's tree, binary file included
        File.WriteAllBytes(Path.Combine(_dir, "t.patch"), patch);
        Must(Repo, "apply", Path.Combine(_dir, "t.patch"));
        File.ReadAllBytes(Path.Combine(Repo, "sub", "blob.bin")).ShouldBe(new byte[] { 0, 1, 2, 255, 0, 7 });
        File.Exists(Path.Combine(Repo, "gone.txt")).ShouldBeFalse();
    }

    [Fact]
    public void A_reset_of_only_what_changed_leaves_the_tree_exactly_at_the_start_whatever_the_task_did()
    {
        // Given a repository that ignores build output, and one slot reused by task after task
        MakeRepo(("a.txt", "a\n"), ("src/b.txt", "b\n"), (".gitignore", "obj/\n*.log\n"), ("we*ird [x].txt", "w\n"));
        using var pool = TreePool.Open(IsolationMode.Worktree, Repo, RunDir);
        var tree = pool.Acquire(1);
        Action<string>[] tasks =
        [
            // new files in new folders, an edit, a deletion, a path with glob characters, ignored output in and out of new folders
            t =>
            {
                Directory.CreateDirectory(Path.Combine(t, "new/deep"));
                File.WriteAllText(Path.Combine(t, "new/deep/n.txt"), "n\n");
                File.WriteAllText(Path.Combine(t, "a.txt"), "changed\n");
                File.Delete(Path.Combine(t, "src/b.txt"));
                File.WriteAllText(Path.Combine(t, "we*ird [x].txt"), "edited\n");
                Directory.CreateDirectory(Path.Combine(t, "src/obj/Debug"));
                File.WriteAllText(Path.Combine(t, "src/obj/Debug/x.dll"), "x");
                Directory.CreateDirectory(Path.Combine(t, "logs"));
                File.WriteAllText(Path.Combine(t, "logs/run.log"), "l");
            },
            // only ignored output: nothing to capture, still removed
            t => File.WriteAllText(Path.Combine(t, "build.log"), "l"),
            // the task staged a change itself, and committed another: the whole tree is reset
            t =>
            {
                File.WriteAllText(Path.Combine(t, "a.txt"), "staged\n");
                Must(t, "add", "a.txt");
                Must(t, "commit", "-q", "-m", "task commit");
                File.WriteAllText(Path.Combine(t, "src/b.txt"), "after\n");
                Must(t, "add", "src/b.txt");
            },
        ];
        var captured = new List<IReadOnlyList<FileChange>>();

        // When each task runs, is captured and reset
        foreach (var task in tasks)
        {
            task(tree);
            captured.Add(pool.Capture(1).Files);
            pool.Reset(1);

            // Then the tree is the start again: nothing modified, untracked or ignored, no folder left behind
            Must(tree, "status", "--porcelain", "--untracked-files=all", "--ignored=matching").ShouldBeEmpty();
            Must(tree, "rev-parse", "HEAD").ShouldBe(Must(Repo, "rev-parse", "HEAD"));
            Directory.Exists(Path.Combine(tree, "new")).ShouldBeFalse();
            Directory.Exists(Path.Combine(tree, "logs")).ShouldBeFalse();
            Directory.Exists(Path.Combine(tree, "src/obj")).ShouldBeFalse();
            File.ReadAllText(Path.Combine(tree, "we*ird [x].txt")).ShouldBe("w\n");
        }

        // And each capture named what its task changed (ignored output is never part of a patch)
        captured[0].Select(f => f.Path).Order(StringComparer.Ordinal).ShouldBe(["a.txt", "new/deep/n.txt", "src/b.txt", "we*ird [x].txt"]);
        captured[1].ShouldBeEmpty();
        captured[2].Select(f => f.Path).Order(StringComparer.Ordinal).ShouldBe(["a.txt", "src/b.txt"]);
    }

    [Fact]
    public void A_copy_of_a_plain_folder_has_no_git_or_herd_folder_and_its_patch_applies_to_the_original()
    {
        Directory.CreateDirectory(Path.Combine(_dir, "plain", ".herd", "runs"));
        File.WriteAllText(Path.Combine(_dir, "plain", "notes.md"), "# Notes\n");
        using var pool = TreePool.Open(IsolationMode.Copy, Path.Combine(_dir, "plain"), RunDir);
        var tree = pool.Acquire(2);
        Directory.Exists(Path.Combine(tree, ".herd")).ShouldBeFalse();
        Directory.Exists(Path.Combine(tree, ".git")).ShouldBeFalse();

        File.AppendAllText(Path.Combine(tree, "notes.md"), "- new\n");
        var (patch, files) = pool.Capture(2);
        files.ShouldBe([new FileChange("notes.md", 1, 0)]);
        pool.Reset(2);
        File.ReadAllText(Path.Combine(tree, "notes.md")).ShouldBe("# Notes\n");

        File.WriteAllBytes(Path.Combine(_dir, "c.patch"), patch);
        Must(Path.Combine(_dir, "plain"), "apply", Path.Combine(_dir, "c.patch"));
        File.ReadAllText(Path.Combine(_dir, "plain", "notes.md")).ShouldBe("# Notes\n- new\n");
    }

    [Fact]
    public void A_pool_left_by_a_dead_session_is_removed_when_the_run_opens_its_pool_again_and_the_start_commit_is_kept()
    {
        MakeRepo(("a.txt", "a\n"));
        var dead = TreePool.Open(IsolationMode.Worktree, Repo, RunDir);
        dead.Acquire(1);
        dead.Acquire(2);
        Must(Repo, "worktree", "list").Split('\n').Length.ShouldBe(3);
        // Not disposed: the process died. A new commit lands meanwhile; the resumed run still starts where it began.
        File.WriteAllText(Path.Combine(Repo, "a.txt"), "later\n");
        Must(Repo, "commit", "-q", "-am", "later");

        using var resumed = TreePool.Open(IsolationMode.Worktree, Repo, RunDir);
        Must(Repo, "worktree", "list").Split('\n').Length.ShouldBe(1);
        resumed.BaseCommit.ShouldBe(dead.BaseCommit);
        File.ReadAllText(Path.Combine(resumed.Acquire(1), "a.txt")).ShouldBe("a\n");
        resumed.Dispose();
        Must(Repo, "worktree", "list").Split('\n').Length.ShouldBe(1);
        Directory.Exists(resumed.Root).ShouldBeFalse();
    }

    [Fact]
    public void Apply_refuses_a_patch_that_touches_ci_configuration_unless_allowed_and_never_half_applies_a_conflict()
    {
        MakeRepo(("a.txt", "a\n"), (".github/workflows/ci.yml", "on: push\n"));
        var ci = Patch("ci", tree => File.WriteAllText(Path.Combine(tree, ".github/workflows/ci.yml"), "on: pull_request\n"));
        var both = Patch("both", tree =>
        {
            File.WriteAllText(Path.Combine(tree, "new.txt"), "n\n");
            File.WriteAllText(Path.Combine(tree, "a.txt"), "b\n");
        });
        var clash = Patch("clash", tree =>
        {
            File.WriteAllText(Path.Combine(tree, "other.txt"), "o\n");
            File.WriteAllText(Path.Combine(tree, "a.txt"), "c\n");
        });
        TaskPatch[] patches = [new(1, ci, "ci"), new(2, both, "both"), new(3, clash, "clash")];

        var results = PatchApplier.Apply(Repo, patches, Patches, new ApplyOptions("r1"));
        results.Select(r => r.Verdict).ShouldBe([ApplyVerdict.Refused, ApplyVerdict.Applied, ApplyVerdict.Conflict]);
        results[0].Files.ShouldBe([".github/workflows/ci.yml"]);
        results[2].Files.ShouldBe(["a.txt"]);
        File.Exists(Path.Combine(Repo, "other.txt")).ShouldBeFalse("a conflicting patch is skipped whole");

        Must(Repo, "checkout", "-q", "--", ".");
        File.Delete(Path.Combine(Repo, "new.txt"));
        var allowed = PatchApplier.Apply(Repo, [patches[0]], Patches, new ApplyOptions("r1", AllowPaths: [".github/workflows/*.yml"]));
        allowed.Single().Verdict.ShouldBe(ApplyVerdict.Applied);
    }

    private PatchFiles Patches => new(Path.Combine(_dir, "patches-run"));

    private string Patch(string name, Action<string> edit)
    {
        using var pool = TreePool.Open(IsolationMode.Worktree, Repo, Path.Combine(_dir, "run-" + name));
        var tree = pool.Acquire(1);
        edit(tree);
        var key = "k-" + name;
        Patches.SavePatch(key, 1, pool.Capture(1).Patch);
        return key;
    }

    public void Dispose()
    {
        try
        {
            Directory.Delete(_dir, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
