using System.Globalization;
using System.Text;
using System.Text.Json;

namespace Herd.Fleet.Reports;

/// <summary>
/// <c>--joblog FILE</c>: GNU parallel's joblog, so tooling written for it keeps working. A tab-separated header
/// (<see cref="Header"/>) and one line per finished task, from the same record as results.ndjson (whose first nine
/// fields are these columns): Seq, Host <c>:</c>, Starttime (epoch seconds, 3 decimals), JobRuntime (seconds, padded
/// to 10 like GNU parallel's <c>%10.3f</c>), Send, Receive, Exitval, Signal, Command.
/// </summary>
/// <remarks>
/// Like results.ndjson it is a view of the database: rebuilt at open from the stored final records (so a resumed run
/// keeps one line per finished task, in finishing order) and appended as each task's final state is committed. The
/// Command column is the command exactly as it ran, with each newline written as a NUL byte: GNU parallel's own
/// encoding, which its <c>--retry-failed</c> turns back into newlines before it runs the command again. Nothing else is
/// escaped (an escaped backslash would turn <c>'\''</c> into <c>'\\''</c>, invalid shell or, worse, different shell);
/// tabs stay as they are, since Command is the last column and GNU parallel reads it as the rest of the line.
/// </remarks>
public static class Joblog
{
    public const string Header = "Seq\tHost\tStarttime\tJobRuntime\tSend\tReceive\tExitval\tSignal\tCommand";

    /// <summary>The joblog line of one results.ndjson record.</summary>
    public static string Line(string record)
    {
        using var doc = JsonDocument.Parse(record);
        var r = doc.RootElement;
        var inv = CultureInfo.InvariantCulture;
        var command = (r.GetProperty("Command").GetString() ?? "").Replace('\n', '\0');
        return string.Join('\t',
            r.GetProperty("Seq").GetInt64().ToString(inv),
            r.GetProperty("Host").GetString(),
            r.GetProperty("Starttime").GetDouble().ToString("0.000", inv),
            r.GetProperty("JobRuntime").GetDouble().ToString("0.000", inv).PadLeft(10),
            r.GetProperty("Send").GetInt64().ToString(inv),
            r.GetProperty("Receive").GetInt64().ToString(inv),
            r.GetProperty("Exitval").GetInt64().ToString(inv),
            r.GetProperty("Signal").GetInt64().ToString(inv),
            command);
    }

    /// <summary>Writes the header and one line per stored record (temp file + rename), then opens it for appending.</summary>
    public static StreamWriter Rebuild(string path, IEnumerable<string> records)
    {
        var tmp = path + ".tmp";
        using (var writer = new StreamWriter(tmp, false, new UTF8Encoding(false)))
        {
            writer.Write(Header + "\n");
            foreach (var r in records)
                writer.Write(Line(r) + "\n");
        }
        File.Move(tmp, path, overwrite: true);
        return new StreamWriter(new FileStream(path, FileMode.Append, FileAccess.Write, FileShare.Read), new UTF8Encoding(false)) { AutoFlush = true };
    }
}
