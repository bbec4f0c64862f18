using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Herd.Agent.IO;

namespace Herd.Agent.Tools;

/// <summary>Creates or overwrites a file (spec §10.3). An existing file must have been read, and be unchanged since.</summary>
public sealed class WriteTool : ITool
{
    public string Name => "Write";

    public string Description =>
        "Writes a file to the local filesystem, creating parent directories. file_path must be absolute. Overwriting an " +
        "existing file requires reading it first with the Read tool.";

    public bool IsReadOnly => false;

    public JsonObject InputSchema() => ToolInput.Schema(new JsonObject
    {
        ["file_path"] = ToolInput.Prop("string", "The absolute path to the file to write (must be absolute, not relative)"),
        ["content"] = ToolInput.Prop("string", "The content to write to the file"),
    }, "file_path", "content");

    public async Task<ToolResult> InvokeAsync(JsonElement input, ToolContext context, CancellationToken cancellationToken = default)
    {
        if (ToolInput.String(input, "file_path") is not { Length: > 0 } given)
            return ToolInput.Missing(Name, "file_path");
        if (ToolInput.String(input, "content") is not { } content)
            return ToolInput.Missing(Name, "content");
        if (ToolContext.HasNul(given))
            return ToolResult.Error(FileGuard.NulMessage("file_path"));
        if (!Path.IsPathRooted(given) && !given.StartsWith('~'))
            return ToolResult.Error($"file_path must be an absolute path, not a relative path: {given}");
        var path = context.ResolvePath(given);
        var status = FileStatus.Of(path);
        if (status.Kind == FileKind.Directory)
            return ToolResult.Error($"EISDIR: illegal operation on a directory, open '{path}'");
        if (FileGuard.CheckRegular(path, status) is { } special)
            return ToolResult.Error(special);
        if (FileGuard.CheckWrite(path, context) is { } confined)
            return ToolResult.Error(confined);

        var exists = status.Kind == FileKind.Regular;
        if (exists && status.Size > FileGuard.MaxEditBytes)
            return ToolResult.Error($"{path} is too large to overwrite with Write ({BashTool.FormatSize(status.Size)}; the limit is {FileGuard.MaxEditBytes / (1024 * 1024)}MB).");
        Encoding encoding = new UTF8Encoding(false);
        string? original = null;
        if (exists)
        {
            if (TextFile.CheckFreshness(path, context) is { } stale)
                return ToolResult.Error(stale);
            var file = await TextFile.ReadAsync(path, cancellationToken).ConfigureAwait(false);
            encoding = file.Encoding;
            original = file.Crlf ? file.Text.Replace("\n", "\r\n", StringComparison.Ordinal) : file.Text;
        }
        else
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);

        await TextFile.WriteRawAsync(path, content, encoding, cancellationToken).ConfigureAwait(false);
        context.ReadFiles[path] = File.GetLastWriteTimeUtc(path);

        var structured = new JsonObject
        {
            ["type"] = exists ? "update" : "create",
            ["filePath"] = path,
            ["content"] = content,
            ["originalFile"] = original,
        };
        var text = exists
            ? $"The file {path} has been updated successfully." + FileGuard.StateIsCurrent
            : $"File created successfully at: {path}" + FileGuard.StateIsCurrent;
        return new ToolResult(text, false, structured);
    }
}
