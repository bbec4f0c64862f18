using System.Globalization;
using System.Text;
using Herd.Fleet.Store;

namespace Herd.Fleet.Reports;

/// <summary>One patch that would land: a successful task's, in the run's task order.</summary>
public sealed record LandingPatch(int Seq, string Key, string Name, int Files, int LinesAdded, int LinesRemoved);

/// <summary>
/// What would land from a run (<c>herd report --format patch</c>, and the list <c>herd apply</c> works through): the
/// patches of the successful tasks, in task order. Read in one pass over the run, keeping a few numbers per task and
/// one patch at a time, whatever the run's size.
/// </summary>
public static class PatchSeries
{
    /// <summary>The successful tasks with a patch, in task order (a verify_failed task's patch never lands).</summary>
    public static IReadOnlyList<LandingPatch> Landing(RunStream run)
    {
        var landing = new List<LandingPatch>();
        foreach (var t in run.Tasks())
        {
            if (t.Succeeded && t.Changes is { Patch: not null } c)
                landing.Add(new LandingPatch(t.Seq, t.Key, t.Name, c.Files.Count, c.LinesAdded, c.LinesRemoved));
        }
        landing.Sort((a, b) => a.Seq != b.Seq ? a.Seq.CompareTo(b.Seq) : string.CompareOrdinal(a.Key, b.Key));
        return landing;
    }

    /// <summary>
    /// Writes each patch that would land after a header line <c># herd: task NAME (KEY12) of run RUN: N file(s), +A -R</c>;
    /// git treats the header lines as commentary, so the series still reads as one patch. Returns how many were
    /// written and how many were missing from the store (each then has a <c># herd: missing</c> line).
    /// </summary>
    /// <param name="write">Takes each piece in order (a file's stream, or stdout's text).</param>
    public static (int Written, int Missing) Write(RunStream run, IPatchStore patches, Action<byte[]> write)
    {
        var written = 0;
        var missing = 0;
        foreach (var p in Landing(run))
        {
            var key = p.Key[..Math.Min(12, p.Key.Length)];
            var bytes = patches.ReadPatch(p.Key);
            var header = string.Create(CultureInfo.InvariantCulture,
                $"# herd: task {OneLine(p.Name)} ({key}) of run {run.Header.RunId}: {p.Files} file(s), +{p.LinesAdded} -{p.LinesRemoved}{(bytes is null ? "; missing: no patch in the run's store" : "")}\n");
            write(Encoding.UTF8.GetBytes(header));
            if (bytes is null)
            {
                missing++;
                continue;
            }
            write(bytes);
            if (bytes.Length > 0 && bytes[^1] != (byte)'\n')
                write("\n"u8.ToArray());
            written++;
        }
        return (written, missing);
    }

    private static string OneLine(string s) => s.Replace('\n', ' ').Replace('\r', ' ');
}
