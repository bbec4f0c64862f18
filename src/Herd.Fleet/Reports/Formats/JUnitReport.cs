using System.Globalization;
using System.Text;
using System.Xml;
using Herd.Agent.IO;

namespace Herd.Fleet.Reports;

/// <summary>
/// JUnit XML as GitLab (<c>artifacts:reports:junit</c>) and Jenkins (<c>junit</c>) read it: one testsuite per run, one
/// testcase per task with its time; a <c>failure</c> for a non-success outcome or for findings at or above
/// <c>--fail-severity</c>; the task's result text in <c>system-out</c>. Cancelled tasks are skipped (resumable).
/// The shape is the one Jenkins' JUnit schema (xunit-plugin junit-10.xsd) accepts: <c>skipped</c> only on the suite,
/// never on <c>testsuites</c>; finding paths are repository-relative, as in every other format.
/// </summary>
/// <remarks>
/// One pass over the run in bounded memory: each test case is written to a temporary file as its task is read, while
/// the suite's totals (tests, failures, skipped, time) are counted; then the document is written with the totals up
/// front and the cases copied in after them (the attributes come first in XML, the counts only at the end).
/// </remarks>
public static class JUnitReport
{
    public static ReportOutput Write(ReportContext ctx) => ReportOutput.Collect(output => Write(ctx, output));

    /// <returns>The notes for stderr (none).</returns>
    public static IReadOnlyList<string> Write(ReportContext ctx, Stream output)
    {
        var run = ctx.Header;
        int tests = 0, failing = 0, skipped = 0;
        double cost = 0;
        DateTimeOffset? first = null, last = null;
        using var cases = PrivateTempFile.Create("junit");
        var fragment = new XmlWriterSettings { Indent = true, Encoding = new UTF8Encoding(false), CheckCharacters = true, CloseOutput = false, ConformanceLevel = ConformanceLevel.Fragment };
        using (var cw = XmlWriter.Create(cases, fragment))
        {
            foreach (var t in ctx.Run.Tasks())
            {
                var findings = ctx.FindingsOf(t).ToArray();
                tests++;
                cost += t.CostUsd;
                if (t.Outcome == Herd.Fleet.Engines.OutcomeClass.Cancelled)
                    skipped++;
                if (t.Failed || findings.Any(f => f.Severity >= ctx.Options.FailSeverity))
                    failing++;
                first = first is { } a && a <= t.Start ? a : t.Start;
                last = last is { } b && b >= t.End ? b : t.End;
                WriteCase(ctx, cw, t, findings);
            }
        }
        var wall = run.WallS ?? (first is { } s0 && last is { } s1 ? Math.Max(0, (s1 - s0).TotalSeconds) : 0);
        var unfinished = Math.Max(0, run.Planned - tests);
        var settings = new XmlWriterSettings { Indent = true, Encoding = new UTF8Encoding(false), CheckCharacters = true, CloseOutput = false };
        using (var w = XmlWriter.Create(output, settings))
        {
            w.WriteStartDocument();
            // The one suite carries the same totals as the document, as JUnit readers look at either.
            void Totals(string element, string name, bool withSkipped)
            {
                w.WriteStartElement(element);
                w.WriteAttributeString("name", name);
                w.WriteAttributeString("tests", Int(tests));
                w.WriteAttributeString("failures", Int(failing));
                w.WriteAttributeString("errors", "0");
                if (withSkipped)
                    w.WriteAttributeString("skipped", Int(skipped));
                w.WriteAttributeString("time", Secs(wall));
            }

            Totals("testsuites", "herd " + run.RunId, withSkipped: false);
            Totals("testsuite", "herd." + run.RunId, withSkipped: true);
            if (first is { } start)
                w.WriteAttributeString("timestamp", start.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss", CultureInfo.InvariantCulture));
            w.WriteStartElement("properties");
            Property(w, "run_id", run.RunId);
            Property(w, "cost_usd", cost.ToString("0.######", CultureInfo.InvariantCulture));
            Property(w, "unfinished", Int(unfinished));
            w.WriteEndElement();
            // The cases were written (and checked) by an XmlWriter already: they go in as they are.
            cases.Position = 0;
            using (var reader = new StreamReader(cases, new UTF8Encoding(false), detectEncodingFromByteOrderMarks: false, 1 << 16, leaveOpen: true))
            {
                var buffer = new char[1 << 15];
                w.WriteRaw("\n");
                for (int n; (n = reader.Read(buffer, 0, buffer.Length)) > 0;)
                    w.WriteRaw(buffer, 0, n);
            }
            w.WriteEndElement();
            w.WriteEndElement();
            w.WriteEndDocument();
        }
        return [];
    }

    private static void WriteCase(ReportContext ctx, XmlWriter w, ReportTask t, Finding[] findings)
    {
        w.WriteStartElement("testcase");
        w.WriteAttributeString("classname", "herd." + (t.Shard is { } s ? "shard" + s.Replace('/', '-') : ctx.Header.RunId));
        w.WriteAttributeString("name", Clean(t.Name));
        w.WriteAttributeString("time", Secs(t.RuntimeS));
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
}
