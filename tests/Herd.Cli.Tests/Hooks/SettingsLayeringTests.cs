using System.Text.Json.Nodes;
using Herd.Cli.Tests.Permissions;
using Herd.Testing;

namespace Herd.Cli.Tests.Hooks;

/// <summary>
/// Claude Code's settings layers — user, project, local, <c>--settings</c> — as herd reads them: hooks of every layer
/// run, each <c>env</c> variable comes from the highest layer that sets it, and <c>--setting-sources</c> picks layers.
/// </summary>
public sealed class SettingsLayeringTests : IDisposable
{
    private readonly PermissionsHerdRunner _herd = new();

    public void Dispose() => _herd.Dispose();

    private string Log => Path.Combine(_herd.Root, "layers.log");

    /// <summary>A layer whose SessionStart hook appends its name and the variables it sees to the log.</summary>
    private string Layer(string name, JsonObject? env = null)
    {
        var settings = new JsonObject
        {
            ["hooks"] = new JsonObject
            {
                ["SessionStart"] = new JsonArray(new JsonObject
                {
                    ["hooks"] = new JsonArray(new JsonObject { ["type"] = "command", ["command"] = $"echo \"{name} A=$LAYER_A B=$LAYER_B\" >> {Log}" }),
                }),
            },
        };
        if (env is not null)
            settings["env"] = env;
        return settings.ToJsonString();
    }

    private void WriteUser(string json)
    {
        var dir = Path.Combine(_herd.Root, "claude-config");
        Directory.CreateDirectory(dir);
        File.WriteAllText(Path.Combine(dir, "settings.json"), json);
    }

    private string[] Logged() => File.ReadAllLines(Log).Order(StringComparer.Ordinal).ToArray();

    [Fact]
    public async Task Hooks_of_every_layer_run_and_env_comes_from_the_highest_layer_that_sets_it()
    {
        WriteUser(Layer("user", new JsonObject { ["LAYER_A"] = "user", ["LAYER_B"] = "user" }));
        _herd.WriteFile(".claude/settings.json", Layer("project", new JsonObject { ["LAYER_A"] = "project", ["LAYER_B"] = "project" }));
        _herd.WriteFile(".claude/settings.local.json", Layer("local", new JsonObject { ["LAYER_A"] = "local" }));
        await using var server = await ScriptedModelServer.StartAsync(ModelScript.Replies(Reply.WithText("done")));

        var run = await _herd.RunAsync(server, "-p", "go", "--output-format", "json", "--settings", Layer("flag", new JsonObject { ["LAYER_B"] = "flag" }));

        run.ExitCode.ShouldBe(0, run.ToString());
        Logged().ShouldBe(["flag A=local B=flag", "local A=local B=flag", "project A=local B=flag", "user A=local B=flag"]);
    }

    [Fact]
    public async Task Setting_sources_leaves_out_the_layers_it_does_not_name_but_never_the_settings_flag()
    {
        WriteUser(Layer("user", new JsonObject { ["LAYER_A"] = "user" }));
        _herd.WriteFile(".claude/settings.json", Layer("project"));
        _herd.WriteFile(".claude/settings.local.json", Layer("local", new JsonObject { ["LAYER_B"] = "local" }));
        await using var server = await ScriptedModelServer.StartAsync(ModelScript.Replies(Reply.WithText("done")));

        var run = await _herd.RunAsync(server, "-p", "go", "--output-format", "json", "--setting-sources", "project", "--settings", Layer("flag"));

        run.ExitCode.ShouldBe(0, run.ToString());
        Logged().ShouldBe(["flag A= B=", "project A= B="]);
    }

    [Fact]
    public async Task DisableAllHooks_in_any_layer_turns_every_hook_off()
    {
        WriteUser(Layer("user"));
        _herd.WriteFile(".claude/settings.local.json", """{"disableAllHooks": true}""");
        await using var server = await ScriptedModelServer.StartAsync(ModelScript.Replies(Reply.WithText("done")));

        var run = await _herd.RunAsync(server, "-p", "go", "--output-format", "json");

        run.ExitCode.ShouldBe(0, run.ToString());
        File.Exists(Log).ShouldBeFalse();
    }

    [Theory]
    [InlineData("""{"hooks": []}""", "\"hooks\" must be an object")]
    [InlineData("""{"hooks": {"PreToolUse": [{"hooks": [{"type": "command"}]}]}}""", "needs \"type\":\"command\" and a \"command\" string")]
    [InlineData("""{"hooks": {"PreToolUse": [{"matcher": "(", "hooks": [{"type": "command", "command": "true"}]}]}}""", "is not a valid regular expression")]
    [InlineData("""{"env": {"A": {"x": 1}}}""", "env.A must be a string")]
    public async Task A_malformed_hooks_or_env_block_is_one_line_naming_the_file_and_exit_1(string settings, string expected)
    {
        var path = _herd.WriteFile(".claude/settings.json", settings);
        await using var server = await ScriptedModelServer.StartAsync(ModelScript.Replies(Reply.WithText("done")));

        var run = await _herd.RunAsync(server, "-p", "go");

        run.ExitCode.ShouldBe(1);
        run.Stderr.Trim().Split('\n').Length.ShouldBe(1, run.Stderr);
        run.Stderr.ShouldContain(path);
        run.Stderr.ShouldContain(expected);
        server.Requests.Count.ShouldBe(0);
    }
}
