using Herd.Fleet.Engines;
using Herd.Testing;

using Herd.Cli.Tests.Run;

namespace Herd.Cli.Tests.Engines;

/// <summary><c>herd run --engine cmd --cmd TEMPLATE</c> end to end: real bash processes, real run directory.</summary>
public sealed class CommandEngineTests
{
    [Fact]
    public async Task An_input_named_a_semicolon_touch_x_is_one_quoted_argument_and_runs_nothing()
    {
        // Given inputs that would run commands if substituted unquoted
        await using var h = await FleetHarness.StartAsync(new ModelScript());
        string[] inputs = ["a;touch x", "$(touch y)", "it's `touch z`"];

        // When each is echoed by a cmd template
        var exit = await h.RunAsync(["--engine", "cmd", "--cmd", "printf '%s\\n' {}", "--prompt", "p {}", "--run-dir", "run", "--progress", "none", ":::", .. inputs]);

        // Then each value arrived as one literal argument, and nothing else ran
        exit.ShouldBe(0, h.Err.ToString());
        var records = h.Records();
        records.Select(r => r.GetProperty("Stdout").GetString()).OrderBy(s => s).ShouldBe(inputs.OrderBy(s => s));
        File.Exists(Path.Combine(h.Dir, "x")).ShouldBeFalse();
        File.Exists(Path.Combine(h.Dir, "y")).ShouldBeFalse();
        File.Exists(Path.Combine(h.Dir, "z")).ShouldBeFalse();
        records[0].GetProperty("engine").GetString().ShouldBe("cmd");
        records[0].GetProperty("Command").GetString()!.ShouldStartWith("printf '%s\\n' ");
    }

    [Fact]
    public async Task A_template_without_prompt_runs_like_GNU_parallel_with_no_prompt_given()
    {
        // Given two files, and a template that never uses {prompt}
        await using var h = await FleetHarness.StartAsync(new ModelScript());
        await File.WriteAllTextAsync(Path.Combine(h.Dir, "a.py"), "1\n2\n");
        await File.WriteAllTextAsync(Path.Combine(h.Dir, "b.py"), "1\n");

        // When it runs as a GNU parallel user writes it: no --prompt
        var exit = await h.RunAsync("--engine", "cmd", "--cmd", "wc -l < {}", "--run-dir", "run", "--progress", "none", ":::", "a.py", "b.py");

        // Then each file was counted
        exit.ShouldBe(0, h.Err.ToString());
        h.Records().Select(r => r.GetProperty("Stdout").GetString()!.Trim()).Order().ShouldBe(["1", "2"]);
    }

    [Fact]
    public async Task A_template_that_uses_prompt_still_needs_one()
    {
        await using var h = await FleetHarness.StartAsync(new ModelScript());

        var exit = await h.RunAsync("--engine", "cmd", "--cmd", "my-agent --prompt {prompt} {}", "--run-dir", "run", "--progress", "none", ":::", "a.py");

        exit.ShouldBe(255);
        h.Err.ToString().ShouldContain("no prompt");
    }

    [Fact]
    public void GNU_parallel_replacement_strings_and_prompt_are_substituted_quoted()
    {
        // Given a task for the input dir/my file.txt
        var task = new Herd.Fleet.Jobs.FleetTask(7, "k", "dir/my file.txt", "Fix it", ["dir/my file.txt"], new Dictionary<string, string>(), Herd.Fleet.Jobs.TaskCaps.None);
        var attempt = new TaskAttempt(task, 1, 3, "Fix 'it'", "s", null, null);

        // When the template is rendered
        var rendered = CommandEngine.Render("run {} {.} {/} {//} {/.} {#} {%} {prompt}", attempt);

        // Then every value is quoted as GNU parallel quotes it; plain values stay bare
        rendered.ShouldBe("run 'dir/my file.txt' 'dir/my file' 'my file.txt' dir 'my file' 7 3 'Fix '\\''it'\\'''");
    }

    [Fact]
    public async Task Exit_codes_decide_the_outcome_and_stderr_is_captured()
    {
        // Given a command that fails for one input
        await using var h = await FleetHarness.StartAsync(new ModelScript());

        // When it runs with no retries
        var exit = await h.RunAsync("--engine", "cmd", "--cmd", "if [ {} = bad ]; then echo broken >&2; exit 3; fi; echo ok {}",
            "--prompt", "p", "--retries", "0", "--run-dir", "run", "--progress", "none", ":::", "good", "bad");

        // Then one task failed with the command's own exit code and stderr
        exit.ShouldBe(1, h.Err.ToString());
        var bad = h.Records().Single(r => r.GetProperty("task").GetString() == "bad");
        bad.GetProperty("Exitval").GetInt32().ShouldBe(3);
        bad.GetProperty("Stderr").GetString()!.ShouldContain("broken");
        bad.GetProperty("outcome").GetProperty("class").GetString().ShouldBe("crash");
        var good = h.Records().Single(r => r.GetProperty("task").GetString() == "good");
        good.GetProperty("Stdout").GetString().ShouldBe("ok good");
        good.GetProperty("outcome").GetProperty("class").GetString().ShouldBe("success");
    }

    [Fact]
    public async Task Result_json_takes_the_last_JSON_object_line_of_stdout_as_the_result()
    {
        // Given a script that logs, then prints its result as JSON
        await using var h = await FleetHarness.StartAsync(new ModelScript());
        const string cmd = "echo working on {}; echo '{\"result\":\"done '{}'\",\"session_id\":\"s-'{}'\",\"num_turns\":4,\"cost_usd\":0.25,\"usage\":{\"input_tokens\":10,\"output_tokens\":5}}'";

        // When it runs with --result-json
        var exit = await h.RunAsync("--engine", "cmd", "--cmd", cmd, "--result-json", "--prompt", "p", "--run-dir", "run", "--progress", "none", ":::", "t1");

        // Then the JSON object fills the record like an agent's result
        exit.ShouldBe(0, h.Err.ToString());
        var r = h.Records().Single();
        r.GetProperty("Stdout").GetString().ShouldBe("done t1");
        r.GetProperty("session_id").GetString().ShouldBe("s-t1");
        r.GetProperty("num_turns").GetInt32().ShouldBe(4);
        r.GetProperty("cost_usd").GetDouble().ShouldBe(0.25);
        r.GetProperty("tokens").GetProperty("input").GetInt64().ShouldBe(10);
        r.GetProperty("structured_output").GetProperty("num_turns").GetInt32().ShouldBe(4);
    }

    [Fact]
    public async Task Result_json_without_a_JSON_line_is_no_structured_output()
    {
        await using var h = await FleetHarness.StartAsync(new ModelScript());

        var exit = await h.RunAsync("--engine", "cmd", "--cmd", "echo plain text {}", "--result-json", "--retries", "0", "--prompt", "p", "--run-dir", "run", "--progress", "none", ":::", "t1");

        exit.ShouldBe(1);
        h.Records().Single().GetProperty("outcome").GetProperty("class").GetString().ShouldBe("no_structured_output");
    }

    [Fact]
    public async Task A_silent_command_is_a_hang_after_idle_timeout_and_its_whole_process_tree_is_stopped()
    {
        // Given a command whose background child would outlive it
        await using var h = await FleetHarness.StartAsync(new ModelScript());
        var marker = "herd-idle-" + Guid.NewGuid().ToString("N")[..8];

        // When it prints nothing for longer than --idle-timeout
        var exit = await h.RunAsync("--engine", "cmd", "--cmd", $": {{}}; (exec -a {marker} sleep 60) & exec -a {marker} sleep 60", "--idle-timeout", "500ms",
            "--retries", "0", "--prompt", "p", "--run-dir", "run", "--progress", "none", ":::", "t1");

        // Then the attempt is classified hang and no process of it is left
        exit.ShouldBe(1, h.Err.ToString());
        var r = h.Records().Single();
        r.GetProperty("outcome").GetProperty("class").GetString().ShouldBe("hang");
        r.GetProperty("Exitval").GetInt32().ShouldBe(-1);
        Clis.Alive(marker).ShouldBeEmpty();
    }

    [Fact]
    public async Task A_command_over_its_timeout_is_a_timeout()
    {
        await using var h = await FleetHarness.StartAsync(new ModelScript());

        var exit = await h.RunAsync("--engine", "cmd", "--cmd", "while true; do echo tick {}; sleep 0.1; done", "--timeout", "700ms",
            "--retries", "0", "--prompt", "p", "--run-dir", "run", "--progress", "none", ":::", "t1");

        exit.ShouldBe(1, h.Err.ToString());
        h.Records().Single().GetProperty("outcome").GetProperty("class").GetString().ShouldBe("timeout");
    }

    [Fact]
    public async Task Ctrl_C_stops_every_child_process_tree_and_leaves_the_run_resumable()
    {
        // Given four long tasks, each with a background child
        await using var h = await FleetHarness.StartAsync(new ModelScript());
        var marker = "herd-ctrlc-" + Guid.NewGuid().ToString("N")[..8];
        using var cancel = new CancellationTokenSource();
        h.Cancel = cancel.Token;
        var cmd = $"if [ -f {h.Dir}/second ]; then echo resumed {{}}; else (exec -a {marker} sleep 60) & exec -a {marker} sleep 60; fi";

        // When the run is interrupted once all of them run
        var run = h.RunAsync("--engine", "cmd", "--cmd", cmd, "-j", "4", "--prompt", "p", "--run-dir", "run", "--progress", "none", ":::", "a", "b", "c", "d");
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (Clis.Alive(marker).Count < 8 && DateTime.UtcNow < deadline)
            await Task.Delay(20);
        Clis.Alive(marker).Count.ShouldBe(8);
        await cancel.CancelAsync();
        var exit = await run.WaitAsync(TimeSpan.FromSeconds(30));

        // Then it exits 130 with no child left, and --resume finishes every task
        exit.ShouldBe(130, h.Err.ToString());
        Clis.Alive(marker).ShouldBeEmpty();
        await File.WriteAllTextAsync(Path.Combine(h.Dir, "second"), "");
        h.Cancel = CancellationToken.None;
        var resumed = await h.RunAsync("--resume", "--run-dir", "run", "--progress", "none");
        resumed.ShouldBe(0, h.Err.ToString());
        h.Records().Select(r => r.GetProperty("Stdout").GetString()).OrderBy(s => s).ShouldBe(["resumed a", "resumed b", "resumed c", "resumed d"]);
    }
}
