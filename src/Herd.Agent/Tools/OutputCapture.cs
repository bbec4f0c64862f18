using System.Text;

namespace Herd.Agent.Tools;

/// <summary>
/// One output stream of a Bash command. The first <see cref="BashTool.MaxOutputChars"/> characters stay in memory;
/// past that the stream is spilled to a file in the conversation's scratch folder (at most <see cref="MaxSpillBytes"/>),
/// so a command that prints gigabytes costs bounded memory and the model can still read the whole output afterwards.
/// </summary>
internal sealed class OutputCapture(ToolContext context, string name) : IDisposable
{
    /// <summary>The most of one stream kept on disk; the rest is counted and dropped.</summary>
    public const long MaxSpillBytes = 64L * 1024 * 1024;

    private const int PreviewChars = 2000;
    private static readonly UTF8Encoding Utf8 = new(false);

    private readonly StringBuilder _head = new();
    private FileStream? _spill;
    private string? _spillPath;
    private long _dropped;

    /// <summary>Characters seen so far.</summary>
    public long Length { get; private set; }

    /// <summary>The first <see cref="BashTool.MaxOutputChars"/> characters.</summary>
    public string Head => _head.ToString();

    public void Append(ReadOnlySpan<char> text)
    {
        Length += text.Length;
        var room = BashTool.MaxOutputChars - _head.Length;
        if (room > 0)
            _head.Append(text[..Math.Min(room, text.Length)]);
        if (Length <= BashTool.MaxOutputChars)
            return;
        if (_spill is null)
        {
            _spillPath = Path.Combine(ResultsDirectory(context), $"{Guid.NewGuid():N}.{name}.part");
            _spill = new FileStream(_spillPath, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.None);
            // Everything so far except what this call adds (the head holds at most the first part of it).
            var before = _head.ToString(0, (int)Math.Min(_head.Length, Length - text.Length));
            Write(before);
            Write(text);
            return;
        }
        Write(text);
    }

    private void Write(ReadOnlySpan<char> text)
    {
        if (_spill!.Length >= MaxSpillBytes)
        {
            _dropped += text.Length;
            return;
        }
        var bytes = Utf8.GetBytes(text.ToArray());
        _spill.Write(bytes);
    }

    /// <summary>Writes the stream's whole text (as far as kept) to <paramref name="target"/>.</summary>
    private void CopyTo(Stream target)
    {
        if (_spill is null)
        {
            target.Write(Utf8.GetBytes(_head.ToString()));
            return;
        }
        _spill.Flush();
        _spill.Position = 0;
        _spill.CopyTo(target);
        if (_dropped > 0)
            target.Write(Utf8.GetBytes($"\n... [{_dropped} more characters not saved]\n"));
    }

    /// <summary>
    /// Saves stdout then stderr (as the model would have seen them inline) to one file; returns its path, size in
    /// bytes and Claude Code's preview: the first 2000 characters, cut back to the last whole line.
    /// </summary>
    public static (string Path, long Size, string Preview) Persist(ToolContext context, OutputCapture stdout, OutputCapture stderr)
    {
        var path = Path.Combine(ResultsDirectory(context), Guid.NewGuid().ToString("N")[..10] + ".txt");
        using (var file = new FileStream(path, FileMode.CreateNew, FileAccess.Write, FileShare.Read))
        {
            stdout.CopyTo(file);
            if (stderr.Length > 0)
            {
                if (stdout.Length > 0)
                    file.WriteByte((byte)'\n');
                stderr.CopyTo(file);
            }
        }
        var start = stdout.Length > 0 ? stdout.Head : stderr.Head;
        var preview = start.Length > PreviewChars ? start[..PreviewChars] : start;
        if (start.Length > PreviewChars && preview.LastIndexOf('\n') is var nl and > 0)
            preview = preview[..nl];
        return (path, new FileInfo(path).Length, preview.TrimEnd('\n'));
    }

    private static string ResultsDirectory(ToolContext context)
    {
        var dir = Path.Combine(context.ScratchDirectory, "tool-results");
        Directory.CreateDirectory(dir);
        return dir;
    }

    public void Dispose()
    {
        _spill?.Dispose();
        if (_spillPath is not null)
        {
            try
            {
                File.Delete(_spillPath);
            }
            catch (IOException)
            {
            }
        }
    }
}
