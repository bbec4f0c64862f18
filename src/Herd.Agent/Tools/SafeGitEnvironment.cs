namespace Herd.Agent.Tools;

/// <summary>
/// The environment a command approved as read-only git runs in (issue #19, class 4): configuration given through
/// <c>GIT_CONFIG_COUNT</c> outranks every config file, so whatever the repository's config says, git starts no
/// filesystem monitor, no pager and no hook, and ignores a bare repository it would only find by walking up from the
/// folder (<c>cd</c> into a repository the model wrote). Diff drivers and filters come from the user's and the working
/// tree's own config, which no tool may write (<c>.git/config</c> is protected).
/// </summary>
public static class SafeGitEnvironment
{
    /// <summary>The overrides, as <c>git -c</c> would take them.</summary>
    public static readonly IReadOnlyList<(string Key, string Value)> Overrides =
    [
        ("core.fsmonitor", "false"),
        ("core.pager", "cat"),
        ("core.hooksPath", "/dev/null"),
        ("safe.bareRepository", "explicit"),
    ];

    /// <summary>Adds the overrides after any the environment already holds, and turns pagers off.</summary>
    public static void Apply(IDictionary<string, string?> environment)
    {
        var start = environment.TryGetValue("GIT_CONFIG_COUNT", out var existing) && int.TryParse(existing, out var n) && n > 0 ? n : 0;
        for (var i = 0; i < Overrides.Count; i++)
        {
            environment[$"GIT_CONFIG_KEY_{start + i}"] = Overrides[i].Key;
            environment[$"GIT_CONFIG_VALUE_{start + i}"] = Overrides[i].Value;
        }
        environment["GIT_CONFIG_COUNT"] = (start + Overrides.Count).ToString(System.Globalization.CultureInfo.InvariantCulture);
        environment["GIT_PAGER"] = "cat";
        environment.Remove("GIT_EXTERNAL_DIFF");
    }
}
