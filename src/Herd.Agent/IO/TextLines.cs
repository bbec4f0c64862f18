using Herd.Agent.Tools;

namespace Herd.Agent.IO;

/// <summary>
/// A text file the user named, read a line at a time as it is needed (issue #23: a plan of a million lines is never
/// held whole). Everything that can be told up front — missing, a directory, unreadable, binary — is refused by
/// <see cref="Open"/>, before anything is written, with the same messages as <see cref="TextInput"/>. A regular file
/// can be read again from its start (<see cref="Rewind"/>); a pipe (<c>--input &lt;(git ls-files)</c>) is read once,
/// unless it was opened to be read twice: then what is read from it is also written to a private, unlinked temporary
/// file, which is read the second time (a <c>--tasks</c> pipe is checked whole before it is planned).
/// </summary>
public sealed class TextLines : IDisposable
{
    private Stream _stream;
    private readonly string _what;
    private StreamReader _reader;
    private SpoolingStream? _spool;
    private int _number;

    private TextLines(Stream stream, string what, StreamReader reader, SpoolingStream? spool)
    {
        _stream = stream;
        _what = what;
        _reader = reader;
        _spool = spool;
    }

    /// <value>Whether <see cref="Rewind"/> works: a regular file, or a pipe opened to be read twice.</value>
    public bool CanRewind => _stream.CanSeek || _spool is not null;

    /// <value>The 1-based number of the line <see cref="Next"/> returned last.</value>
    public int LineNumber => _number;

    /// <param name="what">How the user named it, e.g. <c>--input 'files.txt'</c>.</param>
    /// <param name="readTwice">A pipe is spooled to a temporary file as it is read, so <see cref="Rewind"/> works for it too.</param>
    /// <exception cref="HerdUsageException">The file cannot be used, with the reason.</exception>
    public static TextLines Open(string path, string what, bool readTwice = false)
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
            var spool = !stream.CanSeek && readTwice ? new SpoolingStream(body) : null;
            var lines = new TextLines(stream, what, new StreamReader(spool ?? body, encoding, detectEncodingFromByteOrderMarks: true, bufferSize: 1 << 16, leaveOpen: true), spool);
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
    /// <exception cref="InvalidOperationException">A pipe not opened to be read twice: it is read once.</exception>
    /// <exception cref="HerdUsageException">The rest of a spooled pipe cannot be read or spooled.</exception>
    public void Rewind()
    {
        if (!CanRewind)
            throw new InvalidOperationException("a pipe is read once");
        var encoding = _reader.CurrentEncoding;
        _reader.Dispose();
        if (_spool is { } spool)
        {
            // From now on the spool is the file: the pipe's rest is spooled first, so nothing it still held is lost.
            try
            {
                var pipe = _stream;
                _stream = spool.Finish();
                pipe.Dispose();
            }
            catch (IOException ex)
            {
                throw new HerdUsageException($"Error: {_what} cannot be read ({ex.Message.TrimEnd('.')}).");
            }
            _spool = null;
        }
        _stream.Position = 0;
        _reader = new StreamReader(_stream, encoding, detectEncodingFromByteOrderMarks: true, bufferSize: 1 << 16, leaveOpen: true);
        _number = 0;
    }

    public void Dispose()
    {
        _reader.Dispose();
        _spool?.Dispose();
        _stream.Dispose();
    }

    /// <summary>
    /// A pipe read through, with every byte read also written to an unlinked temporary file readable by this user only;
    /// <see cref="Finish"/> spools the rest and hands the file over, so the pipe's lines can be read a second time
    /// without holding them in memory (issue #23).
    /// </summary>
    private sealed class SpoolingStream : ForwardOnlyStream
    {
        private readonly Stream _source;
        private readonly FileStream _file;
        private bool _handedOver;

        public SpoolingStream(Stream source)
        {
            _source = source;
            _file = PrivateTempFile.Create("lines");
        }

        public override int Read(Span<byte> buffer)
        {
            var n = _source.Read(buffer);
            _file.Write(buffer[..n]);
            return n;
        }

        /// <summary>Spools what the pipe still holds and returns the spool, which the caller now owns.</summary>
        public Stream Finish()
        {
            _source.CopyTo(_file);
            _file.Flush();
            _handedOver = true;
            return _file;
        }

        protected override void Dispose(bool disposing)
        {
            if (disposing && !_handedOver)
                _file.Dispose();
            base.Dispose(disposing);
        }
    }

    /// <summary>The bytes already read for the binary check, then the rest of a stream that cannot seek back.</summary>
    private sealed class PrefixedStream(ReadOnlyMemory<byte> prefix, Stream rest) : ForwardOnlyStream
    {
        private ReadOnlyMemory<byte> _prefix = prefix;

        public override int Read(Span<byte> buffer)
        {
            if (_prefix.IsEmpty)
                return rest.Read(buffer);
            var n = Math.Min(buffer.Length, _prefix.Length);
            _prefix.Span[..n].CopyTo(buffer);
            _prefix = _prefix[n..];
            return n;
        }
    }

    /// <summary>A stream read once from start to end: what a pipe is, and what is read through one.</summary>
    private abstract class ForwardOnlyStream : Stream
    {
        public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

        public abstract override int Read(Span<byte> buffer);

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
