using System.Runtime.InteropServices;

namespace Herd.Agent.IO;

/// <summary>Hides secrets from the tools the agent runs.</summary>
public static partial class ProcessEnvironment
{
    /// <summary>
    /// Overwrites the value of an environment variable in this process's native environment block. Child processes
    /// never get the API key (the Bash tool drops it), but any of them could still read it from
    /// <c>/proc/&lt;herd pid&gt;/environ</c>, which shows that block as the process started. Call this once the value has
    /// been read; afterwards the variable reads as empty.
    /// </summary>
    public static unsafe void Scrub(string name)
    {
        if (!OperatingSystem.IsLinux())
            return;
        var value = GetEnv(name);
        if (value is null)
            return;
        var length = 0;
        while (value[length] != 0)
            length++;
        new Span<byte>(value, length).Clear();
    }

    [LibraryImport("libc", EntryPoint = "getenv", StringMarshalling = StringMarshalling.Utf8)]
    private static unsafe partial byte* GetEnv(string name);
}
