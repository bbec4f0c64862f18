using System.Globalization;
using System.Text;
using System.Xml;

namespace Herd.Fleet.Reports;

/// <summary>
/// JUnit XML as GitLab (<c>artifacts:reports:junit</c>) and Jenkins (<c>junit</c>) read it: one testsuite per run, one
/// testcase per task with its time; a <c>failure</c> for a non-success outcome or for findings at or above
/// <c>--fail-severity</c>; the task's result text in <c>system-out</c>. Cancelled tasks are skipped (resumable).
/// The shape is the one Jenkins' JUnit schema (xunit-plugin junit-10.xsd) accepts: <c>skipped</c> only on the suite,
/// never on <c>testsuites</c>; finding paths are repository-relative, as in every other format.
/// </summary>
public static class JUnitReport
{
    public static ReportOutput Write(ReportContext ctx)
    {
        var run = ctx.Run;
        var findingsByTask = ctx.Findings.ToLookup(f => f.TaskKey, StringComparer.Ordinal);
        var failing = run.Tasks.Where(t => t.Failed || findingsByTask[t.Key].Any(f => f.Severity >= ctx.Options.FailSeverity)).Select(t => t.Key).ToHashSet(StringComparer.Ordinal);
        var skipped = run.Tasks.Count(t => t.Outcome == Herd.Fleet.Engines.OutcomeClass.Cancelled);
        var sb = new StringBuilder();
        var settings = new XmlWriterSettings { Indent = true, Encoding = new UTF8Encoding(false), CheckCharacters = true };
        using (var w = XmlWriter.Create(new StringWriterUtf8(sb), settings))
        {
            w.WriteStartDocument();
            // The one suite carries the same totals as the document, as JUnit readers look at either.
            void Totals(string element, string name, bool withSkipped)
            {
                w.WriteStartElement(element);
                w.WriteAttributeString("name", name);
                w.WriteAttributeString("tests", Int(run.Tasks.Count));
                w.WriteAttributeString("failures", Int(failing.Count));
                w.WriteAttributeString("errors", "0");
                if (withSkipped)
                    w.WriteAttributeString("skipped", Int(skipped));
                w.WriteAttributeString("time", Secs(run.WallS));
            }

            Totals("testsuites", "herd " + run.RunId, withSkipped: false);
            Totals("testsuite", "herd." + run.RunId, withSkipped: true);
            if (run.Tasks.Count > 0)
                w.WriteAttributeString("timestamp", run.Tasks.Min(t => t.Start).UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss", CultureInfo.InvariantCulture));
            w.WriteStartElement("properties");
            Property(w, "run_id", run.RunId);
            Property(w, "cost_usd", run.CostUsd.ToString("0.######", CultureInfo.InvariantCulture));
            Property(w, "unfinished", Int(run.Unfinished));
            w.WriteEndElement();
            foreach (var t in run.Tasks)
            {
                w.WriteStartElement("testcase");
                w.WriteAttributeString("classname", "herd." + (t.Shard is { } s ? "shard" + s.Replace('/', '-') : run.RunId));
                w.WriteAttributeString("name", Clean(t.Name));
                w.WriteAttributeString("time", Secs(t.RuntimeS));
                var findings = findingsByTask[t.Key].ToArray();
                if (t.Outcome == Herd.Fleet.Engines.OutcomeClass.Cancelled)
                {
                    w.WriteStartElement("skipped");
                    w.WriteAttributeString("message", "cancelled (resumable with herd run --resume)");
                    w.WriteEndElement();
                }
                else if (t.Failed)
                {
                    w.WriteStartElement("failure");
                    w.WriteAttributeString("type", t.Class);
                    w.WriteAttributeString("message", Clean(SarifReport.OneLine($"{t.Class}: {t.Error ?? "no error text"}", 500)));
                    w.WriteString(Clean(t.Error ?? t.Class));
                    w.WriteEndElement();
                }
                else if (findings.Any(f => f.Severity >= ctx.Options.FailSeverity))
                {
                    var bad = findings.Where(f => f.Severity >= ctx.Options.FailSeverity).ToArray();
                    w.WriteStartElement("failure");
                    w.WriteAttributeString("type", "findings");
                    w.WriteAttributeString("message", $"{bad.Length} finding(s) at or above {ctx.Options.FailSeverity.Name()}");
                    w.WriteString(Clean(string.Join('\n', bad.Select(f => Line(ctx, f)))));
                    w.WriteEndElement();
                }
                w.WriteStartElement("system-out");
                var text = t.ResultText;
                if (findings.Length > 0)
                    text += "\n\nFindings:\n" + string.Join('\n', findings.Select(f => Line(ctx, f)));
                w.WriteString(Clean(text));
                w.WriteEndElement();
                w.WriteEndElement();
            }
            w.WriteEndElement();
            w.WriteEndElement();
            w.WriteEndDocument();
        }
        return new ReportOutput(sb.ToString(), []);
    }

    private static string Line(ReportContext ctx, Finding f) => $"[{f.Severity.Name()}] {ctx.RelativePath(f.File) ?? "-"}{(f.Line is { } l ? ":" + l.ToString(CultureInfo.InvariantCulture) : "")} {f.Message}";

    private static void Property(XmlWriter w, string name, string value)
    {
        w.WriteStartElement("property");
        w.WriteAttributeString("name", name);
        w.WriteAttributeString("value", value);
        w.WriteEndElement();
    }

    private static string Int(int n) => n.ToString(CultureInfo.InvariantCulture);

    private static string Secs(double s) => Math.Round(Math.Max(0, s), 3).ToString("0.###", CultureInfo.InvariantCulture);

    /// <summary>XML 1.0 cannot carry most control characters, even escaped; model output can. They become U+FFFD.</summary>
    private static string Clean(string s)
    {
        if (s.All(XmlConvert.IsXmlChar))
            return s;
        var sb = new StringBuilder(s.Length);
        for (var i = 0; i < s.Length; i++)
        {
            if (char.IsHighSurrogate(s[i]) && i + 1 < s.Length && char.IsLowSurrogate(s[i + 1]))
            {
                sb.Append(s[i]).Append(s[++i]);
                continue;
            }
            sb.Append(XmlConvert.IsXmlChar(s[i]) ? s[i] : '\uFFFD');
        }
        return sb.ToString();
    }

    private sealed class StringWriterUtf8(StringBuilder sb) : StringWriter(sb, CultureInfo.InvariantCulture)
    {
        public override Encoding Encoding => new UTF8Encoding(false);
    }
}
