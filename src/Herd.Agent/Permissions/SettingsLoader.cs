using System.Text.Json;
using System.Text.Json.Nodes;

namespace Herd.Agent.Permissions;

/// <summary>The <c>permissions</c> blocks of every settings source, merged (spec §6.3).</summary>
/// <param name="DefaultMode">The <c>defaultMode</c> of the highest-priority source that sets one.</param>
public sealed record LoadedSettings(IReadOnlyList<PermissionRule> Rules, PermissionMode? DefaultMode, IReadOnlyList<string> AdditionalDirectories)
{
    /// <value>Claude Code's <c>sandbox.enabled</c> from the highest source that sets it; null when none does.</value>
    public bool? SandboxEnabled { get; init; }

    /// <value><c>sandbox.filesystem.allowWrite</c> from every source: extra folders confined commands may write.</value>
    public IReadOnlyList<string> SandboxAllowWrite { get; init; } = [];

    /// <value>Every settings file's <c>hooks</c>, merged (all run); empty when any sets <c>disableAllHooks</c>.</value>
    public Hooks.HookSet Hooks { get; init; } = Herd.Agent.Hooks.HookSet.Empty;

    /// <value>The settings files' <c>env</c>: for each variable, the value of the highest source that sets it.</value>
    public IReadOnlyDictionary<string, string> Environment { get; init; } = new Dictionary<string, string>();

    /// <value>Each settings file's whole object, highest source first, for blocks read elsewhere (<c>mcpServers</c>).</value>
    public IReadOnlyList<SettingsLayer> Layers { get; init; } = [];
}

/// <summary>One settings source's object: <paramref name="Label"/> names it in messages, <paramref name="Root"/> resolves its relative paths.</summary>
public sealed record SettingsLayer(JsonObject Settings, string Label, string? Root);

/// <summary>
/// Reads permission settings from Herd's and Claude Code's files, so deny rules written for Claude Code stay in force.
/// Sources, highest first: <c>--settings</c>, local (<c>.herd/settings.local.json</c>, <c>.claude/settings.local.json</c>),
/// project (<c>.herd/settings.json</c>, <c>.claude/settings.json</c>), user (<c>$HERD_CONFIG_DIR/settings.json</c> or
/// <c>~/.herd/settings.json</c>, and <c>~/.claude/settings.json</c>). Rules from all sources apply together (deny beats
/// ask beats allow, whatever the source); only <c>defaultMode</c> is taken from the highest source. Files are only read.
/// </summary>
public static class SettingsLoader
{
    /// <summary>Which file groups <c>--setting-sources</c> may name.</summary>
    public static readonly IReadOnlyList<string> SourceNames = ["user", "project", "local"];

    /// <param name="settingsFlag">The <c>--settings</c> value: a file path, or JSON text starting with <c>{</c>.</param>
    /// <param name="settingSources">The <c>--setting-sources</c> value (comma separated), or null for all.</param>
    /// <exception cref="HerdUsageException">A malformed file or flag; the message names it and the problem.</exception>
    public static LoadedSettings Load(string cwd, string? settingsFlag, string? settingSources, string? herdConfigDir, string? claudeConfigDir, string home)
    {
        var enabled = ParseSources(settingSources);
        var files = new List<(string Path, RuleSource Source)>();
        if (enabled.Contains("local"))
        {
            files.Add((Path.Combine(cwd, ".herd", "settings.local.json"), new RuleSource("local settings", Path.Combine(cwd, ".herd", "settings.local.json"), cwd)));
            files.Add((Path.Combine(cwd, ".claude", "settings.local.json"), new RuleSource("local settings", Path.Combine(cwd, ".claude", "settings.local.json"), cwd)));
        }
        if (enabled.Contains("project"))
        {
            files.Add((Path.Combine(cwd, ".herd", "settings.json"), new RuleSource("project settings", Path.Combine(cwd, ".herd", "settings.json"), cwd)));
            files.Add((Path.Combine(cwd, ".claude", "settings.json"), new RuleSource("project settings", Path.Combine(cwd, ".claude", "settings.json"), cwd)));
        }
        if (enabled.Contains("user"))
        {
            var herdRoot = string.IsNullOrEmpty(herdConfigDir) ? Path.Combine(home, ".herd") : Path.GetFullPath(herdConfigDir);
            var claudeRoot = string.IsNullOrEmpty(claudeConfigDir) ? Path.Combine(home, ".claude") : Path.GetFullPath(claudeConfigDir);
            files.Add((Path.Combine(herdRoot, "settings.json"), new RuleSource("user settings", Path.Combine(herdRoot, "settings.json"), herdRoot)));
            files.Add((Path.Combine(claudeRoot, "settings.json"), new RuleSource("user settings", Path.Combine(claudeRoot, "settings.json"), claudeRoot)));
        }

        var blocks = new List<(JsonObject Permissions, RuleSource Source)>();
        var sandboxBlocks = new List<(JsonObject Sandbox, RuleSource Source)>();
        var layers = new List<SettingsLayer>();
        if (!string.IsNullOrWhiteSpace(settingsFlag))
        {
            var text = settingsFlag.TrimStart();
            if (text.StartsWith('{'))
                AddBlock(blocks, sandboxBlocks, layers, text, new RuleSource("--settings", null, cwd), "--settings JSON");
            else
            {
                var path = Path.GetFullPath(settingsFlag, cwd);
                if (!File.Exists(path))
                    throw new HerdUsageException($"Error: --settings file '{path}' does not exist. Pass a settings file or a JSON string.");
                AddBlock(blocks, sandboxBlocks, layers, ReadFile(path), new RuleSource("--settings", path, Path.GetDirectoryName(path)), $"settings file '{path}'");
            }
        }
        foreach (var (path, source) in files.DistinctBy(f => f.Path))
        {
            if (File.Exists(path))
                AddBlock(blocks, sandboxBlocks, layers, ReadFile(path), source, $"settings file '{path}'");
        }

        var rules = new List<PermissionRule>();
        PermissionMode? mode = null;
        var dirs = new List<string>();
        foreach (var (permissions, source) in blocks)
        {
            var label = source.File is null ? "--settings JSON" : $"settings file '{source.File}'";
            foreach (var (key, behavior) in new[] { ("deny", RuleBehavior.Deny), ("ask", RuleBehavior.Ask), ("allow", RuleBehavior.Allow) })
            {
                foreach (var text in StringArray(permissions, key, label))
                {
                    try
                    {
                        rules.Add(PermissionRule.Parse(text, behavior, source));
                    }
                    catch (FormatException ex)
                    {
                        throw new HerdUsageException($"Error: {label}: permissions.{key} has an invalid rule: {ex.Message}.");
                    }
                }
            }
            if (permissions["defaultMode"] is { } modeNode)
            {
                if (modeNode.GetValueKind() != JsonValueKind.String)
                    throw new HerdUsageException($"Error: {label}: permissions.defaultMode must be a string.");
                var parsed = ParseMode((string)modeNode!) ?? throw new HerdUsageException(
                    $"Error: {label}: permissions.defaultMode '{(string)modeNode!}' is not one of default, acceptEdits, plan, bypassPermissions, dontAsk.");
                mode ??= parsed;
            }
            foreach (var dir in StringArray(permissions, "additionalDirectories", label))
                dirs.Add(Path.GetFullPath(dir.StartsWith("~/", StringComparison.Ordinal) ? Path.Combine(home, dir[2..]) : dir, source.Root ?? cwd));
        }
        bool? sandboxEnabled = null;
        var allowWrite = new List<string>();
        foreach (var (sandbox, source) in sandboxBlocks)
        {
            var label = source.File is null ? "--settings JSON" : $"settings file '{source.File}'";
            if (sandbox["enabled"] is { } enabledNode)
            {
                if (enabledNode.GetValueKind() is not (JsonValueKind.True or JsonValueKind.False))
                    throw new HerdUsageException($"Error: {label}: sandbox.enabled must be true or false.");
                sandboxEnabled ??= enabledNode.GetValue<bool>();
            }
            if (sandbox["filesystem"] is JsonObject fs)
            {
                foreach (var dir in StringArray(fs, "allowWrite", label, "sandbox.filesystem"))
                    allowWrite.Add(Path.GetFullPath(dir.StartsWith("~/", StringComparison.Ordinal) ? Path.Combine(home, dir[2..]) : dir, source.Root ?? cwd));
            }
        }
        return new LoadedSettings(rules, mode, dirs.Distinct(StringComparer.Ordinal).ToArray())
        {
            SandboxEnabled = sandboxEnabled,
            SandboxAllowWrite = allowWrite.Distinct(StringComparer.Ordinal).ToArray(),
            Hooks = SettingsLayers.Hooks(layers),
            Environment = SettingsLayers.Environment(layers),
            Layers = layers,
        };
    }

    /// <summary>Claude Code's mode names; <c>manual</c> and <c>auto</c> read as default. Null for anything else.</summary>
    public static PermissionMode? ParseMode(string text) => text switch
    {
        "default" or "manual" or "auto" => PermissionMode.Default,
        "acceptEdits" => PermissionMode.AcceptEdits,
        "plan" => PermissionMode.Plan,
        "bypassPermissions" => PermissionMode.BypassPermissions,
        "dontAsk" => PermissionMode.DontAsk,
        _ => null,
    };

    private static HashSet<string> ParseSources(string? value)
    {
        if (value is null)
            return [.. SourceNames];
        var set = new HashSet<string>(StringComparer.Ordinal);
        foreach (var part in value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            if (!SourceNames.Contains(part))
                throw new HerdUsageException($"Error: --setting-sources '{part}' is not one of user, project, local.");
            set.Add(part);
        }
        return set;
    }

    private static string ReadFile(string path)
    {
        try
        {
            return File.ReadAllText(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new HerdUsageException($"Error: settings file '{path}' cannot be read: {ex.Message}");
        }
    }

    private static void AddBlock(List<(JsonObject, RuleSource)> blocks, List<(JsonObject, RuleSource)> sandboxBlocks, List<SettingsLayer> layers, string json, RuleSource source, string label)
    {
        JsonNode? root;
        try
        {
            root = JsonNode.Parse(json, documentOptions: new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true });
        }
        catch (JsonException ex)
        {
            throw new HerdUsageException($"Error: {label} is not valid JSON: {ex.Message}");
        }
        if (root is not JsonObject obj)
            throw new HerdUsageException($"Error: {label} must hold a JSON object.");
        layers.Add(new SettingsLayer(obj, label, source.Root));
        if (obj["sandbox"] is { } sandbox)
        {
            if (sandbox is not JsonObject sandboxObject)
                throw new HerdUsageException($"Error: {label}: \"sandbox\" must be an object like {{\"enabled\":true}}.");
            sandboxBlocks.Add((sandboxObject, source));
        }
        if (obj["permissions"] is null)
            return;
        if (obj["permissions"] is not JsonObject permissions)
            throw new HerdUsageException($"Error: {label}: \"permissions\" must be an object like {{\"allow\":[],\"deny\":[]}}.");
        blocks.Add((permissions, source));
    }

    private static IEnumerable<string> StringArray(JsonObject permissions, string key, string label, string where = "permissions")
    {
        var node = permissions[key];
        if (node is null)
            yield break;
        if (node is not JsonArray array)
            throw new HerdUsageException($"Error: {label}: {where}.{key} must be an array of strings.");
        foreach (var item in array)
        {
            if (item is null || item.GetValueKind() != JsonValueKind.String)
                throw new HerdUsageException($"Error: {label}: {where}.{key} must contain only strings.");
            yield return (string)item!;
        }
    }
}
