using System.Buffers;
using System.Text;
using System.Text.Json;
using Herd.Agent.Loop;

namespace Herd.Agent.Output;

/// <summary>The <c>--output-format</c> values.</summary>
public enum OutputFormat
{
    Text,
    Json,
    StreamJson,
}

/// <summary>Renders agent events to stdout. One implementation per format, chosen once.</summary>
public abstract class OutputWriter(Stream output) : IAgentEventSink
{
    private readonly Lock _gate = new();

    protected string SessionId { get; private set; } = "";

    public static OutputWriter Create(OutputFormat format, Stream output, bool verbose, bool includePartial) => format switch
    {
        OutputFormat.Text => new TextOutputWriter(output),
        OutputFormat.Json when verbose => new JsonArrayOutputWriter(output),
        OutputFormat.Json => new JsonOutputWriter(output),
        _ => new StreamJsonOutputWriter(output, includePartial),
    };

    public void OnEvent(AgentEvent agentEvent)
    {
        lock (_gate)
        {
            if (agentEvent is InitEvent init)
                SessionId = init.SessionId;
            Write(agentEvent);
        }
    }

    protected abstract void Write(AgentEvent agentEvent);

    /// <summary>Writes bytes as they are and flushes.</summary>
    protected void WriteRaw(ReadOnlySpan<byte> bytes)
    {
        output.Write(bytes);
        output.Flush();
    }

    /// <summary>Writes one whole line and flushes, so a reader never sees half an event.</summary>
    protected void WriteLine(ReadOnlySpan<byte> line)
    {
        var buffer = ArrayPool<byte>.Shared.Rent(line.Length + 1);
        line.CopyTo(buffer);
        buffer[line.Length] = (byte)'\n';
        output.Write(buffer, 0, line.Length + 1);
        output.Flush();
        ArrayPool<byte>.Shared.Return(buffer);
    }
}

/// <summary><c>text</c>: the result text only (errors too go to stdout, spec §3.2).</summary>
public sealed class TextOutputWriter(Stream output) : OutputWriter(output)
{
    protected override void Write(AgentEvent agentEvent)
    {
        if (agentEvent is not ResultEvent r)
            return;
        var text = r.Result.ToText();
        if (r.Result.Subtype != ResultSubtype.Success)
        {
            // [2.1.332] an error line (Error: Reached max turns (N)) is printed without a newline.
            WriteRaw(Encoding.UTF8.GetBytes(text));
            return;
        }
        WriteLine(Encoding.UTF8.GetBytes(text.EndsWith('\n') ? text[..^1] : text));
    }
}

/// <summary><c>json</c>: the result object on one line.</summary>
public sealed class JsonOutputWriter(Stream output) : OutputWriter(output)
{
    protected override void Write(AgentEvent agentEvent)
    {
        if (agentEvent is ResultEvent r && EventJson.ToJson(r, SessionId, false) is { } line)
            WriteLine(line);
    }
}

/// <summary><c>json --verbose</c>: a JSON array of all messages, result last, no stream events (spec §2.1).</summary>
public sealed class JsonArrayOutputWriter(Stream output) : OutputWriter(output)
{
    private readonly List<byte[]> _messages = [];

    protected override void Write(AgentEvent agentEvent)
    {
        if (agentEvent is StreamEvent or StatusEvent)
            return;
        if (EventJson.ToJson(agentEvent, SessionId, false) is not { } json)
            return;
        _messages.Add(json);
        if (agentEvent is not ResultEvent)
            return;
        var buffer = new ArrayBufferWriter<byte>();
        buffer.Write("["u8);
        for (var i = 0; i < _messages.Count; i++)
        {
            if (i > 0)
                buffer.Write(","u8);
            buffer.Write(_messages[i]);
        }
        buffer.Write("]"u8);
        _messages.Clear();
        WriteLine(buffer.WrittenSpan);
    }
}

/// <summary><c>stream-json</c>: one NDJSON line per event, result last (spec §4).</summary>
public sealed class StreamJsonOutputWriter(Stream output, bool includePartial) : OutputWriter(output)
{
    protected override void Write(AgentEvent agentEvent)
    {
        if (EventJson.ToJson(agentEvent, SessionId, includePartial) is { } line)
            WriteLine(line);
    }
}
