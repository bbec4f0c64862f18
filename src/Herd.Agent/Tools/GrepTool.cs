using Microsoft.Extensions.FileSystemGlobbing;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Herd.Agent.IO;

namespace Herd.Agent.Tools;

/// <summary>
/// Searches file contents with ripgrep's flags and output modes (spec §10.2), on .NET's non-backtracking regex engine
/// so a model-written pattern cannot hang the run. Binary files, symlinks and version-control folders are skipped.
/// </summary>
public sealed class GrepTool : ITool
{
    public const int DefaultHeadLimit = 250;
    public const int MaxLineLength = 2000;
    private const long MaxFileBytes = 20 * 1024 * 1024;

    /// <summary>ripgrep's <c>--type</c> names for the common languages.</summary>
    private static readonly Dictionary<string, string[]> Types = new(StringComparer.OrdinalIgnoreCase)
    {
        ["cs"] = ["*.cs", "*.csx"], ["csharp"] = ["*.cs", "*.csx"], ["js"] = ["*.js", "*.jsx", "*.mjs", "*.cjs"], ["ts"] = ["*.ts", "*.tsx", "*.mts", "*.cts"],
        ["py"] = ["*.py", "*.pyi"], ["go"] = ["*.go"], ["rust"] = ["*.rs"], ["rs"] = ["*.rs"], ["java"] = ["*.java"], ["kotlin"] = ["*.kt", "*.kts"],
        ["json"] = ["*.json"], ["md"] = ["*.md", "*.markdown"], ["markdown"] = ["*.md", "*.markdown"], ["yaml"] = ["*.yaml", "*.yml"], ["toml"] = ["*.toml"],
        ["c"] = ["*.c", "*.h"], ["cpp"] = ["*.cpp", "*.cc", "*.cxx", "*.hpp", "*.hh", "*.h"], ["rb"] = ["*.rb"], ["ruby"] = ["*.rb"], ["php"] = ["*.php"],
        ["sh"] = ["*.sh", "*.bash", "*.zsh"], ["html"] = ["*.html", "*.htm"], ["css"] = ["*.css", "*.scss", "*.less"], ["xml"] = ["*.xml", "*.csproj", "*.props", "*.targets"],
        ["sql"] = ["*.sql"], ["swift"] = ["*.swift"], ["scala"] = ["*.scala"], ["lua"] = ["*.lua"], ["txt"] = ["*.txt"],
    };

    public string Name => "Grep";

    public string Description =>
        "Searches file contents with a regular expression (ripgrep syntax). output_mode: files_with_matches (default), " +
        "content (matching lines, with -A/-B/-C context and -n line numbers) or count. Filter files with glob or type. " +
        "head_limit caps the output (default 250, 0 = unlimited).";

    public bool IsReadOnly => true;

    public JsonObject InputSchema()
    {
        var props = new JsonObject
        {
            ["pattern"] = ToolInput.Prop("string", "The regular expression pattern to search for in file contents"),
            ["path"] = ToolInput.Prop("string", "File or directory to search in. Defaults to the current working directory."),
            ["glob"] = ToolInput.Prop("string", "Glob pattern to filter files (e.g. \"*.js\", \"*.{ts,tsx}\")"),
            ["type"] = ToolInput.Prop("string", "File type to search (e.g. js, py, rust, go, java)"),
            ["output_mode"] = new JsonObject
            {
                ["type"] = "string",
                ["enum"] = new JsonArray("content", "files_with_matches", "count"),
                ["description"] = "Output mode; defaults to files_with_matches",
            },
            ["-A"] = ToolInput.Prop("number", "Lines to show after each match (content mode)"),
            ["-B"] = ToolInput.Prop("number", "Lines to show before each match (content mode)"),
            ["-C"] = ToolInput.Prop("number", "Lines to show before and after each match (content mode)"),
            ["context"] = ToolInput.Prop("number", "Same as -C"),
            ["-n"] = ToolInput.Prop("boolean", "Show line numbers (content mode, default true)"),
            ["-i"] = ToolInput.Prop("boolean", "Case insensitive search"),
            ["multiline"] = ToolInput.Prop("boolean", "Let patterns span lines; . matches newlines"),
            ["head_limit"] = ToolInput.Prop("number", "Limit output to the first N lines/entries (default 250, 0 = unlimited)"),
            ["offset"] = ToolInput.Prop("number", "Skip the first N lines/entries"),
        };
        return ToolInput.Schema(props, "pattern");
    }

    public async Task<ToolResult> InvokeAsync(JsonElement input, ToolContext context, CancellationToken cancellationToken = default)
    {
        if (ToolInput.String(input, "pattern") is not { Length: > 0 } pattern)
            return ToolInput.Missing(Name, "pattern");
        if (ToolContext.HasNul(ToolInput.String(input, "path")) || ToolContext.HasNul(ToolInput.String(input, "glob")))
            return ToolResult.Error(FileGuard.NulMessage("path or glob"));
        var target = context.ResolvePath(ToolInput.String(input, "path") ?? context.WorkingDirectory);
        var mode = ToolInput.String(input, "output_mode") ?? "files_with_matches";
        if (mode is not ("content" or "files_with_matches" or "count"))
            return ToolResult.Error($"output_mode must be one of content, files_with_matches, count (got '{mode}').");
        var multiline = ToolInput.Bool(input, "multiline") ?? false;
        var options = RegexOptions.NonBacktracking | RegexOptions.CultureInvariant | RegexOptions.Multiline;
        if (ToolInput.Bool(input, "-i") == true)
            options |= RegexOptions.IgnoreCase;
        if (multiline)
            options |= RegexOptions.Singleline;
        Regex regex;
        try
        {
            regex = new Regex(pattern, options);
        }
        catch (Exception ex) when (ex is ArgumentException or NotSupportedException)
        {
            return ToolResult.Error($"Invalid regex pattern '{pattern}': {ex.Message} (lookarounds and backreferences are not supported)");
        }
        var context0 = (int?)ToolInput.Number(input, "context") ?? (int?)ToolInput.Number(input, "-C") ?? 0;
        var after = Math.Max(0, (int?)ToolInput.Number(input, "-A") ?? context0);
        var before = Math.Max(0, (int?)ToolInput.Number(input, "-B") ?? context0);
        var lineNumbers = ToolInput.Bool(input, "-n") ?? true;
        var headLimit = (int?)ToolInput.Number(input, "head_limit") ?? DefaultHeadLimit;
        var skip = Math.Max(0, (int?)ToolInput.Number(input, "offset") ?? 0);

        var status = FileStatus.Of(target);
        if (status.Kind == FileKind.Missing)
            return ToolResult.Error($"Path does not exist: {target}");
        if (FileGuard.CheckRegular(target, status) is { } special)
            return ToolResult.Error(special);
        if (FileGuard.CheckRead(target, context) is { } denied)
            return ToolResult.Error(denied);
        var singleFile = status.Kind == FileKind.Regular;
        IEnumerable<(string Path, DateTime Modified)> files = singleFile ? [(target, File.GetLastWriteTimeUtc(target))] : FileWalker.Files(target, context);
        var filter = FileFilter(ToolInput.String(input, "glob"), ToolInput.String(input, "type"));
        if (filter.Error is not null)
            return ToolResult.Error(filter.Error);

        var hits = new List<(string Path, DateTime Modified, int Count, List<string> Lines)>();
        foreach (var (path, modified) in files)
        {
            cancellationToken.ThrowIfCancellationRequested();
            if (!singleFile && !filter.Accept(FileWalker.Relative(target, path)))
                continue;
            var text = await ReadTextAsync(path, cancellationToken).ConfigureAwait(false);
            if (text is null)
                continue;
            var shownPath = FileWalker.Display(path, context);
            var (count, lines) = Search(text, regex, multiline, mode == "content", before, after, lineNumbers, singleFile ? null : shownPath);
            if (count > 0)
                hits.Add((shownPath, modified, count, lines));
        }

        IEnumerable<string> entries;
        string empty;
        switch (mode)
        {
            case "content":
                entries = hits.OrderBy(h => h.Path, StringComparer.Ordinal).SelectMany((h, i) => i == 0 || before + after == 0 ? h.Lines : h.Lines.Prepend("--"));
                empty = "No matches found";
                break;
            case "count":
                entries = hits.OrderBy(h => h.Path, StringComparer.Ordinal).Select(h => singleFile ? h.Count.ToString(System.Globalization.CultureInfo.InvariantCulture) : $"{h.Path}:{h.Count}");
                empty = "No matches found";
                break;
            default:
                entries = hits.OrderByDescending(h => h.Modified).ThenBy(h => h.Path, StringComparer.Ordinal).Select(h => h.Path);
                empty = "No files found";
                break;
        }
        var all = entries.Skip(skip).ToList();
        var shown = headLimit > 0 ? all.Take(headLimit).ToList() : all;
        string body;
        if (shown.Count == 0)
            body = empty;
        else if (mode == "files_with_matches")
            body = $"Found {shown.Count} file{(shown.Count == 1 ? "" : "s")}\n" + string.Join('\n', shown);
        else if (mode == "count")
            body = string.Join('\n', shown) + $"\n\nFound {hits.Sum(h => h.Count)} total occurrences across {hits.Count} file{(hits.Count == 1 ? "" : "s")}.";
        else
            body = string.Join('\n', shown);
        if (shown.Count < all.Count)
            body += $"\n\n[Showing results with pagination = limit: {headLimit}, offset: {skip}]";

        var names = new JsonArray();
        foreach (var h in hits)
            names.Add((JsonNode)JsonValue.Create(h.Path));
        var structured = new JsonObject
        {
            ["mode"] = mode,
            ["numFiles"] = hits.Count,
            ["filenames"] = names,
            ["numLines"] = mode == "content" ? shown.Count : 0,
            ["numMatches"] = hits.Sum(h => h.Count),
        };
        if (mode == "content")
            structured["content"] = body;
        return new ToolResult(body, false, structured);
    }

    private sealed record Filter(Func<string, bool> Accept, string? Error = null);

    private static Filter FileFilter(string? glob, string? type)
    {
        var tests = new List<Func<string, bool>>();
        if (!string.IsNullOrEmpty(glob))
        {
            // ripgrep: a glob without a slash matches the file name at any depth.
            var matcher = FileWalker.Matcher(glob.Contains('/') ? glob : "**/" + glob);
            tests.Add(rel => matcher.Match(rel).HasMatches);
        }
        if (!string.IsNullOrEmpty(type))
        {
            if (!Types.TryGetValue(type, out var globs))
                return new Filter(_ => false, $"Unknown file type '{type}'. Known types: {string.Join(", ", Types.Keys.Order(StringComparer.Ordinal))}. Use glob for others.");
            var matcher = new Microsoft.Extensions.FileSystemGlobbing.Matcher(StringComparison.OrdinalIgnoreCase);
            foreach (var g in globs)
                matcher.AddInclude("**/" + g);
            tests.Add(rel => matcher.Match(rel).HasMatches);
        }
        return new Filter(rel => tests.All(t => t(rel)));
    }

    private static async Task<string?> ReadTextAsync(string path, CancellationToken cancellationToken)
    {
        try
        {
            // Only regular files: a FIFO in the tree would block the search forever, a device never end.
            var status = FileStatus.Of(path, followSymlinks: false);
            if (status.Kind != FileKind.Regular || status.Size > MaxFileBytes)
                return null;
            var bytes = await File.ReadAllBytesAsync(path, cancellationToken).ConfigureAwait(false);
            if (TextFile.LooksBinary(bytes))
                return null;
            var encoding = TextFile.Detect(bytes, out var bom);
            return encoding.GetString(bytes, bom, bytes.Length - bom);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    /// <summary>Counts matches and, for content mode, renders ripgrep-style lines: <c>path:12:text</c>, context <c>path-11-text</c>.</summary>
    private static (int Count, List<string> Lines) Search(string text, Regex regex, bool multiline, bool render, int before, int after, bool numbers, string? path)
    {
        var lines = text.Split('\n');
        var matched = new SortedSet<int>();
        var count = 0;
        if (multiline)
        {
            var starts = new int[lines.Length];
            for (int i = 1, pos = 0; i < lines.Length; i++)
            {
                pos += lines[i - 1].Length + 1;
                starts[i] = pos;
            }
            foreach (Match m in regex.Matches(text))
            {
                count++;
                var first = LineOf(starts, m.Index);
                var last = LineOf(starts, Math.Max(m.Index, m.Index + m.Length - 1));
                for (var l = first; l <= last; l++)
                    matched.Add(l);
            }
        }
        else
        {
            for (var i = 0; i < lines.Length; i++)
            {
                if (regex.IsMatch(lines[i].TrimEnd('\r')))
                {
                    matched.Add(i);
                    count++;
                }
            }
            // ripgrep counts matching lines in count mode, which is what this is.
        }
        var output = new List<string>();
        if (!render || count == 0)
            return (count, output);
        var shown = new SortedSet<int>();
        foreach (var m in matched)
        {
            for (var l = Math.Max(0, m - before); l <= Math.Min(lines.Length - 1, m + after); l++)
                shown.Add(l);
        }
        var previous = -2;
        foreach (var l in shown)
        {
            if (previous >= 0 && l != previous + 1 && before + after > 0)
                output.Add("--");
            var sep = matched.Contains(l) ? ':' : '-';
            var line = lines[l].TrimEnd('\r');
            if (line.Length > MaxLineLength)
                line = line[..MaxLineLength] + "…";
            var sb = new StringBuilder();
            if (path is not null)
                sb.Append(path).Append(sep);
            if (numbers)
                sb.Append(l + 1).Append(sep);
            sb.Append(line);
            output.Add(sb.ToString());
            previous = l;
        }
        return (count, output);
    }

    private static int LineOf(int[] starts, int index)
    {
        var i = Array.BinarySearch(starts, index);
        return i >= 0 ? i : ~i - 1;
    }
}
