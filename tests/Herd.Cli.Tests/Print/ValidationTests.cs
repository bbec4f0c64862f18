using Herd.Testing;

namespace Herd.Cli.Tests.Print;

/// <summary>Spec §1.1: validation errors go to stderr word for word, stdout stays empty, exit 1, no API call.</summary>
public sealed class ValidationTests : HerdTestBase
{
    public static TheoryData<string[], string?, string> Cases => new()
    {
        { ["-p"], null, "Error: Input must be provided either through stdin or as a prompt argument when using --print" },
        { ["-p", "   "], null, "Error: Input contained only whitespace. Provide a prompt with text through stdin or as a prompt argument when using --print" },
        { ["-p"], " \n\t\n", "Error: Input contained only whitespace. Provide a prompt with text through stdin or as a prompt argument when using --print" },
        { ["-p", "hi", "--output-format", "stream-json"], null, "Error: When using --print, --output-format=stream-json requires --verbose" },
        { ["-p", "hi", "--input-format", "stream-json"], null, "Error: --input-format=stream-json requires output-format=stream-json." },
        { ["-p", "hi", "--input-format", "yaml"], null, "Error: Invalid input format \"yaml\"." },
        { ["-p", "hi", "--replay-user-messages", "--output-format", "stream-json", "--verbose"], null, "Error: --replay-user-messages requires both --input-format=stream-json and --output-format=stream-json." },
        { ["-p", "hi", "--include-partial-messages"], null, "Error: --include-partial-messages requires --print and --output-format=stream-json." },
        { ["-p", "hi", "--json-schema", "{not json"], null, "Error: --json-schema is not valid JSON" },
        { ["-p", "hi", "--json-schema", "[1,2]"], null, "Error: --json-schema must be a JSON object" },
        { ["-p", "hi", "--bogus"], null, "error: unknown option '--bogus'" },
        { ["-p", "hi", "--max-turns", "zero"], null, "Error: --max-turns must be a positive whole number (got 'zero')." },
        { ["-p", "hi", "--max-budget-usd", "-1"], null, "Error: --max-budget-usd must be a number of US dollars ≥ 0 (got '-1')." },
        { ["-p", "hi", "--permission-mode", "yolo"], null, "Error: --permission-mode 'yolo' is not one of default, acceptEdits, plan, bypassPermissions, dontAsk." },
        { ["-p", "hi", "--session-id", "not-a-uuid"], null, "Error: Invalid session ID. Must be a valid UUID (got 'not-a-uuid')." },
        { ["-p", "hi", "--system-prompt-file", "/nonexistent/prompt.md"], null, "Error: --system-prompt-file '/nonexistent/prompt.md' does not exist." },
        { ["-p", "hi", "--system-prompt-file", "/tmp"], null, "Error: --system-prompt-file '/tmp' is a directory; pass a text file." },
        { ["-p", "hi", "--append-system-prompt-file", "/tmp"], null, "Error: --append-system-prompt-file '/tmp' is a directory; pass a text file." },
        { ["-p", "hi", "--add-dir", "/nonexistent/dir"], null, "Error: --add-dir '/nonexistent/dir' is not a directory. Pass an existing directory." },
        { ["-p", "hi", "--timeout", "soon"], null, "Error: --timeout 'soon' is not a duration. Use e.g. 90s, 10m, 2h or 1500ms." },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task A_bad_command_line_gets_the_exact_error(string[] args, string? stdin, string expected)
    {
        var run = await Herd.RunAsync(args, stdin);

        run.ExitCode.ShouldBe(1);
        run.Stdout.ShouldBeEmpty();
        run.Stderr.Split('\n')[0].ShouldBe(expected);
        Server.RequestCount.ShouldBe(0);
    }

    [Fact]
    public async Task An_invalid_json_schema_gets_a_diagnostic()
    {
        var run = await Herd.RunAsync("-p", "hi", "--json-schema", """{"type":"object","properties":{"n":{"type":"numbr"}}}""");

        run.ExitCode.ShouldBe(1);
        run.Stderr.ShouldStartWith("Error: --json-schema is not a valid JSON Schema: ");
    }

    [Fact]
    public async Task A_binary_system_prompt_file_is_refused_with_the_flag_named()
    {
        var file = Work.Combine("prompt.bin");
        File.WriteAllBytes(file, [0x7f, 0x45, 0x4c, 0x46, 0x00, 0x01]);

        var run = await Herd.RunAsync("-p", "hi", "--system-prompt-file", file);

        run.ExitCode.ShouldBe(1);
        run.Stderr.Trim().ShouldBe($"Error: --system-prompt-file '{file}' is a binary file; pass a text file.");
        Server.RequestCount.ShouldBe(0);
    }

    [Fact]
    public async Task A_missing_api_key_is_an_error_naming_the_variable()
    {
        var run = await Herd.WithEnvironment("ANTHROPIC_API_KEY", null).RunAsync("-p", "hi");

        run.ExitCode.ShouldBe(1);
        run.Stderr.ShouldContain("ANTHROPIC_API_KEY is not set");
        run.Stdout.ShouldBeEmpty();
    }

    [Fact]
    public async Task A_flag_without_effect_in_herd_warns_and_the_run_goes_on()
    {
        Server.Reset(ModelScript.Replies(Reply.WithText("ok")));

        var run = await Herd.RunAsync("-p", "hi", "--effort", "high", "--betas", "a", "b");

        run.ExitCode.ShouldBe(0);
        run.Stdout.ShouldBe("ok\n");
        run.Stderr.ShouldContain("--effort has no effect");
        run.Stderr.ShouldContain("--betas has no effect");
    }

    [Fact]
    public async Task A_subcommand_name_after_p_is_the_prompt()
    {
        Server.Reset(ModelScript.Replies(Reply.WithText("ok")));

        var run = await Herd.RunAsync("-p", "run");

        run.ExitCode.ShouldBe(0, run.Stderr);
        ((string?)Server.Requests.Single().Json["messages"]![0]!["content"]![0]!["text"]).ShouldBe("run");
    }

    [Fact]
    public async Task Help_lists_the_flags_and_version_prints_herds_version()
    {
        var help = await Herd.RunAsync("--help");
        help.ExitCode.ShouldBe(0);
        help.Stdout.ShouldContain("--output-format");
        help.Stdout.ShouldContain("--allowedTools, --allowed-tools");
        help.Stdout.ShouldContain("ANTHROPIC_API_KEY");
        help.Stdout.ShouldContain("--max-turns"); // Claude Code hides it; Herd's help lists every flag it honours

        var version = await Herd.RunAsync("--version");
        version.ExitCode.ShouldBe(0);
        version.Stdout.ShouldMatch(@"^\d+\.\d+\.\d+ \(Herd\)\n$");
    }

    [Fact]
    public async Task Flags_accept_equals_values_and_comma_lists_outside_parentheses()
    {
        Server.Reset(ModelScript.Replies(Reply.WithText("ok")));

        var run = await Herd.RunAsync("-p", "hi", "--output-format=json", "--allowedTools", "Bash(git log *),Read", "--model=haiku");

        run.ExitCode.ShouldBe(0, run.Stderr);
        ((string?)run.Json["type"]).ShouldBe("result");
        ((string?)Server.Requests.Single().Json["model"]).ShouldBe("claude-haiku-5-5");
    }
}
