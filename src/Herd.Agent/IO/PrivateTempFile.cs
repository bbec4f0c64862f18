namespace Herd.Agent.IO;

/// <summary>
/// A scratch file for what would otherwise be held in memory until a pass ends (issue #23): created new in the temporary
/// directory, readable and writable by this user only (it may hold prompts), and unlinked at once where an open file
/// outlives its name (elsewhere deleted when it is closed), so a killed run leaves nothing behind.
/// </summary>
public static class PrivateTempFile
{
    /// <exception cref="HerdFatalException">The temporary directory does not let it be created (missing, read-only, full).</exception>
    public static FileStream Create(string purpose)
    {
        var options = new FileStreamOptions
        {
            Mode = FileMode.CreateNew,
            Access = FileAccess.ReadWrite,
            Options = FileOptions.DeleteOnClose,
            BufferSize = 1 << 16,
        };
        if (!OperatingSystem.IsWindows())
            options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        var directory = Path.GetTempPath();
        try
        {
            var path = Path.Combine(directory, $"herd-{purpose}-{Guid.NewGuid():N}");
            var file = new FileStream(path, options);
            if (!OperatingSystem.IsWindows())
                File.Delete(path);
            return file;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new HerdFatalException($"Error: cannot create a temporary file in '{directory}' ({ex.Message.TrimEnd('.')}). Set TMPDIR to a writable directory with free space.", ex);
        }
    }
}
