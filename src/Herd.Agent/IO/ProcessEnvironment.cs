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

    private const int PrSetDumpable = 4;

    /// <summary>
    /// Makes this process undumpable (<c>prctl(PR_SET_DUMPABLE, 0)</c>): the kernel then refuses every process of the same
    /// user without <c>CAP_SYS_PTRACE</c> to open <c>/proc/&lt;herd pid&gt;/mem</c> or <c>environ</c>, or to ptrace Herd, so a
    /// tool process cannot read the API key from Herd's memory (without the sandbox's PID namespace as well). The flag is
    /// not inherited across <c>execve</c>: the commands Herd starts stay ordinary, debuggable processes. Returns whether
    /// the kernel accepted it (always true on Linux; false elsewhere).
    /// </summary>
    public static bool MakeUndumpable() => OperatingSystem.IsLinux() && Prctl(PrSetDumpable, 0, 0, 0, 0) == 0;

    [LibraryImport("libc", EntryPoint = "prctl", SetLastError = true)]
    private static partial int Prctl(int option, nuint arg2, nuint arg3, nuint arg4, nuint arg5);

    [LibraryImport("libc", EntryPoint = "getenv", StringMarshalling = StringMarshalling.Utf8)]
    private static unsafe partial byte* GetEnv(string name);
}
