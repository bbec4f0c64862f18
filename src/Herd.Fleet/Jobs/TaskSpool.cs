using System.Text;
using Herd.Agent.IO;
using Herd.Fleet.Store;

namespace Herd.Fleet.Jobs;

/// <summary>
/// Tasks written to a <see cref="PrivateTempFile"/> and read back in the order they were written (issue #23): what a
/// step of planning must keep until it has seen the whole plan (<c>--sample P%</c>, which learns its size at the end)
/// waits on disk instead of in memory.
/// </summary>
public sealed class TaskSpool : IDisposable
{
    private readonly FileStream _file = PrivateTempFile.Create("tasks");
    private readonly BinaryWriter _writer;

    public TaskSpool() => _writer = new BinaryWriter(_file, Encoding.UTF8, leaveOpen: true);

    /// <value>Tasks written.</value>
    public int Count { get; private set; }

    public void Add(FleetTask task)
    {
        _writer.Write(task.Seq);
        _writer.Write(task.Key);
        _writer.Write(task.Name);
        _writer.Write(task.Prompt);
        _writer.Write(StoreJson.Strings(task.Values));
        _writer.Write(StoreJson.Map(task.Named));
        _writer.Write(StoreJson.Caps(task.Caps));
        Count++;
    }

    /// <summary>Every task written, in order, read one at a time; writing ends with the first read.</summary>
    public IEnumerable<FleetTask> Read()
    {
        _writer.Flush();
        _file.Position = 0;
        using var reader = new BinaryReader(_file, Encoding.UTF8, leaveOpen: true);
        for (var i = 0; i < Count; i++)
        {
            yield return new FleetTask(reader.ReadInt32(), reader.ReadString(), reader.ReadString(), reader.ReadString(),
                StoreJson.ReadStrings(reader.ReadString()), StoreJson.ReadMap(reader.ReadString()), StoreJson.ReadCaps(reader.ReadString()));
        }
    }

    public void Dispose()
    {
        _writer.Dispose();
        _file.Dispose();
    }
}
