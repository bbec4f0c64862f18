using Microsoft.Extensions.FileSystemGlobbing;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Herd.Agent.Tools;

/// <summary>
/// Finds files by glob pattern under <c>path</c> (default: the working directory). As Claude Code 2.1.332 does: oldest
/// first by modification time, paths relative to the working directory (absolute outside it).
/// </summary>
public sealed class GlobTool : ITool
{
    public const int MaxResults = 100;

    public string Name => "Glob";

    public string Description =>
        "Fast file pattern matching, e.g. \"**/*.cs\" or \"src/**/*.{ts,tsx}\". Returns matching file paths sorted by " +
        "modification time, oldest first, relative to the working directory. path defaults to the working directory.";

    public bool IsReadOnly => true;

    public JsonObject InputSchema() => ToolInput.Schema(new JsonObject
    {
        ["pattern"] = ToolInput.Prop("string", "The glob pattern to match files against"),
        ["path"] = ToolInput.Prop("string", "The directory to search in. Defaults to the current working directory."),
    }, "pattern");

    /// <summary>
    /// The folder a search reads: an absolute pattern's fixed leading folders, else <paramref name="path"/> or the working
    /// directory. The permission engine checks this folder, so the tool must never read above it.
    /// </summary>
    public static string BaseDirectory(string pattern, string? path, ToolContext context)
    {
        var (root, _) = Split(pattern, path, context);
        return root;
    }

    private static (string Root, string Pattern) Split(string pattern, string? path, ToolContext context)
    {
        var root = context.ResolvePath(string.IsNullOrEmpty(path) ? context.WorkingDirectory : path);
        if (!(pattern.StartsWith('/') || pattern.StartsWith("~/", StringComparison.Ordinal)))
            return (root, pattern);
        var full = pattern.StartsWith('~') ? ToolContext.Home + pattern[1..] : pattern;
        var segments = full.Split('/');
        var fixedCount = 0;
        while (fixedCount < segments.Length - 1 && segments[fixedCount].IndexOfAny(['*', '?', '[', '{']) < 0)
            fixedCount++;
        var fixedPart = string.Join('/', segments[..fixedCount]);
        return (Path.GetFullPath(fixedPart.Length == 0 ? "/" : fixedPart), string.Join('/', segments[fixedCount..]));
    }

    public Task<ToolResult> InvokeAsync(JsonElement input, ToolContext context, CancellationToken cancellationToken = default)
    {
        if (ToolInput.String(input, "pattern") is not { Length: > 0 } pattern)
            return Task.FromResult(ToolInput.Missing(Name, "pattern"));
        if (ToolContext.HasNul(pattern) || ToolContext.HasNul(ToolInput.String(input, "path")))
            return Task.FromResult(ToolResult.Error(FileGuard.NulMessage("pattern or path")));
        var (root, relative) = Split(pattern, ToolInput.String(input, "path"), context);
        if (relative.Split('/').Contains(".."))
            return Task.FromResult(ToolResult.Error("The pattern must not contain '..' segments. Pass the folder to search as path instead."));
        if (!Directory.Exists(root))
            return Task.FromResult(ToolResult.Error($"Directory does not exist: {root}"));

        var started = context.Time.GetTimestamp();
        var matcher = FileWalker.Matcher(relative);
        var matches = new List<(string Path, DateTime Modified)>();
        foreach (var file in FileWalker.Files(root, context))
        {
            cancellationToken.ThrowIfCancellationRequested();
            if (matcher.Match(FileWalker.Relative(root, file.Path)).HasMatches)
                matches.Add(file);
        }
        // Claude Code 2.1.332: oldest first, paths relative to the working directory.
        var sorted = matches.OrderBy(m => m.Modified).ThenBy(m => m.Path, StringComparer.Ordinal).Select(m => FileWalker.Display(m.Path, context)).ToList();
        var truncated = sorted.Count > MaxResults;
        var shown = sorted.Take(MaxResults).ToList();
        var text = shown.Count == 0 ? "No files found" : string.Join('\n', shown);
        if (truncated)
            text += "\n(Results are truncated. Consider using a more specific path or pattern.)";
        var names = new JsonArray();
        foreach (var s in shown)
            names.Add((JsonNode)JsonValue.Create(s));
        var structured = new JsonObject
        {
            ["filenames"] = names,
            ["durationMs"] = (long)context.Time.GetElapsedTime(started).TotalMilliseconds,
            ["numFiles"] = shown.Count,
            ["truncated"] = truncated,
        };
        return Task.FromResult(new ToolResult(text, false, structured));
    }
}
