using System.Text.Json;
using System.Text.Json.Nodes;
using Herd.Fleet.Isolation;
using Herd.Testing;

namespace Herd.Cli.Tests.Isolation;

/// <summary>
/// `herd run --isolate worktree --verify` and `herd apply`, end to end: the real herd binary, real git repositories in
/// temp folders, the scripted model server answering with Bash tool calls that edit files in the task's tree.
/// </summary>
public sealed class IsolationEndToEndTests : IAsyncLifetime
{
    private readonly TempDirectory _config = new("herd-config");
    private readonly TempDirectory _runs = new("herd-runs");
    private ScriptedModelServer _server = null!;

    public async Task InitializeAsync() => _server = await ScriptedModelServer.StartAsync();

    public async Task DisposeAsync()
    {
        await _server.DisposeAsync();
        _config.Dispose();
        _runs.Dispose();
    }

    private HerdProcess HerdIn(GitRepo repo) => new(_server.BaseUrl, repo.Path, _config.Path);

    private string RunDir => Path.Combine(_runs.Path, "run");

    /// <summary>The task whose prompt holds <paramref name="match"/> runs these shell commands, one turn each, then says done.</summary>
    internal static Conversation Edits(string match, params string[] commands) =>
        new(match, [.. commands.Select(c => Reply.WithTool("Bash", new JsonObject { ["command"] = c })), Reply.WithText("done")]);

    private IReadOnlyList<JsonElement> Records() =>
        File.ReadAllLines(Path.Combine(RunDir, "results.ndjson")).Where(l => l.Length > 0).Select(l => JsonDocument.Parse(l).RootElement.Clone()).ToArray();

    [Fact]
    public async Task Fifty_tasks_run_verified_in_their_own_worktrees_and_land_as_one_branch_with_no_worktree_left()
    {
        // Given a repository of 50 files and a task per file that rewrites it
        var names = Enumerable.Range(1, 50).Select(i => $"m{i:D2}").ToArray();
        using var repo = new GitRepo(names.ToDictionary(n => $"src/{n}.txt", n => $"old {n}\n"));
        _server.Reset(new ModelScript { Conversations = names.Select(n => Edits($"Migrate {n}.", $"printf 'new {n}\\n' > src/{n}.txt")).ToArray() });

        // When they run 4 at a time, each isolated and verified
        var run = await HerdIn(repo).RunAsync(["run", "-j", "4", "--isolate", "worktree", "--verify", "grep -q '^new {}$' src/{}.txt", "--allowedTools", "Bash", "--permission-mode", "acceptEdits",
            "--prompt", "Migrate {}.", "--run-dir", RunDir, "--progress", "none", ":::", .. names], timeout: TimeSpan.FromSeconds(120));

        // Then every task succeeded with its verified one-file patch, and the repository itself is untouched
        run.ExitCode.ShouldBe(0, run.ToString());
        var records = Records();
        records.Count.ShouldBe(50);
        foreach (var r in records)
        {
            r.GetProperty("outcome").GetProperty("class").GetString().ShouldBe("success", r.ToString());
            var changes = r.GetProperty("changes");
            changes.GetProperty("files_changed").GetInt32().ShouldBe(1);
            changes.GetProperty("lines_added").GetInt32().ShouldBe(1);
            changes.GetProperty("lines_removed").GetInt32().ShouldBe(1);
            File.Exists(Path.Combine(RunDir, changes.GetProperty("patch").GetString()!)).ShouldBeTrue();
            r.GetProperty("verify").GetProperty("passed").GetBoolean().ShouldBeTrue();
            r.GetProperty("verify").GetProperty("fix_rounds").GetInt32().ShouldBe(0);
        }
        repo.Read("src/m07.txt").ShouldBe("old m07\n");
        repo.Worktrees().Count.ShouldBe(1, "the pool is removed at the end of the run");
        Directory.Exists(TreePool.PoolRoot(RunDir)).ShouldBeFalse();

        // And herd apply lands all 50 as one commit per task on a new branch
        var apply = await HerdIn(repo).RunAsync("apply", RunDir, "--branch", "herd/migrated", "--commit-per-task");
        apply.ExitCode.ShouldBe(0, apply.ToString());
        repo.Git("rev-list", "--count", "main..herd/migrated").Trim().ShouldBe("50");
        repo.Read("src/m07.txt").ShouldBe("new m07\n");
        repo.Git("log", "-1", "--format=%B").ShouldContain("of run run");
    }

    [Fact]
    public async Task Two_tasks_that_edit_one_file_both_succeed_and_apply_lands_the_first_and_reports_the_second_as_a_conflict()
    {
        // Given two tasks that each rewrite the same file
        using var repo = new GitRepo(new Dictionary<string, string> { ["shared.txt"] = "base\n", ["other.txt"] = "x\n" });
        _server.Reset(new ModelScript { Conversations = [Edits("Task alpha", "printf 'alpha\\n' > shared.txt"), Edits("Task beta", "printf 'beta\\n' > shared.txt")] });
        var run = await HerdIn(repo).RunAsync("run", "-j", "2", "--isolate", "worktree", "--allowedTools", "Bash", "--permission-mode", "acceptEdits", "--prompt", "Task {}", "--run-dir", RunDir, "--progress", "none", ":::", "alpha", "beta");
        run.ExitCode.ShouldBe(0, run + File.ReadAllText(Path.Combine(RunDir, "results.ndjson")));

        // When herd apply checks, then applies to the working tree
        var check = await HerdIn(repo).RunAsync("apply", RunDir, "--check");
        var apply = await HerdIn(repo).RunAsync("apply", RunDir);

        // Then the first lands, the second is skipped and named with its file, and the tree holds no half of it
        check.ExitCode.ShouldBe(1, check.ToString());
        check.Stdout.ShouldContain("would-apply\t");
        check.Stdout.ShouldContain("conflict\t");
        repo.Read("shared.txt").ShouldBe("alpha\n", "check changes nothing but the apply after it");
        apply.ExitCode.ShouldBe(1, apply.ToString());
        var lines = apply.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        lines.ShouldContain(l => l.StartsWith("applied\t", StringComparison.Ordinal) && l.Contains("alpha") && l.EndsWith("shared.txt"));
        lines.ShouldContain(l => l.StartsWith("conflict\t", StringComparison.Ordinal) && l.Contains("beta") && l.EndsWith("shared.txt"));
        apply.Stderr.ShouldContain("conflict: task 'beta' (shared.txt)");
        repo.Git("status", "--porcelain").Trim().ShouldBe("M shared.txt");
    }

    [Fact]
    public async Task A_failing_verify_goes_back_to_the_same_session_and_the_fix_round_makes_it_pass()
    {
        // Given an agent whose first edit is wrong, and whose conversation goes on after the verify output comes back
        using var repo = new GitRepo(new Dictionary<string, string> { ["x.txt"] = "start\n" });
        _server.Reset(new ModelScript
        {
            Conversations = [new Conversation("Fix x", [
                Reply.WithTool("Bash", new JsonObject { ["command"] = "printf 'broken\\n' > x.txt" }),
                Reply.WithText("done"),
                Reply.WithTool("Bash", new JsonObject { ["command"] = "printf 'fixed\\n' > x.txt" }),
                Reply.WithText("fixed now"),
            ])],
        });

        var run = await HerdIn(repo).RunAsync("run", "--isolate", "worktree", "--verify", "echo checking; grep -q fixed x.txt || { echo 'x.txt is not fixed'; exit 3; }",
            "--allowedTools", "Bash", "--permission-mode", "acceptEdits", "--prompt", "Fix x", "--run-dir", RunDir, "--progress", "none", ":::", "one");

        // Then the second verification passed after one fix round in the same conversation
        run.ExitCode.ShouldBe(0, run.ToString());
        var record = Records().Single();
        record.GetProperty("outcome").GetProperty("class").GetString().ShouldBe("success");
        var verify = record.GetProperty("verify");
        verify.GetProperty("runs").GetInt32().ShouldBe(2);
        verify.GetProperty("fix_rounds").GetInt32().ShouldBe(1);
        record.GetProperty("num_turns").GetInt32().ShouldBeGreaterThanOrEqualTo(4);
        var feedback = _server.Requests.Select(r => r.Body).First(b => b.Contains("x.txt is not fixed", StringComparison.Ordinal));
        feedback.ShouldContain("The verification command failed");
        feedback.ShouldContain("broken", customMessage: "the fix round continues the conversation that made the first edit");
        File.ReadAllText(Path.Combine(RunDir, record.GetProperty("changes").GetProperty("patch").GetString()!)).ShouldContain("+fixed");

        // And herd runs show and the Markdown report say what changed and how verification went
        var show = await HerdIn(repo).RunAsync("runs", "show", RunDir);
        show.Stdout.ShouldContain("changes    1 task(s) changed 1 file(s), +1 -1");
        show.Stdout.ShouldContain("verify passed (2 run(s), 1 fix round(s))");
        var markdown = await HerdIn(repo).RunAsync("report", RunDir, "--format", "markdown");
        markdown.Stdout.ShouldContain("### Changes (1 task(s) changed 1 file(s), +1 −1)");
        markdown.Stdout.ShouldContain("| one | `success` | 1 | 1 | 1 | passed, 2 run(s), 1 fix round(s) |");
        show.Stdout.ShouldContain("verify     1 passed, 0 failed; 1 fix round(s)");

        // And herd report --format patch lists the patch that would land, after a line naming its task
        var patch = await HerdIn(repo).RunAsync("report", RunDir, "--format", "patch");
        patch.ExitCode.ShouldBe(0, patch.ToString());
        var lines = patch.Stdout.Split('\n');
        lines[0].ShouldStartWith("# herd: task one (");
        lines[0].ShouldEndWith("of run run: 1 file(s), +1 -1");
        patch.Stdout.ShouldContain("+fixed");
        patch.Stderr.ShouldContain("1 patch(es) would land");
    }

    [Fact]
    public async Task A_verify_that_still_fails_after_the_fix_rounds_is_verify_failed_and_its_patch_is_not_applied()
    {
        using var repo = new GitRepo(new Dictionary<string, string> { ["x.txt"] = "start\n" });
        _server.Reset(new ModelScript { Default = Reply.WithText("nothing to do") });

        var run = await HerdIn(repo).RunAsync("run", "--isolate", "worktree", "--verify", "echo 'still failing'; exit 1", "--verify-retries", "1",
            "--prompt", "Do {}", "--run-dir", RunDir, "--progress", "none", ":::", "one");

        run.ExitCode.ShouldBe(1, run.ToString());
        var record = Records().Single();
        record.GetProperty("outcome").GetProperty("class").GetString().ShouldBe("verify_failed");
        record.GetProperty("verify").GetProperty("runs").GetInt32().ShouldBe(2);
        record.GetProperty("verify").GetProperty("output_tail").GetString().ShouldBe("still failing");
        var apply = await HerdIn(repo).RunAsync("apply", RunDir, "--check");
        apply.ExitCode.ShouldBe(0, apply.ToString());
        apply.Stdout.ShouldBeEmpty();
        var patch = await HerdIn(repo).RunAsync("report", RunDir, "--format", "patch");
        patch.Stdout.ShouldBeEmpty("a verify_failed task's patch never lands");

        // And herd runs show and report.html show the failed verification with the end of its output
        var show = await HerdIn(repo).RunAsync("runs", "show", RunDir);
        show.Stdout.ShouldContain("verify     0 passed, 1 failed; 1 fix round(s)");
        show.Stdout.ShouldContain("      last verify output: still failing");
        await using var browser = await Herd.Cli.Tests.Reports.HeadlessChromium.StartAsync();
        await browser.OpenAsync(new Uri(Path.Combine(RunDir, "report.html")).AbsoluteUri);
        await browser.WaitForAsync("document.body.getAttribute('data-ready') === '1'");
        browser.Errors.ShouldBeEmpty();
        (await Herd.Cli.Tests.Reports.HtmlReportBrowserTests.Count(browser, "#changes-table tbody tr")).ShouldBe(1);
        var row = (await browser.EvaluateAsync("document.querySelector('#changes-table tbody tr').textContent"))!.GetValue<string>();
        row.ShouldContain("verify_failed");
        row.ShouldContain("failed, 2 run(s), 1 fix round(s)");
        row.ShouldContain("still failing");
    }

    [Fact]
    public async Task After_kill_9_mid_run_resume_removes_the_dead_pool_and_finishes_with_no_stray_worktree()
    {
        // Given a slow isolated run of 24 tasks, killed with SIGKILL while its pool is in use
        var names = Enumerable.Range(1, 24).Select(i => $"k{i:D2}").ToArray();
        using var repo = new GitRepo(names.ToDictionary(n => $"{n}.txt", n => "old\n"));
        _server.Reset(new ModelScript { LatencyMs = 150, Conversations = names.Select(n => Edits($"Edit {n}.", $"printf 'new\\n' > {n}.txt")).ToArray() });
        string[] argv = ["run", "-j", "3", "--isolate", "worktree", "--verify", "grep -q new {}.txt", "--allowedTools", "Bash", "--permission-mode", "acceptEdits",
            "--prompt", "Edit {}.", "--run-dir", RunDir, "--progress", "none", ":::", .. names];
        var results = Path.Combine(RunDir, "results.ndjson");
        using (var first = HerdIn(repo).Start(argv))
        {
            var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
            while (CountLines(results) < 4 && DateTime.UtcNow < deadline && !first.HasExited)
                await Task.Delay(25);
            first.HasExited.ShouldBeFalse("the run must still be going when it is killed");
            first.Kill(entireProcessTree: true);
            await first.WaitForExitAsync();
        }
        repo.Worktrees().Count.ShouldBeGreaterThan(1, "the dead run's pool is still registered");

        // When the run is resumed
        var resumed = await HerdIn(repo).RunAsync(["run", "--resume", "--run-dir", RunDir, "--progress", "none"], timeout: TimeSpan.FromSeconds(120));

        // Then every task is done once, and only the repository itself is left in git's worktree list
        resumed.ExitCode.ShouldBe(0, resumed.ToString());
        var records = Records();
        records.Select(r => r.GetProperty("key").GetString()).Distinct().Count().ShouldBe(24);
        records.ShouldAllBe(r => r.GetProperty("outcome").GetProperty("class").GetString() == "success");
        repo.Worktrees().ShouldBe([repo.Path]);
        Directory.Exists(TreePool.PoolRoot(RunDir)).ShouldBeFalse();
        Directory.EnumerateFiles(Path.Combine(repo.Path, ".git"), "*.lock", SearchOption.AllDirectories).ShouldBeEmpty();
        var apply = await HerdIn(repo).RunAsync("apply", RunDir, "--check");
        apply.ExitCode.ShouldBe(0, apply.ToString());
        apply.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Length.ShouldBe(24);
    }

    private static int CountLines(string path)
    {
        try
        {
            return File.Exists(path) ? File.ReadAllLines(path).Count(l => l.Length > 0) : 0;
        }
        catch (IOException)
        {
            return 0;
        }
    }
}
