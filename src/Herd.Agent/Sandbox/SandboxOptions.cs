namespace Herd.Agent.Sandbox;

/// <summary>Whether confined tool processes may use the network.</summary>
public enum SandboxNetwork
{
    /// <summary>The host's network (package installs, git fetch work). The default: the filesystem policy is the boundary.</summary>
    Allowed,

    /// <summary>A private network namespace with only loopback: nothing leaves the machine.</summary>
    Blocked,
}

/// <summary>
/// How the Bash tool's processes are confined (issue #9). Present on a <c>ToolContext</c> means "confine": a run that
/// asks for the sandbox never falls back to running commands unconfined.
/// </summary>
/// <param name="Network">Network access of confined processes.</param>
public sealed record SandboxOptions(SandboxNetwork Network = SandboxNetwork.Allowed)
{
    /// <value>
    /// Folders writable besides the working directories and the private temp folder: <c>additionalDirectories</c> from
    /// settings and <c>sandbox.filesystem.allowWrite</c>. Empty by default.
    /// </value>
    public IReadOnlyList<string> ExtraWritableDirectories { get; init; } = [];
}
