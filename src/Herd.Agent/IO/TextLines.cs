using Herd.Agent.Tools;

namespace Herd.Agent.IO;

/// <summary>
/// A text file the user named, read a line at a time as it is needed (issue #23: a plan of a million lines is never
/// held whole). Everything that can be told up front — missing, a directory, unreadable, binary — is refused by
/// <see cref="Open"/>, before anything is written, with the same messages as <see cref="TextInput"/>. A regular file
/// can be read again from its start (<see cref="Rewind"/>); a pipe (<c>--input &lt;(git ls-files)</c>) is read once.
/// </summary>
public sealed class TextLines : IDisposable
{
    private readonly Stream _stream;
    private readonly string _what;
    private StreamReader _reader;
    private int _number;

    private TextLines(Stream stream, string what, StreamReader reader)
    {
        _stream = stream;
        _what = what;
        _reader = reader;
    }

    /// <value>Whether <see cref="Rewind"/> works: a regular file, not a pipe.</value>
    public bool CanRewind => _stream.CanSeek;

    /// <value>The 1-based number of the line <see cref="Next"/> returned last.</value>
    public int LineNumber => _number;

    /// <param name="what">How the user named it, e.g. <c>--input 'files.txt'</c>.</param>
    /// <exception cref="HerdUsageException">The file cannot be used, with the reason.</exception>
    public static TextLines Open(string path, string what)
    {
        TextInput.CheckPath(path, what);
        Stream? stream = null;
        try
        {
            stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite, bufferSize: 0);
            // The first 8 KiB decide binary (as TextInput does); a pipe hands them over in pieces, so read until full.
            var head = new byte[8192];
            var filled = 0;
            int read;
            while (filled < head.Length && (read = stream.Read(head, filled, head.Length - filled)) > 0)
                filled += read;
            if (TextFile.LooksBinary(head.AsSpan(0, filled)))
                throw new HerdUsageException($"Error: {what} is a binary file; pass a UTF-8 text file.");
            var encoding = TextFile.Detect(head.AsSpan(0, filled), out _);
            Stream body = stream.CanSeek ? Rewound(stream) : new PrefixedStream(head.AsMemory(0, filled), stream);
            var lines = new TextLines(stream, what, new StreamReader(body, encoding, detectEncodingFromByteOrderMarks: true, bufferSize: 1 << 16, leaveOpen: true));
            stream = null;
            return lines;
        }
        catch (UnauthorizedAccessException)
        {
            throw new HerdUsageException($"Error: {what} cannot be read: permission denied. Make it readable for this user.");
        }
        catch (IOException ex)
        {
            throw new HerdUsageException($"Error: {what} cannot be read ({ex.Message.TrimEnd('.')}).");
        }
        finally
        {
            stream?.Dispose();
        }
    }

    private static Stream Rewound(Stream stream)
    {
        stream.Position = 0;
        return stream;
    }

    /// <summary>The next line without its line end, or null at the end of the file.</summary>
    /// <exception cref="HerdUsageException">The file cannot be read any further.</exception>
    public string? Next()
    {
        try
        {
            var line = _reader.ReadLine();
            if (line is not null)
                _number++;
            return line;
        }
        catch (IOException ex)
        {
            throw new HerdUsageException($"Error: {_what} cannot be read ({ex.Message.TrimEnd('.')}).");
        }
    }

    /// <summary>Reads the file again from its first line.</summary>
    /// <exception cref="InvalidOperationException">A pipe: it is read once.</exception>
    public void Rewind()
    {
        if (!CanRewind)
            throw new InvalidOperationException("a pipe is read once");
        var encoding = _reader.CurrentEncoding;
        _reader.Dispose();
        _stream.Position = 0;
        _reader = new StreamReader(_stream, encoding, detectEncodingFromByteOrderMarks: true, bufferSize: 1 << 16, leaveOpen: true);
        _number = 0;
    }

    public void Dispose()
    {
        _reader.Dispose();
        _stream.Dispose();
    }

    /// <summary>The bytes already read for the binary check, then the rest of a stream that cannot seek back.</summary>
    private sealed class PrefixedStream(ReadOnlyMemory<byte> prefix, Stream rest) : Stream
    {
        private ReadOnlyMemory<byte> _prefix = prefix;

        public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

        public override int Read(Span<byte> buffer)
        {
            if (_prefix.IsEmpty)
                return rest.Read(buffer);
            var n = Math.Min(buffer.Length, _prefix.Length);
            _prefix.Span[..n].CopyTo(buffer);
            _prefix = _prefix[n..];
            return n;
        }

        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
