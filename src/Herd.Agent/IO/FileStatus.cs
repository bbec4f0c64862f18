using System.Runtime.InteropServices;

namespace Herd.Agent.IO;

/// <summary>What kind of file a path names, without opening it (opening a FIFO would block until a writer appears).</summary>
public enum FileKind
{
    Missing,
    Regular,
    Directory,
    Symlink,
    Fifo,
    CharacterDevice,
    BlockDevice,
    Socket,
    Unknown,
}

/// <summary>A file's kind, size and hard-link count, read with <c>statx(2)</c> (whose layout is the same on every architecture).</summary>
/// <param name="Links">Hard links to the inode: more than one means the same bytes are reachable under another name.</param>
public sealed partial record FileStatus(FileKind Kind, long Size, uint Links)
{
    private const int AtFdCwd = -100;
    private const int AtSymlinkNoFollow = 0x100;
    private const uint StatxBasicStats = 0x7ff;

    public static FileStatus Missing { get; } = new(FileKind.Missing, 0, 0);

    /// <summary>The status of <paramref name="path"/>; symlinks are followed unless <paramref name="followSymlinks"/> is false.</summary>
    public static unsafe FileStatus Of(string path, bool followSymlinks = true)
    {
        if (path.Contains('\0'))
            return Missing;
        if (!OperatingSystem.IsLinux())
            return Fallback(path);
        var buffer = stackalloc byte[256];
        int rc;
        try
        {
            rc = Statx(AtFdCwd, path, followSymlinks ? 0 : AtSymlinkNoFollow, StatxBasicStats, buffer);
        }
        catch (Exception ex) when (ex is DllNotFoundException or EntryPointNotFoundException)
        {
            return Fallback(path);
        }
        if (rc != 0)
            return Missing;
        // struct statx: u32 mask, u32 blksize, u64 attributes, u32 nlink (16), u32 uid, u32 gid, u16 mode (28), u16 pad,
        // u64 ino (32), u64 size (40).
        var links = *(uint*)(buffer + 16);
        var mode = *(ushort*)(buffer + 28);
        var size = *(long*)(buffer + 40);
        var kind = (mode & 0xF000) switch
        {
            0x8000 => FileKind.Regular,
            0x4000 => FileKind.Directory,
            0xA000 => FileKind.Symlink,
            0x1000 => FileKind.Fifo,
            0x2000 => FileKind.CharacterDevice,
            0x6000 => FileKind.BlockDevice,
            0xC000 => FileKind.Socket,
            _ => FileKind.Unknown,
        };
        return new FileStatus(kind, size, links);
    }

    private static FileStatus Fallback(string path)
    {
        if (Directory.Exists(path))
            return new FileStatus(FileKind.Directory, 0, 1);
        var info = new FileInfo(path);
        return info.Exists ? new FileStatus(FileKind.Regular, info.Length, 1) : Missing;
    }

    /// <summary>Words for an error message: "a FIFO", "a device".</summary>
    public string Describe() => Kind switch
    {
        FileKind.Fifo => "a FIFO (named pipe)",
        FileKind.CharacterDevice or FileKind.BlockDevice => "a device",
        FileKind.Socket => "a socket",
        FileKind.Directory => "a directory",
        _ => "not a regular file",
    };

    [LibraryImport("libc", EntryPoint = "statx", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static unsafe partial int Statx(int dirfd, string path, int flags, uint mask, byte* buffer);
}
