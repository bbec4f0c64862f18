using Herd.Agent;
using Herd.Agent.Permissions;
using Herd.Agent.Sandbox;

namespace Herd.Cli.Print;

/// <summary>Decides whether Bash runs confined (issue #9): <c>--sandbox</c> beats <c>sandbox.enabled</c>, which beats the command's default.</summary>
public static class SandboxSetup
{
    /// <param name="given">Whether <c>--sandbox</c> was given; <paramref name="value"/> is its word, or null for the bare flag.</param>
    /// <exception cref="HerdUsageException">An unknown <c>--sandbox</c> value.</exception>
    public static SandboxOptions? Decide(bool given, string? value, LoadedSettings settings, bool byDefault, IReadOnlyList<string> additionalDirectories)
    {
        var network = SandboxNetwork.Allowed;
        bool enabled;
        if (given)
        {
            (enabled, network) = value switch
            {
                null or "on" => (true, SandboxNetwork.Allowed),
                "no-network" => (true, SandboxNetwork.Blocked),
                "off" => (false, SandboxNetwork.Allowed),
                _ => throw new HerdUsageException($"Error: --sandbox '{value}' is not one of on, off, no-network."),
            };
        }
        else
            enabled = settings.SandboxEnabled ?? byDefault;
        if (!enabled)
            return null;
        return new SandboxOptions(network)
        {
            ExtraWritableDirectories = [.. additionalDirectories, .. settings.SandboxAllowWrite],
        };
    }
}
