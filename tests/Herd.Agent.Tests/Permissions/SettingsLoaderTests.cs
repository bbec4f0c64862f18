using Herd.Agent.Permissions;
using Herd.Agent.Tools;

namespace Herd.Agent.Tests.Permissions;

public sealed class SettingsLoaderTests : IDisposable
{
    private readonly TempProject _p = new();

    public void Dispose() => _p.Dispose();

    private string UserDir => Path.Combine(_p.Root, "user");

    private string ClaudeDir => Path.Combine(_p.Root, "claude");

    private LoadedSettings Load(string? flag = null, string? sources = null) =>
        SettingsLoader.Load(_p.Cwd, flag, sources, UserDir, ClaudeDir, Path.Combine(_p.Root, "home"));

    private static void WriteFile(string path, string json)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllText(path, json);
    }

    [Fact]
    public void Rules_from_every_source_are_loaded_with_their_source()
    {
        WriteFile(Path.Combine(_p.Cwd, ".herd", "settings.json"), """{"permissions":{"allow":["Bash(npm run *)"],"defaultMode":"plan"}}""");
        WriteFile(Path.Combine(_p.Cwd, ".claude", "settings.local.json"), """{"permissions":{"deny":["Read(./.env)"],"defaultMode":"acceptEdits"}}""");
        WriteFile(Path.Combine(UserDir, "settings.json"), """{"permissions":{"ask":["Bash(git push *)"]}}""");
        WriteFile(Path.Combine(ClaudeDir, "settings.json"), """{"permissions":{"deny":["Bash(curl *)"],"additionalDirectories":["../lib"]}}""");

        var s = Load();

        s.Rules.Select(r => (r.Text, r.Behavior, r.Source.Name)).ShouldBe(
        [
            ("Read(./.env)", RuleBehavior.Deny, "local settings"),
            ("Bash(npm run *)", RuleBehavior.Allow, "project settings"),
            ("Bash(git push *)", RuleBehavior.Ask, "user settings"),
            ("Bash(curl *)", RuleBehavior.Deny, "user settings"),
        ], ignoreOrder: true);
        s.DefaultMode.ShouldBe(PermissionMode.AcceptEdits);
        s.AdditionalDirectories.ShouldBe([Path.GetFullPath(Path.Combine(ClaudeDir, "..", "lib"))]);
    }

    [Fact]
    public void Setting_sources_limits_which_files_load_and_settings_flag_accepts_json()
    {
        WriteFile(Path.Combine(_p.Cwd, ".herd", "settings.json"), """{"permissions":{"allow":["Read"]}}""");
        WriteFile(Path.Combine(UserDir, "settings.json"), """{"permissions":{"deny":["Bash"]}}""");

        Load(sources: "user").Rules.Select(r => r.Text).ShouldBe(["Bash"]);
        Load(sources: "").Rules.ShouldBeEmpty();
        var inline = Load("""{"permissions":{"deny":["Edit"]}}""", sources: "");
        inline.Rules.Single().Source.Name.ShouldBe("--settings");
    }

    [Fact]
    public void A_deny_from_user_settings_beats_an_allow_from_the_command_line()
    {
        WriteFile(Path.Combine(ClaudeDir, "settings.json"), """{"permissions":{"deny":["Bash(git push *)"]}}""");
        var policy = new PermissionPolicy(PermissionMode.Default, ["Bash(git push *)", "Bash"], [], []) { Rules = Load().Rules };

        var decision = new PermissionEngine(policy).EvaluateBash("git push origin main", _p.Context);

        decision.IsAllowed.ShouldBeFalse();
        decision.Reason.ShouldContain("user settings");
        decision.Rule.ShouldBe("Bash(git push *)");
    }

    [Theory]
    [InlineData("{not json", "is not valid JSON")]
    [InlineData("""{"permissions":[]}""", "\"permissions\" must be an object")]
    [InlineData("""{"permissions":{"allow":"Bash"}}""", "permissions.allow must be an array")]
    [InlineData("""{"permissions":{"deny":[1]}}""", "must contain only strings")]
    [InlineData("""{"permissions":{"allow":["Bash(git"]}}""", "invalid rule")]
    [InlineData("""{"permissions":{"defaultMode":"yolo"}}""", "defaultMode 'yolo'")]
    public void A_malformed_settings_file_is_a_usage_error_naming_the_file(string json, string problem)
    {
        var path = Path.Combine(_p.Cwd, ".herd", "settings.json");
        WriteFile(path, json);

        var ex = Should.Throw<HerdUsageException>(() => Load());

        ex.Message.ShouldContain(path);
        ex.Message.ShouldContain(problem);
    }

    [Fact]
    public void Unknown_setting_sources_and_missing_settings_files_are_usage_errors()
    {
        Should.Throw<HerdUsageException>(() => Load(sources: "user,global")).Message.ShouldContain("global");
        Should.Throw<HerdUsageException>(() => Load("nope.json")).Message.ShouldContain("nope.json");
    }
}
