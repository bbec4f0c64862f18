using System.Text;

namespace Herd.Fleet.Reports;

/// <summary>
/// results.ndjson (spec §7.1, §8). The database is the source of truth: at open the file is rebuilt from the stored
/// final records (temp file + rename), then each new record is appended after its final state is committed. A crash
/// between commit and append therefore loses nothing and duplicates nothing: the next open rewrites the file, with
/// exactly one line per finished task.
/// </summary>
public sealed class ResultsFile : IDisposable
{
    private readonly FileStream _stream;
    private readonly StreamWriter? _joblog;
    private readonly Lock _gate = new();

    private ResultsFile(FileStream stream, string path, StreamWriter? joblog)
    {
        _stream = stream;
        _joblog = joblog;
        Path = path;
    }

    public string Path { get; }

    /// <param name="joblogPath"><c>--joblog</c>: GNU parallel's joblog, kept beside the records (<see cref="Joblog"/>).</param>
    public static ResultsFile Rebuild(string path, IEnumerable<string> records, string? joblogPath = null)
    {
        var all = records as IReadOnlyCollection<string> ?? records.ToArray();
        return Rebuild(path, () => all, joblogPath);
    }

    /// <summary>
    /// The same from records read one at a time: <paramref name="records"/> is enumerated once for results.ndjson and
    /// once more for the joblog, so a run of any size is rewritten without holding its records (issue #23).
    /// </summary>
    public static ResultsFile Rebuild(string path, Func<IEnumerable<string>> records, string? joblogPath = null)
    {
        var tmp = path + ".tmp";
        using (var writer = new StreamWriter(tmp, false, new UTF8Encoding(false)))
        {
            foreach (var r in records())
            {
                writer.Write(r);
                writer.Write('\n');
            }
        }
        File.Move(tmp, path, overwrite: true);
        var joblog = joblogPath is null ? null : Joblog.Rebuild(joblogPath, records());
        var stream = new FileStream(path, FileMode.Append, FileAccess.Write, FileShare.Read);
        return new ResultsFile(stream, path, joblog);
    }

    public void Append(string record)
    {
        var bytes = Encoding.UTF8.GetBytes(record + "\n");
        lock (_gate)
        {
            _stream.Write(bytes);
            _stream.Flush();
            _joblog?.Write(Joblog.Line(record) + "\n");
        }
    }

    public void Dispose()
    {
        lock (_gate)
        {
            _stream.Dispose();
            _joblog?.Dispose();
        }
    }
}
