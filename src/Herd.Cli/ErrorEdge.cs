using System.Data.Common;
using System.Text.Json;
using Herd.Agent;

namespace Herd.Cli;

/// <summary>
/// The one place where a command's failure becomes what the user sees: one line on stderr and the exit code of
/// <see cref="ExitCodes"/>, never a stack trace. Herd's own exceptions carry a finished line in the house form
/// (<c>Error: what went wrong. What to do.</c>); I/O, database and JSON failures that escaped a more specific handler
/// are turned into such a line here.
/// </summary>
public static class ErrorEdge
{
    public static async Task<int> RunAsync(HerdCommand command, TextWriter stderr, Func<Task<int>> body)
    {
        try
        {
            return await body().ConfigureAwait(false);
        }
        catch (Exception ex) when (Describe(ex) is { } line)
        {
            stderr.WriteLine(line.Text);
            var exits = ExitCodes.For(command);
            return line.IsFatal ? exits.Fatal : exits.Usage;
        }
    }

    public static int Run(HerdCommand command, TextWriter stderr, Func<int> body) =>
        RunAsync(command, stderr, () => Task.FromResult(body())).GetAwaiter().GetResult();

    /// <summary>The line for an exception, or null for one that is a bug (those keep their stack trace).</summary>
    public static (string Text, bool IsFatal)? Describe(Exception ex) => ex switch
    {
        HerdException h => (h.Message, h.IsFatal),
        UnauthorizedAccessException u => ($"Error: permission denied: {u.Message} Make the path accessible to this user, or choose another.", true),
        DirectoryNotFoundException d => ($"Error: {d.Message} Create the directory first, or choose another path.", true),
        FileNotFoundException f => ($"Error: file not found: {f.FileName ?? f.Message}. Check the path.", true),
        PathTooLongException p => ($"Error: {p.Message}", false),
        IOException io when IsDiskFull(io) => ($"Error: the disk is full ({io.Message}). Free space and run again (a run continues with --resume).", true),
        IOException io => ($"Error: {io.Message}", true),
        DbException db => ($"Error: database: {db.Message}", true),
        JsonException j => ($"Error: malformed JSON: {j.Message}", false),
        _ when MissingNativeLibrary(ex) is { } d => (NativeLibraryMissing(d), true),
        _ => null,
    };

    /// <summary>A DllNotFoundException, however deep the type initializers and reflection wrapped it.</summary>
    private static DllNotFoundException? MissingNativeLibrary(Exception? ex)
    {
        for (; ex is not null; ex = ex.InnerException)
        {
            if (ex is DllNotFoundException d)
                return d;
        }
        return null;
    }

    /// <summary>A broken installation (herd's binary moved without the native SQLite library beside it), not a bug of the run.</summary>
    private static string NativeLibraryMissing(DllNotFoundException d) =>
        $"Error: a native library herd needs could not be loaded ({FirstLine(d.Message)}). Reinstall herd, or keep the files published with it (libe_sqlite3.so) next to the herd binary.";

    private static string FirstLine(string text) => text.Split('\n', 2)[0].TrimEnd('.', ' ', '\r');

    /// <summary>ENOSPC, by the error number .NET puts in the low bits of the HResult on Unix (never by message text).</summary>
    private static bool IsDiskFull(IOException io) => (io.HResult & 0xFFFF) == 28;
}
