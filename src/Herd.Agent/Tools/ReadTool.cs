using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Herd.Agent.Tools;

/// <summary>Reads a text file with <c>cat -n</c>-style numbering (spec §10.3, the 2.1.332 form: number, TAB, line).</summary>
public sealed class ReadTool : ITool
{
    public const int DefaultLineLimit = 2000;
    public const int MaxLineLength = 2000;

    public string Name => "Read";

    public string Description =>
        "Reads a file from the local filesystem. file_path must be an absolute path. By default reads up to 2000 lines " +
        "from the start; offset (1-based line) and limit select a range. Lines longer than 2000 characters are cut. " +
        "Output is numbered like cat -n.";

    public bool IsReadOnly => true;

    public JsonObject InputSchema() => new()
    {
        ["type"] = "object",
        ["properties"] = new JsonObject
        {
            ["file_path"] = new JsonObject { ["type"] = "string", ["description"] = "The absolute path to the file to read" },
            ["offset"] = new JsonObject { ["type"] = "number", ["description"] = "The line number to start reading from (1-based)" },
            ["limit"] = new JsonObject { ["type"] = "number", ["description"] = "The number of lines to read" },
        },
        ["required"] = new JsonArray("file_path"),
        ["additionalProperties"] = false,
    };

    public async Task<ToolResult> InvokeAsync(JsonElement input, ToolContext context, CancellationToken cancellationToken = default)
    {
        if (!input.TryGetProperty("file_path", out var pathElement) || pathElement.ValueKind != JsonValueKind.String)
            return ToolResult.Error("InputValidationError: Read failed due to the following issue: The required parameter `file_path` is missing");
        var path = context.ResolvePath(pathElement.GetString()!);
        var offset = input.TryGetProperty("offset", out var o) && o.ValueKind == JsonValueKind.Number ? Math.Max(1, (int)o.GetDouble()) : 1;
        var limit = input.TryGetProperty("limit", out var l) && l.ValueKind == JsonValueKind.Number ? Math.Max(1, (int)l.GetDouble()) : DefaultLineLimit;

        if (Directory.Exists(path))
            return ToolResult.Error($"EISDIR: illegal operation on a directory, read '{path}'. Use LS or Glob to list a directory.");
        if (!File.Exists(path))
            return ToolResult.Error("File does not exist.");

        byte[] bytes;
        try
        {
            bytes = await File.ReadAllBytesAsync(path, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return ToolResult.Error($"Cannot read {path}: {ex.Message}");
        }
        if (LooksBinary(bytes))
            return ToolResult.Error($"This tool cannot read binary files. The file appears to be a binary file: {path}");
        context.ReadFiles[path] = File.GetLastWriteTimeUtc(path);

        var text = Encoding.UTF8.GetString(bytes);
        var lines = text.Split('\n');
        var total = lines.Length;
        var sb = new StringBuilder();
        var first = Math.Min(offset, total + 1);
        var last = Math.Min(total, first - 1 + limit);
        for (var n = first; n <= last; n++)
        {
            var line = lines[n - 1].TrimEnd('\r');
            if (line.Length > MaxLineLength)
                line = line[..MaxLineLength] + "… [line truncated]";
            sb.Append(n).Append('\t').Append(line).Append('\n');
        }
        if (sb.Length == 0)
            sb.Append($"<system-reminder>The file exists but has fewer than {offset} lines ({total}).</system-reminder>");
        var content = sb.ToString();
        var structured = new JsonObject
        {
            ["type"] = "text",
            ["file"] = new JsonObject
            {
                ["filePath"] = path,
                ["content"] = string.Join('\n', lines.Skip(first - 1).Take(Math.Max(0, last - first + 1))),
                ["numLines"] = Math.Max(0, last - first + 1),
                ["startLine"] = first,
                ["totalLines"] = total,
            },
        };
        return new ToolResult(content, false, structured);
    }

    /// <summary>A NUL byte in the first 8 KiB marks a binary file, as git and grep decide.</summary>
    internal static bool LooksBinary(ReadOnlySpan<byte> bytes) => bytes[..Math.Min(bytes.Length, 8192)].Contains((byte)0);
}
