using Herd.Agent.Tools;

namespace Herd.Agent.IO;

/// <summary>
/// A text file the user named on the command line (a prompt file, an input list, a tasks file). Every way it can be
/// wrong — missing, a directory, unreadable, binary, too large — is one usage error that names the file and the fix.
/// </summary>
public static class TextInput
{
    /// <summary>Larger inputs are a mistake (a log, a core file), not a prompt or a task list.</summary>
    public const long MaxBytes = 64L * 1024 * 1024;

    /// <param name="what">How the user named it, e.g. <c>--prompt-file 'fix.md'</c>.</param>
    /// <exception cref="HerdUsageException">The file cannot be used, with the reason.</exception>
    public static string ReadFile(string path, string what)
    {
        var bytes = ReadBytes(path, what);
        var encoding = TextFile.Detect(bytes, out var bom);
        return encoding.GetString(bytes, bom, bytes.Length - bom);
    }

    /// <summary>The file's lines (\n or \r\n), as <see cref="ReadFile"/> reads it.</summary>
    public static string[] ReadLines(string path, string what)
    {
        var text = ReadFile(path, what);
        if (text.Length == 0)
            return [];
        var lines = text.Split('\n');
        for (var i = 0; i < lines.Length; i++)
        {
            if (lines[i].EndsWith('\r'))
                lines[i] = lines[i][..^1];
        }
        return text.EndsWith('\n') ? lines[..^1] : lines;
    }

    /// <summary>
    /// Streams the file with a size cap and looks at its first chunk for binary content, so a device (<c>/dev/zero</c>)
    /// or a huge file fails at once instead of filling memory. Pipes work: <c>--input &lt;(git ls-files)</c>.
    /// </summary>
    private static byte[] ReadBytes(string path, string what)
    {
        CheckPath(path, what);
        try
        {
            using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite, bufferSize: 0);
            using var buffer = new MemoryStream();
            var chunk = new byte[64 * 1024];
            int read;
            while ((read = stream.Read(chunk, 0, chunk.Length)) > 0)
            {
                if (buffer.Length == 0 && TextFile.LooksBinary(chunk.AsSpan(0, read)))
                    throw new HerdUsageException($"Error: {what} is a binary file; pass a UTF-8 text file.");
                buffer.Write(chunk, 0, read);
                if (buffer.Length > MaxBytes)
                    throw new HerdUsageException($"Error: {what} is larger than {MaxBytes / (1024 * 1024)} MB, the most accepted; split it or pass a smaller file.");
            }
            return buffer.ToArray();
        }
        catch (UnauthorizedAccessException)
        {
            throw new HerdUsageException($"Error: {what} cannot be read: permission denied. Make it readable for this user.");
        }
        catch (IOException ex)
        {
            throw new HerdUsageException($"Error: {what} cannot be read ({ex.Message.TrimEnd('.')}).");
        }
    }

    /// <summary>Refuses a path that is no file: a NUL byte, a directory, nothing there.</summary>
    /// <exception cref="HerdUsageException">The path names no file, with the fix.</exception>
    internal static void CheckPath(string path, string what)
    {
        if (path.Contains('\0'))
            throw new HerdUsageException($"Error: {what} contains a NUL byte; pass a real path.");
        if (Directory.Exists(path))
            throw new HerdUsageException($"Error: {what} is a directory; pass a file.");
        if (!File.Exists(path))
            throw new HerdUsageException($"Error: {what} does not exist. Check the path (relative paths start at the working directory).");
    }

    /// <summary>Decodes piped or streamed text the way <see cref="ReadFile"/> decodes a file.</summary>
    public static string Decode(byte[] bytes) => TextFile.Detect(bytes, out var bom).GetString(bytes, bom, bytes.Length - bom);
}
