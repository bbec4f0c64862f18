using System.Diagnostics;
using Herd.Fleet.Isolation;
using Herd.Testing;

namespace Herd.Cli.Tests.Isolation;

/// <summary>
/// A migration on a shared run, end to end: enqueued in PostgreSQL from one repository, worked by two real
/// <c>herd worker</c> processes in two clones of it (two machines, as far as herd can tell), each with its own pool of
/// worktrees at the run's pinned commit, and landed by <c>herd apply --store</c> from a third clone — the patches
/// come from the store, not from any worker's disk.
/// </summary>
public sealed class SharedIsolationEndToEndTests : IAsyncLifetime
{
    internal static string StoreUrl => Environment.GetEnvironmentVariable("HERD_TEST_PG") is { Length: > 0 } url ? url : "postgres://herd_test:herd_test@127.0.0.1:5432/herd_test";

    private readonly TempDirectory _config = new("herd-config");
    private readonly TempDirectory _machines = new("herd-machines");
    private ScriptedModelServer _server = null!;

    public async Task InitializeAsync() => _server = await ScriptedModelServer.StartAsync();

    public async Task DisposeAsync()
    {
        await _server.DisposeAsync();
        _config.Dispose();
        _machines.Dispose();
    }

    private HerdProcess HerdIn(string directory) => new HerdProcess(_server.BaseUrl, directory, _config.Path).WithEnvironment("HERD_STORE", null);

    private string Clone(GitRepo origin, string name)
    {
        var path = _machines.Combine(name);
        origin.Git("clone", "-q", origin.Path, path);
        return path;
    }

    private static Conversation Edits(string match, params string[] commands) => IsolationEndToEndTests.Edits(match, commands);

    [Fact]
    public async Task Fifty_tasks_enqueued_and_worked_by_two_workers_in_two_clones_land_from_the_store_as_one_branch_with_the_conflict_reported()
    {
        // Given a repository of 50 files, cloned onto two worker machines before the commit the migration starts from
        var names = Enumerable.Range(1, 50).Select(i => $"m{i:D2}").ToArray();
        using var origin = new GitRepo(names.ToDictionary(n => $"src/{n}.txt", n => $"old {n}\n"));
        var workerA = Clone(origin, "worker-a");
        var workerB = Clone(origin, "worker-b");
        File.WriteAllText(Path.Combine(origin.Path, "README"), "migrating\n");
        origin.Git("add", "README");
        origin.Git("commit", "-q", "-m", "the migration's base");
        var baseCommit = origin.Git("rev-parse", "HEAD").Trim();
        // Each task rewrites its own file; the last one also rewrites the first one's, so one patch must conflict.
        _server.Reset(new ModelScript
        {
            Conversations = names.Select(n => n == "m50"
                ? Edits("Migrate m50.", "printf 'new m50\\n' > src/m50.txt && printf 'clash\\n' > src/m01.txt")
                : Edits($"Migrate {n}.", $"printf 'new {n}\\n' > src/{n}.txt")).ToArray(),
        });
        var runId = $"mig-{Guid.NewGuid():N}"[..20];

        // When the run is enqueued from the repository, isolated and verified
        var enqueue = await HerdIn(origin.Path).RunAsync(timeout: TimeSpan.FromMinutes(2), args: ["run", "--store", StoreUrl, "--enqueue", "--isolate", "worktree", "--verify", "grep -q '^new {}$' src/{}.txt",
            "--allowedTools", "Bash", "--permission-mode", "acceptEdits", "--prompt", "Migrate {}.", "--run-dir", runId, "--progress", "none", ":::", .. names]);
        enqueue.ExitCode.ShouldBe(0, enqueue.ToString());

        // And two workers, one in each clone, work it at the same time
        var workers = new[] { workerA, workerB }.Select(dir => Started(HerdIn(dir).Start(["worker", "--store", StoreUrl, "--run", runId, "-j", "2"]))).ToArray();
        var ended = new List<(int Exit, string Stderr)>();
        foreach (var w in workers)
            ended.Add(await w.EndAsync(TimeSpan.FromMinutes(4)));

        // Then both took part, each from its own pool at the pinned commit (fetched: the clones were made before it)
        foreach (var (exit, stderr) in ended)
        {
            exit.ShouldBe(0, stderr);
            stderr.ShouldContain("the run is finished");
            stderr.ShouldNotContain(" 0 attempt(s)");
        }
        foreach (var dir in new[] { workerA, workerB })
        {
            Git(dir, "cat-file", "-e", baseCommit + "^{commit}").ShouldBe(0, "the worker fetched the run's starting commit");
            Worktrees(dir).ShouldBe([dir], "no worktree is left when the worker ends");
            Directory.Exists(Path.GetDirectoryName(TreePool.PoolRoot(Path.Combine(dir, ".herd", "runs", runId)))).ShouldBeTrue();
            Directory.EnumerateDirectories(Path.GetDirectoryName(TreePool.PoolRoot(Path.Combine(dir, ".herd", "runs", runId)))!, Path.GetFileName(TreePool.PoolRoot(Path.Combine(dir, ".herd", "runs", runId))) + "*")
                .ShouldBeEmpty("the worker's pool is removed when it ends");
            Directory.Exists(Path.Combine(dir, ".herd", "runs", runId, "patches")).ShouldBeFalse("a shared run's patches are in the store");
        }

        // And herd apply, from a third clone, reads the patches from the store and lands them as one branch
        var applier = Clone(origin, "reviewer");
        var check = await HerdIn(applier).RunAsync(["apply", runId, "--store", StoreUrl, "--check"], timeout: TimeSpan.FromMinutes(3));
        var apply = await HerdIn(applier).RunAsync(["apply", runId, "--store", StoreUrl, "--branch", "herd/migrated"], timeout: TimeSpan.FromMinutes(3));
        check.ExitCode.ShouldBe(1, check.ToString());
        check.Stdout.Split('\n').Count(l => l.StartsWith("would-apply\t", StringComparison.Ordinal)).ShouldBe(49);
        apply.ExitCode.ShouldBe(1, apply.ToString());
        var lines = apply.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        lines.Count(l => l.StartsWith("applied\t", StringComparison.Ordinal)).ShouldBe(49);
        lines.ShouldContain(l => l.StartsWith("conflict\t", StringComparison.Ordinal) && l.Contains("\tm50\t") && l.EndsWith("src/m01.txt"));
        apply.Stderr.ShouldContain("conflict: task 'm50' (src/m01.txt)");
        GitOut(applier, "rev-list", "--count", baseCommit + "..herd/migrated").ShouldBe("1");
        File.ReadAllText(Path.Combine(applier, "src/m01.txt")).ShouldBe("new m01\n");
        File.ReadAllText(Path.Combine(applier, "src/m49.txt")).ShouldBe("new m49\n");
        File.ReadAllText(Path.Combine(applier, "src/m50.txt")).ShouldBe("old m50\n", "the conflicting patch is skipped whole");
        GitOut(applier, "status", "--porcelain").ShouldBeEmpty();

        // And herd report --format patch lists all 50 patches from the store, in task order
        var series = await HerdIn(applier).RunAsync(["report", runId, "--store", StoreUrl, "--format", "patch"], timeout: TimeSpan.FromMinutes(2));
        series.ExitCode.ShouldBe(0, series.ToString());
        var headers = series.Stdout.Split('\n').Where(l => l.StartsWith("# herd: task ", StringComparison.Ordinal)).ToArray();
        headers.Select(h => h["# herd: task ".Length..].Split(' ')[0]).ShouldBe(names);
        series.Stdout.ShouldContain("+clash");

        // And herd runs show --store sums up the changes and verification, and an export brings the patches along
        var show = await HerdIn(applier).RunAsync("runs", "show", runId, "--store", StoreUrl);
        show.Stdout.ShouldContain("changes    50 task(s) changed 51 file(s), +51 -51");
        show.Stdout.ShouldContain("verify     50 passed, 0 failed; 0 fix round(s)");
        var export = await HerdIn(applier).RunAsync("runs", "export", runId, "--store", StoreUrl, "--out", _machines.Combine("export"));
        export.ExitCode.ShouldBe(0, export.ToString());
        Git(applier, "switch", "-q", "--detach", baseCommit).ShouldBe(0);
        var local = await HerdIn(applier).RunAsync(["apply", _machines.Combine("export"), "--check"], timeout: TimeSpan.FromMinutes(3));
        local.Stdout.Split('\n').Count(l => l.StartsWith("would-apply\t", StringComparison.Ordinal)).ShouldBe(49, local.ToString());
    }

    [Fact]
    public async Task A_worker_in_a_repository_that_lacks_the_runs_starting_commit_says_so_in_one_line()
    {
        // Given a run enqueued from one repository, and an unrelated repository with no way to fetch its commit
        using var origin = new GitRepo(new Dictionary<string, string> { ["a.txt"] = "a\n" });
        using var stranger = new GitRepo(new Dictionary<string, string> { ["b.txt"] = "b\n" });
        _server.Reset(new ModelScript { Default = Reply.WithText("the model must not be asked") });
        var runId = $"mig-{Guid.NewGuid():N}"[..20];
        var enqueue = await HerdIn(origin.Path).RunAsync("run", "--store", StoreUrl, "--enqueue", "--isolate", "worktree", "--prompt", "Do {}", "--run-dir", runId, "--progress", "none", ":::", "one");
        enqueue.ExitCode.ShouldBe(0, enqueue.ToString());
        var pinned = origin.Git("rev-parse", "HEAD").Trim();

        // When a worker starts there
        var worker = await HerdIn(stranger.Path).RunAsync(["worker", "--store", StoreUrl, "--run", runId], timeout: TimeSpan.FromMinutes(1));

        // Then it refuses in one line that names the commit and the fix, and the task was not claimed
        worker.ExitCode.ShouldBe(255, worker.ToString());
        var lines = worker.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        lines.ShouldHaveSingleItem(worker.Stderr);
        lines[0].ShouldStartWith("Error: the run's tasks start at commit " + pinned);
        lines[0].ShouldContain("git fetch");
        _server.Requests.ShouldBeEmpty();
    }

    private sealed record StartedProcess(Process Process, Task<string> Stdout, Task<string> Stderr)
    {
        public async Task<(int Exit, string Stderr)> EndAsync(TimeSpan timeout)
        {
            using var cts = new CancellationTokenSource(timeout);
            try
            {
                await Process.WaitForExitAsync(cts.Token);
            }
            catch (OperationCanceledException)
            {
                Process.Kill(entireProcessTree: true);
                throw new TimeoutException("herd worker did not end in " + timeout + ": " + await Stderr);
            }
            await Stdout;
            return (Process.ExitCode, await Stderr);
        }
    }

    private static StartedProcess Started(Process p) => new(p, p.StandardOutput.ReadToEndAsync(), p.StandardError.ReadToEndAsync());

    private static int Git(string dir, params string[] args) => GitRepo.GitIn(dir, args).Exit;

    private static string GitOut(string dir, params string[] args) => GitRepo.GitIn(dir, args).Output.Trim();

    private static IReadOnlyList<string> Worktrees(string dir) => GitRepo.WorktreesOf(dir);
}
