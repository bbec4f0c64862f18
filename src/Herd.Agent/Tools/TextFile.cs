using System.Text;

namespace Herd.Agent.Tools;

/// <summary>
/// A text file's content with the encoding and line ending it was stored in, so Edit writes back the same bytes
/// apart from the change (spec §10.3: preserve encoding and line endings).
/// </summary>
internal sealed record TextFile(string Text, Encoding Encoding, bool Crlf)
{
    private static readonly UTF8Encoding Utf8NoBom = new(false);

    public static async Task<TextFile> ReadAsync(string path, CancellationToken cancellationToken)
    {
        var bytes = await File.ReadAllBytesAsync(path, cancellationToken).ConfigureAwait(false);
        var encoding = Detect(bytes, out var bomLength);
        var text = encoding.GetString(bytes, bomLength, bytes.Length - bomLength);
        var crlf = text.Contains("\r\n", StringComparison.Ordinal);
        return new TextFile(crlf ? text.Replace("\r\n", "\n", StringComparison.Ordinal) : text, encoding, crlf);
    }

    /// <summary>Writes <paramref name="text"/> (LF line endings) back in this file's encoding and line ending.</summary>
    public Task WriteAsync(string path, string text, CancellationToken cancellationToken) =>
        WriteRawAsync(path, Crlf ? text.Replace("\n", "\r\n", StringComparison.Ordinal) : text, Encoding, cancellationToken);

    /// <summary>Writes by replacing the file (temp file, then rename), never in place: see <see cref="FileGuard.ReplaceAsync"/>.</summary>
    public static async Task WriteRawAsync(string path, string text, Encoding encoding, CancellationToken cancellationToken)
    {
        var preamble = encoding.GetPreamble();
        var body = encoding.GetBytes(text);
        var bytes = new byte[preamble.Length + body.Length];
        preamble.CopyTo(bytes, 0);
        body.CopyTo(bytes, preamble.Length);
        await FileGuard.ReplaceAsync(path, bytes, cancellationToken).ConfigureAwait(false);
    }

    public static Encoding Detect(ReadOnlySpan<byte> bytes, out int bomLength)
    {
        if (bytes.StartsWith((ReadOnlySpan<byte>)[0xEF, 0xBB, 0xBF]))
        {
            bomLength = 3;
            return new UTF8Encoding(true);
        }
        if (bytes.StartsWith((ReadOnlySpan<byte>)[0xFF, 0xFE]))
        {
            bomLength = 2;
            return new UnicodeEncoding(false, true);
        }
        if (bytes.StartsWith((ReadOnlySpan<byte>)[0xFE, 0xFF]))
        {
            bomLength = 2;
            return new UnicodeEncoding(true, true);
        }
        bomLength = 0;
        return Utf8NoBom;
    }

    /// <summary>A NUL byte in the first 8 KiB marks a binary file, as git and grep decide; UTF-16 with a BOM is text.</summary>
    public static bool LooksBinary(ReadOnlySpan<byte> bytes)
    {
        Detect(bytes, out var bom);
        if (bom == 2)
            return false;
        return bytes[..Math.Min(bytes.Length, 8192)].Contains((byte)0);
    }

    /// <summary>Whether the file was read in this conversation and is unchanged since (spec §10.3).</summary>
    public static string? CheckFreshness(string path, ToolContext context)
    {
        if (!context.ReadFiles.TryGetValue(path, out var seen))
            return "File has not been read yet. Read it first before writing to it.";
        if (File.GetLastWriteTimeUtc(path) != seen)
            return "File has been modified since read, either by the user or by a linter.";
        return null;
    }
}
