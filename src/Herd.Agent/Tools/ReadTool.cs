using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Herd.Agent.IO;

namespace Herd.Agent.Tools;

/// <summary>Reads a text file with <c>cat -n</c>-style numbering (spec §10.3, the 2.1.332 form: number, TAB, line).</summary>
public sealed class ReadTool : ITool
{
    public const int DefaultLineLimit = 2000;
    public const int MaxLineLength = 2000;

    private static readonly Dictionary<string, string> ImageTypes = new(StringComparer.OrdinalIgnoreCase)
    {
        [".png"] = "image/png", [".jpg"] = "image/jpeg", [".jpeg"] = "image/jpeg", [".gif"] = "image/gif", [".webp"] = "image/webp", [".bmp"] = "image/bmp",
    };

    public string Name => "Read";

    public string Description =>
        "Reads a file from the local filesystem. file_path must be an absolute path. By default reads up to 2000 lines " +
        "from the start; offset (1-based line) and limit select a range. Lines longer than 2000 characters are cut. " +
        "Output is numbered like cat -n: line number, a TAB, then the line.";

    public bool IsReadOnly => true;

    public JsonObject InputSchema() => ToolInput.Schema(new JsonObject
    {
        ["file_path"] = ToolInput.Prop("string", "The absolute path to the file to read"),
        ["offset"] = ToolInput.Prop("number", "The line number to start reading from (1-based)"),
        ["limit"] = ToolInput.Prop("number", "The number of lines to read"),
    }, "file_path");

    public async Task<ToolResult> InvokeAsync(JsonElement input, ToolContext context, CancellationToken cancellationToken = default)
    {
        if (ToolInput.String(input, "file_path") is not { Length: > 0 } given)
            return ToolInput.Missing(Name, "file_path");
        if (ToolContext.HasNul(given))
            return ToolResult.Error(FileGuard.NulMessage("file_path"));
        var path = context.ResolvePath(given);
        var ranged = ToolInput.Number(input, "offset") is not null || ToolInput.Number(input, "limit") is not null;
        var offset = ToolInput.Number(input, "offset") is { } o ? (int)Math.Clamp(o, 1, int.MaxValue) : 1;
        var limit = ToolInput.Number(input, "limit") is { } l ? (int)Math.Clamp(l, 1, int.MaxValue) : DefaultLineLimit;

        if (FileGuard.CheckRead(path, context) is { } denied)
            return ToolResult.Error(denied);
        var status = FileStatus.Of(path);
        if (status.Kind == FileKind.Directory)
            return ToolResult.Error($"EISDIR: illegal operation on a directory, read '{path}'. Use LS or Glob to list a directory.");
        if (status.Kind == FileKind.Missing)
            return ToolResult.Error("File does not exist.");
        if (FileGuard.CheckRegular(path, status) is { } special)
            return ToolResult.Error(special);
        if (ImageTypes.TryGetValue(Path.GetExtension(path), out var mime))
        {
            // Claude Code would attach the image; Herd's tool results are text, so say so plainly instead of sending bytes.
            return new ToolResult($"{path} is an image file ({mime}, {status.Size} bytes). Herd's Read tool returns text only and cannot show images.");
        }
        if (string.Equals(Path.GetExtension(path), ".pdf", StringComparison.OrdinalIgnoreCase))
            return ToolResult.Error($"{path} is a PDF file. Herd's Read tool reads text files only; extract the text first (for example with pdftotext).");
        if (status.Size > FileGuard.MaxReadBytes && !ranged)
        {
            // Claude Code 2.1.332's refusal, without its allow_large escape hatch (Herd has none).
            return ToolResult.Error(
                $"File content ({BashTool.FormatSize(status.Size)}) exceeds maximum allowed size ({FileGuard.MaxReadBytes / 1024}KB). Use offset and limit " +
                "parameters to read specific portions of the file, or search for specific content instead of reading the whole file.");
        }

        var stamp = File.GetLastWriteTimeUtc(path);
        byte[] bytes;
        // A large file read by range holds only the requested lines; `first` is the line number of its first line.
        var first = 1;
        var partial = status.Size > FileGuard.MaxReadBytes;
        try
        {
            if (partial)
            {
                (bytes, var reached) = await ReadLinesAsync(path, offset, limit, cancellationToken).ConfigureAwait(false);
                if (!reached)
                {
                    return new ToolResult($"<system-reminder>Warning: the file exists but is shorter than the provided offset ({offset}).</system-reminder>",
                        false, FileResult(path, "", 0, offset, 0));
                }
                first = offset;
            }
            else
                bytes = await File.ReadAllBytesAsync(path, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return ToolResult.Error($"Cannot read {path}: {ex.Message}");
        }
        if (TextFile.LooksBinary(bytes))
            return ToolResult.Error($"This tool cannot read binary files. The file appears to be a binary file: {path}");
        context.ReadFiles[path] = stamp;

        var encoding = TextFile.Detect(bytes, out var bom);
        var text = encoding.GetString(bytes, bom, bytes.Length - bom);
        if (text.Length == 0)
        {
            return new ToolResult("<system-reminder>Warning: the file exists but the contents are empty.</system-reminder>", false,
                FileResult(path, "", 0, 1, 0));
        }
        var lines = text.Split('\n');
        var total = first - 1 + lines.Length;
        if (offset > total)
        {
            return new ToolResult($"<system-reminder>Warning: the file exists but is shorter than the provided offset ({offset}). The file has {total} lines.</system-reminder>",
                false, FileResult(path, "", 0, offset, total));
        }
        var last = (int)Math.Min(total, (long)offset - 1 + limit);
        var sb = new StringBuilder();
        var plain = new StringBuilder();
        for (var n = offset; n <= last; n++)
        {
            var line = lines[n - first].TrimEnd('\r');
            if (line.Length > MaxLineLength)
                line = line[..MaxLineLength] + "… [line truncated]";
            if (n > offset)
            {
                sb.Append('\n');
                plain.Append('\n');
            }
            sb.Append(n).Append('\t').Append(line);
            plain.Append(line);
        }
        return new ToolResult(sb.ToString(), false, FileResult(path, plain.ToString(), last - offset + 1, offset, total));
    }

    /// <summary>Most bytes of a large file scanned to reach the requested lines: keeps a read of a huge file under a second.</summary>
    public const long MaxScanBytes = 64L * 1024 * 1024;

    /// <summary>
    /// For a file over the size limit read with offset/limit: the bytes of the requested lines, and whether the file
    /// reaches <paramref name="offset"/> at all. Fails when the lines lie beyond <see cref="MaxScanBytes"/>, so memory and
    /// time stay bounded whatever the file's size.
    /// </summary>
    private static async Task<(byte[] Bytes, bool Reached)> ReadLinesAsync(string path, int offset, int limit, CancellationToken cancellationToken)
    {
        var wantedLines = (long)offset - 1 + limit;
        await using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite, 1 << 16, useAsync: true);
        using var kept = new MemoryStream();
        var buffer = new byte[1 << 16];
        long lines = 0, scanned = 0;
        var keeping = offset == 1;
        int n;
        while ((n = await stream.ReadAsync(buffer, cancellationToken).ConfigureAwait(false)) > 0)
        {
            scanned += n;
            var start = 0;
            for (var i = 0; i < n; i++)
            {
                if (buffer[i] != (byte)'\n')
                    continue;
                lines++;
                if (!keeping && lines == offset - 1)
                {
                    keeping = true;
                    start = i + 1;
                }
                else if (keeping && lines >= wantedLines)
                {
                    kept.Write(buffer, start, i - start);
                    return (kept.ToArray(), true);
                }
            }
            if (keeping)
                kept.Write(buffer, start, n - start);
            if (scanned > MaxScanBytes)
                throw new IOException($"the requested lines lie beyond the first {MaxScanBytes / (1024 * 1024)}MB of the file; use Grep or Bash (sed -n) to reach them");
        }
        return (kept.ToArray(), keeping);
    }

    private static JsonObject FileResult(string path, string content, int numLines, int startLine, int totalLines) => new()
    {
        ["type"] = "text",
        ["file"] = new JsonObject
        {
            ["filePath"] = path,
            ["content"] = content,
            ["numLines"] = numLines,
            ["startLine"] = startLine,
            ["totalLines"] = totalLines,
        },
    };


    /// <summary>The rule Read uses to refuse a binary file; flags that take a text file use it too.</summary>
    public static bool LooksBinary(ReadOnlySpan<byte> bytes) => TextFile.LooksBinary(bytes);
}
