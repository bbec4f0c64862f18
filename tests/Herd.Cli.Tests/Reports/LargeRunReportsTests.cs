using System.Diagnostics;
using System.Text;
using Herd.Fleet.Reports;
using Xunit.Abstractions;

namespace Herd.Cli.Tests.Reports;

/// <summary>
/// Every end-of-run report of a million-task run (issue #23: reports for any size), each written from its own pass over
/// the run in memory that does not grow with it. The formats write to a probe that counts what they wrote and keeps
/// nothing, so the test measures the report's own memory, not its output's.
/// </summary>
[Collection(LargeReportCollection.Name)]
public sealed class LargeRunReportsTests(ITestOutputHelper output)
{
    private const int Tasks = 1_000_000;
    private const int Findings = Tasks / 3;

    [Fact]
    public void Every_format_of_a_million_task_run_is_written_from_one_pass_in_bounded_memory()
    {
        // Given a million-task run read one task at a time (333 333 findings, 3 % failed), the heap sampled as it is read
        long peak = 0;
        var run = new RunStream(new RunHeader("/tmp/synthetic-1m", "synthetic-1m", "finished", 1, "/tmp", Tasks, [], null, null),
            () => LargeHtmlReportTests.Stream(Tasks, sampled => peak = Math.Max(peak, sampled)));
        var ctx = new ReportContext(run, ReportOptions.Default);
        var figures = new List<string>();
        Probe Write(ReportFormat format, string needle)
        {
            peak = 0;
            var probe = new Probe(needle);
            var watch = Stopwatch.StartNew();
            probe.Notes = ReportFormats.Render(ctx, format, probe);
            var line = $"{format}: {watch.Elapsed.TotalSeconds:0.0} s, managed heap peak {peak / 1024.0 / 1024.0:0} MiB, {probe.Bytes / 1024.0 / 1024.0:0.0} MiB written";
            output.WriteLine(line);
            figures.Add(line);
            // What each format keeps is bounded: far below what the run's tasks and findings would take (gigabytes).
            peak.ShouldBeLessThan(150L * 1024 * 1024, line);
            return probe;
        }

        // When each format is written
        var sarif = Write(ReportFormat.Sarif, "\"ruleId\"");
        var codeQuality = Write(ReportFormat.CodeQuality, "\"fingerprint\"");
        var junit = Write(ReportFormat.JUnit, "<testcase ");
        var github = Write(ReportFormat.GitHub, "\n");
        var markdown = Write(ReportFormat.Markdown, "\n");
        File.WriteAllLines(Path.Combine(HtmlReportBrowserTests.Artifacts, "reports-1m.txt"), figures);

        // Then the machine formats carry the full list (SARIF to GitHub's 25 000 results), streamed out whole...
        sarif.Matches.ShouldBe(SarifReport.MaxResultsPerRun);
        sarif.Notes.ShouldContain(n => n.Contains($"cut to the {SarifReport.MaxResultsPerRun} most severe of {Findings} results"));
        sarif.Tail.TrimEnd().ShouldEndWith("}");
        codeQuality.Matches.ShouldBe(Findings);
        codeQuality.Tail.TrimEnd().ShouldEndWith("]");
        junit.Matches.ShouldBe(Tasks);
        junit.Tail.TrimEnd().ShouldEndWith("</testsuites>");
        // ...and the human ones cap what they list, saying how much they left out
        github.Matches.ShouldBeLessThanOrEqualTo(3 * GitHubReport.PerKindLimit);
        github.Tail.ShouldContain("more annotations left out");
        markdown.Bytes.ShouldBeLessThan(MarkdownReport.MaxBytes);
        markdown.Tail.ShouldNotBeEmpty();
    }

    /// <summary>A write-only stream that counts bytes and one needle's occurrences and keeps only the last few hundred bytes.</summary>
    private sealed class Probe(string needle) : Stream
    {
        private readonly byte[] _needle = Encoding.UTF8.GetBytes(needle);
        private byte[] _carry = [];
        private byte[] _tail = [];

        public long Bytes { get; private set; }

        public long Matches { get; private set; }

        public IReadOnlyList<string> Notes { get; set; } = [];

        public string Tail => Encoding.UTF8.GetString(_tail);

        public override void Write(ReadOnlySpan<byte> buffer)
        {
            Bytes += buffer.Length;
            var data = new byte[_carry.Length + buffer.Length];
            _carry.CopyTo(data, 0);
            buffer.CopyTo(data.AsSpan(_carry.Length));
            for (var at = data.AsSpan().IndexOf(_needle); at >= 0;)
            {
                Matches++;
                var next = data.AsSpan(at + 1).IndexOf(_needle);
                at = next < 0 ? -1 : at + 1 + next;
            }
            // A needle split across two writes is found in the next one: keep one byte less than the needle.
            _carry = data[Math.Max(0, data.Length - (_needle.Length - 1))..];
            var last = buffer[Math.Max(0, buffer.Length - 512)..];
            _tail = [.. _tail.Concat(last.ToArray()).TakeLast(512)];
        }

        public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

        public override bool CanRead => false;

        public override bool CanSeek => false;

        public override bool CanWrite => true;

        public override long Length => Bytes;

        public override long Position { get => Bytes; set => throw new NotSupportedException(); }

        public override void Flush()
        {
        }

        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();
    }
}
