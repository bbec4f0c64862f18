using System.Runtime.InteropServices;

namespace Herd.Agent.IO;

/// <summary>
/// A file opened with O_APPEND, so every write lands whole at the current end even when other processes append to
/// the same file. .NET's FileMode.Append seeks once and then writes at its own cached offset, which lets concurrent
/// writers overwrite each other's lines; transcripts and run logs need the kernel's guarantee instead.
/// </summary>
public sealed partial class AppendOnlyFile : IDisposable
{
    private const int O_WRONLY = 0x1, O_CREAT = 0x40, O_APPEND = 0x400, O_CLOEXEC = 0x80000;
    private readonly int _fd = -1;
    private readonly FileStream? _fallback;

    public AppendOnlyFile(string path)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        if (OperatingSystem.IsLinux())
        {
            _fd = Open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, Convert.ToInt32("644", 8));
            if (_fd < 0)
                throw new IOException($"Cannot open '{path}' for appending (errno {Marshal.GetLastPInvokeError()}).");
        }
        else
        {
            _fallback = new FileStream(path, FileMode.Append, FileAccess.Write, FileShare.ReadWrite | FileShare.Delete, 1);
        }
    }

    /// <summary>Appends the bytes with one write call (a single line stays in one piece).</summary>
    public unsafe void Append(ReadOnlySpan<byte> bytes)
    {
        if (_fallback is not null)
        {
            _fallback.Write(bytes);
            _fallback.Flush();
            return;
        }
        fixed (byte* p = bytes)
        {
            var done = 0;
            while (done < bytes.Length)
            {
                var n = Write(_fd, p + done, (nuint)(bytes.Length - done));
                if (n < 0)
                {
                    var errno = Marshal.GetLastPInvokeError();
                    if (errno == 4) // EINTR
                        continue;
                    throw new IOException($"Append failed (errno {errno}).");
                }
                done += (int)n;
            }
        }
    }

    public void Dispose()
    {
        _fallback?.Dispose();
        if (_fd >= 0)
            _ = Close(_fd);
    }

    [LibraryImport("libc", EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Open(string path, int flags, int mode);

    [LibraryImport("libc", EntryPoint = "write", SetLastError = true)]
    private static unsafe partial nint Write(int fd, byte* buffer, nuint count);

    [LibraryImport("libc", EntryPoint = "close")]
    private static partial int Close(int fd);
}
