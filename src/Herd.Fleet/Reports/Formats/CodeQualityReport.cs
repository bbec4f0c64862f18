using System.Text;
using System.Text.Json;

namespace Herd.Fleet.Reports;

/// <summary>
/// GitLab Code Quality (<c>artifacts:reports:codequality</c>): a JSON array of
/// <c>{description, check_name, fingerprint, severity, location:{path, lines:{begin}}}</c>, UTF-8 without a BOM.
/// GitLab drops entries whose fingerprint repeats, so a repeated finding gets its occurrence number folded in.
/// Every finding is listed, written as the run is read (tasks in the order they finished; GitLab sorts by severity
/// itself): what stays in memory is one number per distinct fingerprint.
/// </summary>
public static class CodeQualityReport
{
    public static ReportOutput Write(ReportContext ctx) => ReportOutput.Collect(output => Write(ctx, output));

    /// <returns>The notes for stderr.</returns>
    public static IReadOnlyList<string> Write(ReportContext ctx, Stream output)
    {
        // Occurrences per fingerprint, keyed by its 64 bits rather than its text.
        var seen = new Dictionary<ulong, int>();
        var unlocated = 0L;
        using (var w = new Utf8JsonWriter(output, new JsonWriterOptions { Indented = true, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            w.WriteStartArray();
            foreach (var task in ctx.Run.Tasks())
            {
                foreach (var f in ctx.FindingsOf(task))
                {
                    var rule = ReportContext.RuleId(f);
                    var path = ctx.RelativePath(f.File);
                    if (path is null)
                        unlocated++;
                    var baseHash = ctx.Fingerprint(f, rule);
                    var key = ulong.Parse(baseHash, System.Globalization.NumberStyles.HexNumber, System.Globalization.CultureInfo.InvariantCulture);
                    var n = seen[key] = seen.GetValueOrDefault(key) + 1;
                    w.WriteStartObject();
                    w.WriteString("description", f.Message);
                    w.WriteString("check_name", rule);
                    w.WriteString("fingerprint", n == 1 ? baseHash : $"{baseHash}-{n}");
                    w.WriteString("severity", f.Severity.Name());
                    w.WriteString("type", "issue");
                    w.WriteStartObject("location");
                    // GitLab needs a path; a finding without one is attached to the task it came from.
                    w.WriteString("path", path ?? f.TaskName);
                    w.WriteStartObject("lines");
                    w.WriteNumber("begin", f.Line ?? 1);
                    w.WriteEndObject();
                    w.WriteEndObject();
                    w.WriteEndObject();
                }
                if (w.BytesPending > 64 * 1024)
                    w.Flush();
            }
            w.WriteEndArray();
        }
        return unlocated > 0 ? [$"{unlocated} finding(s) name no file; Code Quality lists them under their task's name."] : [];
    }
}
