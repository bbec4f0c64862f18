using System.Text.Json;
using System.Text.Json.Nodes;
using Herd.Agent.IO;

namespace Herd.Agent.Tools;

/// <summary>
/// Replaces an exact string in a file (spec §10.3): literal, whitespace-sensitive, unique unless <c>replace_all</c>.
/// The file must have been read in this conversation and be unchanged since; encoding and line endings are kept.
/// </summary>
public sealed class EditTool : ITool
{
    public string Name => "Edit";

    public string Description =>
        "Performs exact string replacements in a file. Read the file first. old_string must match exactly once " +
        "(include surrounding context) unless replace_all is true; new_string must differ from old_string.";

    public bool IsReadOnly => false;

    public JsonObject InputSchema() => ToolInput.Schema(new JsonObject
    {
        ["file_path"] = ToolInput.Prop("string", "The absolute path to the file to modify"),
        ["old_string"] = ToolInput.Prop("string", "The text to replace"),
        ["new_string"] = ToolInput.Prop("string", "The text to replace it with (must be different from old_string)"),
        ["replace_all"] = new JsonObject { ["type"] = "boolean", ["default"] = false, ["description"] = "Replace all occurrences of old_string (default false)" },
    }, "file_path", "old_string", "new_string");

    public async Task<ToolResult> InvokeAsync(JsonElement input, ToolContext context, CancellationToken cancellationToken = default)
    {
        if (ToolInput.String(input, "file_path") is not { Length: > 0 } given)
            return ToolInput.Missing(Name, "file_path");
        if (ToolInput.String(input, "old_string") is not { } oldString)
            return ToolInput.Missing(Name, "old_string");
        if (ToolInput.String(input, "new_string") is not { } newString)
            return ToolInput.Missing(Name, "new_string");
        var replaceAll = ToolInput.Bool(input, "replace_all") ?? false;
        if (ToolContext.HasNul(given))
            return ToolResult.Error(FileGuard.NulMessage("file_path"));
        if (!Path.IsPathRooted(given) && !given.StartsWith('~'))
            return ToolResult.Error($"file_path must be an absolute path, not a relative path: {given}");
        var path = context.ResolvePath(given);
        if (oldString == newString)
            return ToolResult.Error("No changes to make: old_string and new_string are exactly the same.");
        var status = FileStatus.Of(path);
        if (status.Kind == FileKind.Directory)
            return ToolResult.Error($"EISDIR: illegal operation on a directory, open '{path}'");
        if (FileGuard.CheckRegular(path, status) is { } special)
            return ToolResult.Error(special);
        if (FileGuard.CheckWrite(path, context) is { } confined)
            return ToolResult.Error(confined);
        if (status.Size > FileGuard.MaxEditBytes)
            return ToolResult.Error($"{path} is too large to edit ({BashTool.FormatSize(status.Size)}; the limit is {FileGuard.MaxEditBytes / (1024 * 1024)}MB). Use Bash (sed) for a file this size.");

        if (status.Kind == FileKind.Missing)
        {
            // Claude Code lets an empty old_string create a new file; keep that shortcut.
            if (oldString.Length == 0)
            {
                Directory.CreateDirectory(Path.GetDirectoryName(path)!);
                await TextFile.WriteRawAsync(path, newString, new System.Text.UTF8Encoding(false), cancellationToken).ConfigureAwait(false);
                context.ReadFiles[path] = File.GetLastWriteTimeUtc(path);
                return new ToolResult($"File created successfully at: {path}" + FileGuard.StateIsCurrent, false, Structured(path, oldString, newString, "", replaceAll));
            }
            return ToolResult.Error("File does not exist.");
        }
        if (TextFile.CheckFreshness(path, context) is { } stale)
            return ToolResult.Error(stale);

        var file = await TextFile.ReadAsync(path, cancellationToken).ConfigureAwait(false);
        // The file is held with LF endings; match the model's strings the same way so CRLF files edit naturally.
        var oldLf = oldString.Replace("\r\n", "\n", StringComparison.Ordinal);
        var newLf = newString.Replace("\r\n", "\n", StringComparison.Ordinal);
        if (oldLf.Length == 0)
            return ToolResult.Error("Cannot create new file - file already exists.");
        var count = CountOccurrences(file.Text, oldLf);
        if (count == 0)
            return ToolResult.Error($"String to replace not found in file.\nString: {oldString}");
        if (count > 1 && !replaceAll)
        {
            return ToolResult.Error(
                $"Found {count} matches of the string to replace, but replace_all is false. To replace all occurrences, set replace_all to true. " +
                $"To replace only one occurrence, please provide more context to uniquely identify the instance.\nString: {oldString}");
        }
        string updated;
        if (replaceAll)
            updated = file.Text.Replace(oldLf, newLf, StringComparison.Ordinal);
        else
        {
            var at = file.Text.IndexOf(oldLf, StringComparison.Ordinal);
            updated = string.Concat(file.Text.AsSpan(0, at), newLf, file.Text.AsSpan(at + oldLf.Length));
        }
        await file.WriteAsync(path, updated, cancellationToken).ConfigureAwait(false);
        // A second edit in a row must not trip the "modified since read" check on our own write.
        context.ReadFiles[path] = File.GetLastWriteTimeUtc(path);

        var message = replaceAll
            ? $"The file {path} has been updated. All occurrences of '{oldString}' were successfully replaced with '{newString}'." + FileGuard.StateIsCurrent
            : $"The file {path} has been updated successfully." + FileGuard.StateIsCurrent;
        return new ToolResult(message, false, Structured(path, oldString, newString, file.Text, replaceAll));
    }

    internal static int CountOccurrences(string text, string value)
    {
        var count = 0;
        for (var i = text.IndexOf(value, StringComparison.Ordinal); i >= 0; i = text.IndexOf(value, i + value.Length, StringComparison.Ordinal))
            count++;
        return count;
    }

    private static JsonObject Structured(string path, string oldString, string newString, string original, bool replaceAll) => new()
    {
        ["filePath"] = path,
        ["oldString"] = oldString,
        ["newString"] = newString,
        ["originalFile"] = original,
        ["replaceAll"] = replaceAll,
        ["userModified"] = false,
    };
}
