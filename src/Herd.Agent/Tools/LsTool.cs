using Microsoft.Extensions.FileSystemGlobbing;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Herd.Agent.Tools;

/// <summary>Lists a directory as an indented tree (Claude Code's legacy LS tool). Hidden entries and symlinked folders are not entered.</summary>
public sealed class LsTool : ITool
{
    public const int MaxEntries = 1000;

    public string Name => "LS";

    public string Description =>
        "Lists files and directories in a given path as a tree. path must be an absolute path; ignore takes glob patterns to leave out.";

    public bool IsReadOnly => true;

    public JsonObject InputSchema()
    {
        var props = new JsonObject
        {
            ["path"] = ToolInput.Prop("string", "The absolute path to the directory to list"),
            ["ignore"] = new JsonObject { ["type"] = "array", ["items"] = new JsonObject { ["type"] = "string" }, ["description"] = "List of glob patterns to ignore" },
        };
        return ToolInput.Schema(props, "path");
    }

    public Task<ToolResult> InvokeAsync(JsonElement input, ToolContext context, CancellationToken cancellationToken = default)
    {
        if (ToolContext.HasNul(ToolInput.String(input, "path")))
            return Task.FromResult(ToolResult.Error(FileGuard.NulMessage("path")));
        var root = context.ResolvePath(ToolInput.String(input, "path") ?? context.WorkingDirectory);
        if (!Directory.Exists(root))
            return Task.FromResult(ToolResult.Error(File.Exists(root) ? $"{root} is a file, not a directory." : $"Directory does not exist: {root}"));
        var ignores = new List<Microsoft.Extensions.FileSystemGlobbing.Matcher>();
        if (input.ValueKind == JsonValueKind.Object && input.TryGetProperty("ignore", out var ig) && ig.ValueKind == JsonValueKind.Array)
        {
            foreach (var item in ig.EnumerateArray().Where(i => i.ValueKind == JsonValueKind.String))
                ignores.Add(FileWalker.Matcher(item.GetString()!));
        }

        var sb = new StringBuilder().Append("- ").Append(root.TrimEnd('/')).Append("/\n");
        var count = 0;
        var truncated = false;
        void Walk(string dir, int depth)
        {
            IEnumerable<FileSystemInfo> entries;
            try
            {
                entries = new DirectoryInfo(dir).EnumerateFileSystemInfos().OrderBy(e => e.Name, StringComparer.Ordinal).ToArray();
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                return;
            }
            foreach (var entry in entries)
            {
                cancellationToken.ThrowIfCancellationRequested();
                if (entry.Name.StartsWith('.') || entry.Name is "node_modules" or "__pycache__")
                    continue;
                if (ignores.Any(m => m.Match(entry.Name).HasMatches) || context.IsReadDenied(entry.FullName))
                    continue;
                if (++count > MaxEntries)
                {
                    truncated = true;
                    return;
                }
                var isDir = entry is DirectoryInfo;
                sb.Append(' ', 2 * depth).Append("- ").Append(entry.Name).Append(isDir ? "/\n" : "\n");
                if (isDir && entry.LinkTarget is null)
                    Walk(entry.FullName, depth + 1);
                if (truncated)
                    return;
            }
        }
        Walk(root, 1);
        if (truncated)
            sb.Append($"\nThere are more than {MaxEntries} entries under {root}. Use LS on a subfolder or Glob for specific files.\n");
        return Task.FromResult(new ToolResult(sb.ToString().TrimEnd('\n'), false, JsonValue.Create(sb.ToString())));
    }
}
