using Herd.Agent;
using Herd.Agent.Permissions;

namespace Herd.Cli.Print;

/// <summary>Builds the permission policy of a print-mode run from flags (and, later, settings files).</summary>
public static class PermissionSetup
{
    /// <exception cref="HerdUsageException">An unknown permission mode.</exception>
    public static PermissionPolicy FromArguments(ParsedArguments args, string cwd)
    {
        var modeText = args.Has("--dangerously-skip-permissions") ? "bypassPermissions" : args.Value("--permission-mode") ?? "default";
        var mode = ParseMode(modeText);
        return new PermissionPolicy(mode, args.Values("--allowedTools").ToArray(), args.Values("--disallowedTools").ToArray(), []);
    }

    public static PermissionMode ParseMode(string text) => text switch
    {
        "default" or "manual" or "auto" => PermissionMode.Default,
        "acceptEdits" => PermissionMode.AcceptEdits,
        "plan" => PermissionMode.Plan,
        "bypassPermissions" => PermissionMode.BypassPermissions,
        "dontAsk" => PermissionMode.DontAsk,
        _ => throw new HerdUsageException(
            $"Error: --permission-mode '{text}' is not one of default, acceptEdits, plan, bypassPermissions, dontAsk."),
    };
}
