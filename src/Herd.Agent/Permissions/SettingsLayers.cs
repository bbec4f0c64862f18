using System.Text.Json;
using System.Text.Json.Nodes;
using Herd.Agent.Hooks;

namespace Herd.Agent.Permissions;

/// <summary>
/// Claude Code's merge of the settings blocks that are not permissions: <c>hooks</c> from every layer run together,
/// <c>env</c> takes each variable from the highest layer that sets it. Layers come highest first (--settings, local,
/// project, user).
/// </summary>
internal static class SettingsLayers
{
    public static HookSet Hooks(IReadOnlyList<SettingsLayer> layers)
    {
        // disableAllHooks in any layer turns every hook off, as Claude Code does.
        if (layers.Any(l => l.Settings["disableAllHooks"] is JsonValue v && v.GetValueKind() == JsonValueKind.True))
            return HookSet.Empty;
        var set = HookSet.Empty;
        foreach (var layer in layers)
            set = set.Merge(HookSet.Parse(layer.Settings["hooks"], layer.Label));
        return set;
    }

    public static IReadOnlyDictionary<string, string> Environment(IReadOnlyList<SettingsLayer> layers)
    {
        var env = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var layer in layers)
        {
            if (layer.Settings["env"] is not { } node)
                continue;
            if (node is not JsonObject vars)
                throw new HerdUsageException($"Error: {layer.Label}: \"env\" must be an object of variable names and string values.");
            foreach (var (name, value) in vars)
            {
                var text = value switch
                {
                    JsonValue v when v.TryGetValue<string>(out var s) => s,
                    JsonValue v when v.GetValueKind() is JsonValueKind.Number or JsonValueKind.True or JsonValueKind.False => v.ToJsonString(),
                    _ => throw new HerdUsageException($"Error: {layer.Label}: env.{name} must be a string."),
                };
                env.TryAdd(name, text);
            }
        }
        return env;
    }
}
