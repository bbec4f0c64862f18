using Herd.Agent;
using Herd.Agent.Permissions;
using Herd.Agent.Tools;

namespace Herd.Cli.Print;

/// <summary>Builds the permission policy of a print-mode run from flags and settings files (spec §6.3).</summary>
public static class PermissionSetup
{
    /// <exception cref="HerdUsageException">An unknown permission mode, a malformed rule, or a malformed settings file.</exception>
    public static PermissionPolicy FromArguments(ParsedArguments args, string cwd) => Load(args, cwd).Policy;

    /// <summary>The policy, and the settings it came from (their <c>sandbox</c> block decides confinement).</summary>
    /// <exception cref="HerdUsageException">An unknown permission mode, a malformed rule, or a malformed settings file.</exception>
    public static (PermissionPolicy Policy, LoadedSettings Settings) Load(ParsedArguments args, string cwd)
    {
        var settings = SettingsLoader.Load(
            cwd,
            args.Value(PrintOptions.Settings),
            args.Has(PrintOptions.SettingSources) ? args.Value(PrintOptions.SettingSources) ?? "" : null,
            NullIfEmpty(Environment.GetEnvironmentVariable("HERD_CONFIG_DIR")),
            NullIfEmpty(Environment.GetEnvironmentVariable("CLAUDE_CONFIG_DIR")),
            ToolContext.Home);

        PermissionMode mode;
        if (args.Has(PrintOptions.DangerouslySkipPermissions))
            mode = PermissionMode.BypassPermissions;
        else if (args.Value(PrintOptions.PermissionMode) is { } modeText)
            mode = ParseMode(modeText);
        else
            mode = settings.DefaultMode ?? PermissionMode.Default;

        // Parsed once here: from now on a rule is a PermissionRule, never a string again.
        var deny = Parsed(args.Values(PrintOptions.DisallowedTools), "--disallowedTools", RuleBehavior.Deny);
        var allow = Parsed(args.Values(PrintOptions.AllowedTools), "--allowedTools", RuleBehavior.Allow);
        var policy = new PermissionPolicy(mode, [], [], [])
        {
            Rules = [.. deny, .. allow, .. settings.Rules],
            AdditionalDirectories = settings.AdditionalDirectories,
        };
        // Not an error: Claude Code accepts these rules too, and a command line tested there must run here.
        foreach (var warning in policy.Rules.Select(FileRuleScope.InertRuleWarning).OfType<string>().Distinct(StringComparer.Ordinal))
            Console.Error.WriteLine(warning);
        return (policy, settings);
    }

    public static PermissionMode ParseMode(string text)
    {
        if (text == "auto")
            Console.Error.WriteLine("herd: warning: --permission-mode auto has no classifier in Herd; using default.");
        return SettingsLoader.ParseMode(text) ?? throw new HerdUsageException(
            $"Error: --permission-mode '{text}' is not one of default, acceptEdits, plan, bypassPermissions, dontAsk.");
    }

    private static PermissionRule[] Parsed(IReadOnlyList<string> rules, string flag, RuleBehavior behavior)
    {
        var parsed = new List<PermissionRule>();
        foreach (var rule in rules.Where(r => r.Trim().Length > 0))
        {
            try
            {
                parsed.Add(PermissionRule.Parse(rule, behavior, RuleSource.Cli));
            }
            catch (FormatException ex)
            {
                throw new HerdUsageException($"Error: {flag}: invalid rule: {ex.Message}.");
            }
        }
        return [.. parsed];
    }

    private static string? NullIfEmpty(string? s) => string.IsNullOrEmpty(s) ? null : s;
}
