using System.Text;

namespace Herd.Fleet.Reports;

/// <summary>
/// results.ndjson (spec §7.1, §8). The database is the source of truth: at open the file is rebuilt from the stored
/// final records (temp file + rename), then each new record is appended after its final state is committed. A crash
/// between commit and append therefore loses nothing and duplicates nothing: the next open rewrites the file, with
/// exactly one line per finished task.
/// </summary>
/// <remarks>
/// Appended records are buffered and reach the file at <see cref="Flush"/> (the run's transition writer flushes once
/// per committed batch) or <see cref="Dispose"/>: one write per batch instead of an encode, a copy and a write system
/// call per record. What a crash loses from the buffer is committed already, so the next open writes it again.
/// </remarks>
public sealed class ResultsFile : IDisposable
{
    /// <summary>Holds a batch of ordinary records (a few KiB each), so a batch is one write.</summary>
    private const int BufferBytes = 64 * 1024;

    private readonly StreamWriter _stream;
    private readonly StreamWriter? _joblog;
    private readonly Lock _gate = new();

    private ResultsFile(StreamWriter stream, string path, StreamWriter? joblog)
    {
        _stream = stream;
        _joblog = joblog;
        Path = path;
    }

    public string Path { get; }

    /// <summary>
    /// Rewrites the file from the stored records, read one at a time: <paramref name="records"/> is enumerated once for
    /// results.ndjson and once more for the joblog, so a run of any size is rewritten without holding its records
    /// (issue #23). (A list of the records is not accepted: it is what made a merge hold every record.)
    /// </summary>
    /// <param name="joblogPath"><c>--joblog</c>: GNU parallel's joblog, kept beside the records (<see cref="Joblog"/>).</param>
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
        var stream = new FileStream(path, FileMode.Append, FileAccess.Write, FileShare.Read, bufferSize: 1);
        return new ResultsFile(new StreamWriter(stream, new UTF8Encoding(false), BufferBytes), path, joblog);
    }

    /// <summary>Adds one record's line; it reaches the file at the next <see cref="Flush"/>.</summary>
    public void Append(string record)
    {
        lock (_gate)
        {
            _stream.Write(record);
            _stream.Write('\n');
            _joblog?.Write(Joblog.Line(record) + "\n");
        }
    }

    /// <summary>Writes the records appended so far (and their joblog lines) to the files.</summary>
    public void Flush()
    {
        lock (_gate)
        {
            _stream.Flush();
            _joblog?.Flush();
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
