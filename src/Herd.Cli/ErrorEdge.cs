using System.Data.Common;
using System.Text.Json;
using Herd.Agent;

namespace Herd.Cli;

/// <summary>
/// The one place where a command's failure becomes what the user sees: one line on stderr and a documented exit code,
/// never a stack trace. Herd's own exceptions carry a finished message; I/O, database and JSON failures that escaped a
/// more specific handler are turned into a line naming what failed.
/// </summary>
public static class ErrorEdge
{
    /// <param name="command">e.g. <c>herd run</c>, prefixed to messages that do not already say "Error:".</param>
    /// <param name="usageExit">Exit code for usage errors (bad flags or input).</param>
    /// <param name="fatalExit">Exit code when a valid command could not be carried out.</param>
    public static async Task<int> RunAsync(string command, TextWriter stderr, int usageExit, int fatalExit, Func<Task<int>> body)
    {
        try
        {
            return await body().ConfigureAwait(false);
        }
        catch (Exception ex) when (Describe(ex) is { } line)
        {
            stderr.WriteLine(line.Text.StartsWith("Error:", StringComparison.Ordinal) || line.Text.StartsWith("error:", StringComparison.Ordinal)
                ? line.Text
                : $"{command}: {line.Text}");
            return line.IsFatal ? fatalExit : usageExit;
        }
    }

    public static int Run(string command, TextWriter stderr, int usageExit, int fatalExit, Func<int> body) =>
        RunAsync(command, stderr, usageExit, fatalExit, () => Task.FromResult(body())).GetAwaiter().GetResult();

    /// <summary>The line for an exception, or null for one that is a bug (those keep their stack trace).</summary>
    public static (string Text, bool IsFatal)? Describe(Exception ex) => ex switch
    {
        HerdException h => (h.Message, h.IsFatal),
        UnauthorizedAccessException u => ($"Error: permission denied: {u.Message} Make the path accessible to this user, or choose another.", true),
        DirectoryNotFoundException d => ($"Error: {d.Message} Create the directory first, or choose another path.", true),
        FileNotFoundException f => ($"Error: file not found: {f.FileName ?? f.Message}. Check the path.", true),
        PathTooLongException p => ($"Error: {p.Message}", false),
        IOException io when io.HResult == 28 || io.Message.Contains("No space left", StringComparison.Ordinal) => ($"Error: the disk is full ({io.Message}). Free space and run again (a run continues with --resume).", true),
        IOException io => ($"Error: {io.Message}", true),
        DbException db => ($"Error: database: {db.Message}", true),
        JsonException j => ($"Error: malformed JSON: {j.Message}", false),
        _ => null,
    };
}
