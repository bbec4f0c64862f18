using System.Text;
using System.Text.Json;

namespace Herd.Fleet.Reports;

/// <summary>
/// GitLab Code Quality (<c>artifacts:reports:codequality</c>): a JSON array of
/// <c>{description, check_name, fingerprint, severity, location:{path, lines:{begin}}}</c>, UTF-8 without a BOM.
/// GitLab drops entries whose fingerprint repeats, so a repeated finding gets its occurrence number folded in.
/// </summary>
public static class CodeQualityReport
{
    public static ReportOutput Write(ReportContext ctx)
    {
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var unlocated = 0;
        using var buffer = new MemoryStream();
        using (var w = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = true, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            w.WriteStartArray();
            foreach (var f in ctx.Findings)
            {
                var rule = ReportContext.RuleId(f);
                var path = ctx.RelativePath(f.File);
                if (path is null)
                    unlocated++;
                var baseHash = ctx.Fingerprint(f, rule);
                var fingerprint = baseHash;
                for (var n = 2; !seen.Add(fingerprint); n++)
                    fingerprint = $"{baseHash}-{n}";
                w.WriteStartObject();
                w.WriteString("description", f.Message);
                w.WriteString("check_name", rule);
                w.WriteString("fingerprint", fingerprint);
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
            w.WriteEndArray();
        }
        var notes = unlocated > 0 ? new[] { $"{unlocated} finding(s) name no file; Code Quality lists them under their task's name." } : [];
        return new ReportOutput(new UTF8Encoding(false).GetString(buffer.ToArray()), notes);
    }
}
