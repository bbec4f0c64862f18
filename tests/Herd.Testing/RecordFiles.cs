namespace Herd.Testing;

/// <summary>Reading NDJSON record files (results.ndjson) while herd is still appending to them.</summary>
public static class RecordFiles
{
    /// <summary>Lines that are complete JSON records; a torn last line does not count; 0 when the file is unreadable.</summary>
    public static int CountCompleteRecords(string path)
    {
        try
        {
            using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
            using var reader = new StreamReader(stream);
            var n = 0;
            while (reader.ReadLine() is { } line)
            {
                if (line.EndsWith('}'))
                    n++;
            }
            return n;
        }
        catch (IOException)
        {
            return 0;
        }
    }
}
