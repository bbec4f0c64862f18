using System.Text;

namespace Herd.Agent.Loop;

/// <summary>
/// The memory files Claude Code 2.1.332 reads in print mode, and the one text block it sends them in (observed on the
/// wire against the scripted server, tests/Herd.Cli.Tests/Print/ClaudeCode/memory.json):
/// the user's <c>CLAUDE.md</c> in the config directory, then for every directory from the file-system root down to
/// the working directory its <c>CLAUDE.md</c>, <c>.claude/CLAUDE.md</c> and <c>CLAUDE.local.md</c>. <c>AGENTS.md</c>
/// and subdirectories are not read. <c>--bare</c> reads none.
/// </summary>
public static class MemoryFiles
{
    private const string Preamble =
        "Codebase and user instructions are shown below. Be sure to adhere to these instructions. IMPORTANT: These instructions OVERRIDE any default behavior and you MUST follow them exactly as written.";

    /// <summary>A memory file found, with the words Claude Code uses to say where it comes from.</summary>
    public sealed record MemoryFile(string Path, string Label, string Content);

    /// <summary>The files in the order they are sent; empty, unreadable and binary files are left out.</summary>
    /// <param name="userConfigDirectory">Where the user's CLAUDE.md lives: <c>$CLAUDE_CONFIG_DIR</c>, else <c>~/.claude</c>.</param>
    public static IReadOnlyList<MemoryFile> Discover(string workingDirectory, string? userConfigDirectory)
    {
        var found = new List<MemoryFile>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        void Add(string path, string label)
        {
            if (seen.Add(path) && Read(path) is { } content)
                found.Add(new MemoryFile(path, label, content));
        }

        if (userConfigDirectory is not null)
            Add(Path.Combine(userConfigDirectory, "CLAUDE.md"), "user's private global instructions for all projects");
        var directories = new List<string>();
        for (var dir = new DirectoryInfo(Path.GetFullPath(workingDirectory)); dir is not null; dir = dir.Parent)
            directories.Add(dir.FullName);
        directories.Reverse();
        foreach (var dir in directories)
        {
            Add(Path.Combine(dir, "CLAUDE.md"), "project instructions, checked into the codebase");
            Add(Path.Combine(dir, ".claude", "CLAUDE.md"), "project instructions, checked into the codebase");
            Add(Path.Combine(dir, "CLAUDE.local.md"), "user's private project instructions, not checked in");
        }
        return found;
    }

    /// <summary>The block sent before the first prompt, or null when there are no memory files.</summary>
    public static string? Format(IReadOnlyList<MemoryFile> files)
    {
        if (files.Count == 0)
            return null;
        var sb = new StringBuilder("<system-reminder>\n").Append(Preamble).Append("\n\n");
        sb.AppendJoin("\n\n", files.Select(f => $"Contents of {f.Path} ({f.Label}):\n\n{f.Content}"));
        return sb.Append("\n</system-reminder>").ToString();
    }

    /// <summary><c>$CLAUDE_CONFIG_DIR</c>, else <c>~/.claude</c>; null when there is no home directory.</summary>
    public static string? UserConfigDirectory()
    {
        var configured = Environment.GetEnvironmentVariable("CLAUDE_CONFIG_DIR");
        if (!string.IsNullOrWhiteSpace(configured))
            return configured;
        var home = Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);
        return string.IsNullOrEmpty(home) ? null : Path.Combine(home, ".claude");
    }

    private static string? Read(string path)
    {
        try
        {
            if (!File.Exists(path))
                return null;
            var bytes = File.ReadAllBytes(path);
            if (Array.IndexOf(bytes, (byte)0) >= 0)
                return null; // a binary file is nobody's instructions
            var text = Encoding.UTF8.GetString(bytes).Trim();
            return text.Length == 0 ? null : text;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }
}
