using System.Collections.Concurrent;
using System.Net;
using Google.Protobuf;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace Herd.Testing;

/// <summary>An exported span, decoded from OTLP: ids as hex, attributes as CLR values (string, long, double, bool, object[]).</summary>
public sealed record ReceivedSpan(
    string TraceId,
    string SpanId,
    string ParentSpanId,
    string Name,
    int Kind,
    ulong StartUnixNano,
    ulong EndUnixNano,
    IReadOnlyDictionary<string, object?> Attributes,
    IReadOnlyList<ReceivedEvent> Events,
    int StatusCode,
    string StatusMessage,
    string Scope)
{
    public object? this[string attribute] => Attributes.GetValueOrDefault(attribute);

    public const int StatusError = 2;
}

public sealed record ReceivedEvent(string Name, IReadOnlyDictionary<string, object?> Attributes);

/// <summary>One data point: a sum or gauge value, or a histogram's count, sum and bounds.</summary>
public sealed record ReceivedPoint(
    IReadOnlyDictionary<string, object?> Attributes,
    double Value,
    ulong Count,
    IReadOnlyList<double> ExplicitBounds);

/// <summary>One metric of one export. Kind: gauge, sum or histogram.</summary>
public sealed record ReceivedMetric(string Name, string Unit, string Kind, IReadOnlyList<ReceivedPoint> Points);

/// <summary>
/// A collector for tests: an OTLP/HTTP receiver on 127.0.0.1 (<c>POST /v1/traces</c>, <c>POST /v1/metrics</c>,
/// <c>application/x-protobuf</c>) that decodes what herd sends with the protobuf wire reader, for the subset of the
/// OTLP messages the tests check (opentelemetry-proto: trace/v1, metrics/v1, common/v1, resource/v1).
/// </summary>
public sealed class OtlpReceiver : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly ConcurrentQueue<ReceivedSpan> _spans = new();
    private readonly ConcurrentQueue<IReadOnlyList<ReceivedMetric>> _metricExports = new();
    private readonly ConcurrentQueue<IReadOnlyDictionary<string, object?>> _resources = new();
    private readonly ConcurrentQueue<string> _headers = new();
    private readonly ConcurrentQueue<OpenTelemetry.Proto.Collector.Trace.V1.ExportTraceServiceRequest> _officialTraces = new();
    private readonly ConcurrentQueue<OpenTelemetry.Proto.Collector.Metrics.V1.ExportMetricsServiceRequest> _officialMetrics = new();

    private OtlpReceiver(WebApplication app) => _app = app;

    public Uri BaseUrl { get; private set; } = null!;

    public IReadOnlyList<ReceivedSpan> Spans => _spans.ToArray();

    /// <summary>Every trace export as the official OTLP message classes (opentelemetry-proto) parse it.</summary>
    public IReadOnlyList<OpenTelemetry.Proto.Collector.Trace.V1.ExportTraceServiceRequest> OfficialTraceExports => _officialTraces.ToArray();

    /// <summary>Every metrics export as the official OTLP message classes parse it.</summary>
    public IReadOnlyList<OpenTelemetry.Proto.Collector.Metrics.V1.ExportMetricsServiceRequest> OfficialMetricExports => _officialMetrics.ToArray();

    /// <summary>Every metrics export in arrival order (cumulative temporality: the last one holds the totals).</summary>
    public IReadOnlyList<IReadOnlyList<ReceivedMetric>> MetricExports => _metricExports.ToArray();

    /// <summary>Resource attributes of every request.</summary>
    public IReadOnlyList<IReadOnlyDictionary<string, object?>> Resources => _resources.ToArray();

    /// <summary>The Authorization (or x-api-key) header of every request, as received.</summary>
    public IReadOnlyList<string> AuthHeaders => _headers.ToArray();

    /// <summary>Every request is answered after this long (a slow collector).</summary>
    public TimeSpan Delay { get; set; }

    /// <summary>The latest value of each metric point set, by metric name.</summary>
    public IReadOnlyDictionary<string, ReceivedMetric> LatestMetrics()
    {
        var latest = new Dictionary<string, ReceivedMetric>(StringComparer.Ordinal);
        foreach (var export in MetricExports)
        {
            foreach (var m in export)
                latest[m.Name] = m;
        }
        return latest;
    }

    /// <param name="grpc">OTLP/gRPC instead: HTTP/2 cleartext, the collector services' Export methods, length-prefixed messages.</param>
    public static async Task<OtlpReceiver> StartAsync(bool grpc = false, CancellationToken cancellationToken = default)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseKestrel(o => o.Listen(IPAddress.Loopback, 0, l => l.Protocols = grpc
            ? Microsoft.AspNetCore.Server.Kestrel.Core.HttpProtocols.Http2
            : Microsoft.AspNetCore.Server.Kestrel.Core.HttpProtocols.Http1AndHttp2));
        var app = builder.Build();
        var receiver = new OtlpReceiver(app);
        if (grpc)
        {
            app.MapPost("/opentelemetry.proto.collector.trace.v1.TraceService/Export", ctx => receiver.HandleGrpcAsync(ctx, receiver.DecodeTraces));
            app.MapPost("/opentelemetry.proto.collector.metrics.v1.MetricsService/Export", ctx => receiver.HandleGrpcAsync(ctx, receiver.DecodeMetrics));
        }
        else
        {
            app.MapPost("/v1/traces", ctx => receiver.HandleAsync(ctx, receiver.DecodeTraces));
            app.MapPost("/v1/metrics", ctx => receiver.HandleAsync(ctx, receiver.DecodeMetrics));
        }
        await app.StartAsync(cancellationToken).ConfigureAwait(false);
        receiver.BaseUrl = new Uri(app.Urls.First());
        return receiver;
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync().ConfigureAwait(false);
        await _app.DisposeAsync().ConfigureAwait(false);
    }

    private async Task HandleAsync(HttpContext context, Action<ByteString> decode)
    {
        using var buffer = new MemoryStream();
        await context.Request.Body.CopyToAsync(buffer, context.RequestAborted).ConfigureAwait(false);
        _headers.Enqueue(context.Request.Headers.Authorization.ToString());
        if (Delay > TimeSpan.Zero)
            await Task.Delay(Delay, context.RequestAborted).ConfigureAwait(false);
        decode(ByteString.CopyFrom(buffer.ToArray()));
        context.Response.ContentType = "application/x-protobuf";
        context.Response.StatusCode = 200;
    }

    /// <summary>gRPC framing: a 1-byte compressed flag and a 4-byte big-endian length before the message; status in trailers.</summary>
    private async Task HandleGrpcAsync(HttpContext context, Action<ByteString> decode)
    {
        using var buffer = new MemoryStream();
        await context.Request.Body.CopyToAsync(buffer, context.RequestAborted).ConfigureAwait(false);
        _headers.Enqueue(context.Request.Headers.Authorization.ToString());
        var bytes = buffer.ToArray();
        var length = System.Buffers.Binary.BinaryPrimitives.ReadInt32BigEndian(bytes.AsSpan(1, 4));
        decode(ByteString.CopyFrom(bytes, 5, length));
        context.Response.ContentType = "application/grpc";
        context.Response.DeclareTrailer("grpc-status");
        await context.Response.Body.WriteAsync(new byte[5], context.RequestAborted).ConfigureAwait(false);
        context.Response.AppendTrailer("grpc-status", "0");
    }

    // ---- trace/v1 ------------------------------------------------------------------------------------------------

    private void DecodeTraces(ByteString body)
    {
        _officialTraces.Enqueue(OpenTelemetry.Proto.Collector.Trace.V1.ExportTraceServiceRequest.Parser.ParseFrom(body));
        foreach (var resourceSpans in Fields(body, 1))
        {
            var rs = Message(resourceSpans);
            if (rs.GetValueOrDefault(1) is [ByteString resource, ..])
                _resources.Enqueue(Attributes(Message(resource), 1));
            foreach (var scopeSpans in All(rs, 2))
            {
                var ss = Message(scopeSpans);
                var scope = ss.GetValueOrDefault(1) is [ByteString s, ..] ? Text(Message(s), 1) : "";
                foreach (var span in All(ss, 2))
                    _spans.Enqueue(Span(Message(span), scope));
            }
        }
    }

    private static ReceivedSpan Span(Dictionary<int, List<object>> m, string scope)
    {
        var status = m.GetValueOrDefault(15) is [ByteString st, ..] ? Message(st) : [];
        return new ReceivedSpan(
            Hex(m, 1), Hex(m, 2), Hex(m, 4), Text(m, 5), (int)Number(m, 6), Number(m, 7), Number(m, 8),
            Attributes(m, 9),
            All(m, 11).Select(e => Message(e)).Select(e => new ReceivedEvent(Text(e, 2), Attributes(e, 3))).ToArray(),
            (int)Number(status, 3), Text(status, 2), scope);
    }

    // ---- metrics/v1 ----------------------------------------------------------------------------------------------

    private void DecodeMetrics(ByteString body)
    {
        _officialMetrics.Enqueue(OpenTelemetry.Proto.Collector.Metrics.V1.ExportMetricsServiceRequest.Parser.ParseFrom(body));
        var metrics = new List<ReceivedMetric>();
        foreach (var resourceMetrics in Fields(body, 1))
        {
            foreach (var scopeMetrics in All(Message(resourceMetrics), 2))
            {
                foreach (var metric in All(Message(scopeMetrics), 2))
                    metrics.Add(Metric(Message(metric)));
            }
        }
        _metricExports.Enqueue(metrics);
    }

    private static ReceivedMetric Metric(Dictionary<int, List<object>> m)
    {
        var (kind, data) = m.GetValueOrDefault(5) is [ByteString g, ..] ? ("gauge", g)
            : m.GetValueOrDefault(7) is [ByteString s, ..] ? ("sum", s)
            : m.GetValueOrDefault(9) is [ByteString h, ..] ? ("histogram", h)
            : ("other", ByteString.Empty);
        var points = new List<ReceivedPoint>();
        foreach (var p in All(Message(data), 1))
        {
            var dp = Message(p);
            if (kind == "histogram")
            {
                var bounds = dp.GetValueOrDefault(7) is { } packed ? packed.SelectMany(Doubles).ToArray() : [];
                points.Add(new ReceivedPoint(Attributes(dp, 9), Double(dp, 5), Number(dp, 4), bounds));
            }
            else
            {
                // as_double (4) or as_int (6, sfixed64)
                var value = dp.ContainsKey(4) ? Double(dp, 4) : (long)Number(dp, 6);
                points.Add(new ReceivedPoint(Attributes(dp, 7), value, 0, []));
            }
        }
        return new ReceivedMetric(Text(m, 1), Text(m, 3), kind, points);
    }

    // ---- common/v1 and the wire format ---------------------------------------------------------------------------

    private static Dictionary<string, object?> Attributes(Dictionary<int, List<object>> m, int field)
    {
        var result = new Dictionary<string, object?>(StringComparer.Ordinal);
        foreach (var kv in All(m, field))
        {
            var pair = Message(kv);
            result[Text(pair, 1)] = pair.GetValueOrDefault(2) is [ByteString any, ..] ? AnyValue(Message(any)) : null;
        }
        return result;
    }

    private static object? AnyValue(Dictionary<int, List<object>> v)
    {
        if (v.ContainsKey(1))
            return Text(v, 1);
        if (v.ContainsKey(2))
            return Number(v, 2) != 0;
        if (v.ContainsKey(3))
            return (long)Number(v, 3);
        if (v.ContainsKey(4))
            return Double(v, 4);
        if (v.GetValueOrDefault(5) is [ByteString array, ..])
            return All(Message(array), 1).Select(e => AnyValue(Message(e))).ToArray();
        return null;
    }

    private static IEnumerable<ByteString> Fields(ByteString body, int field) => All(Message(body), field);

    private static IEnumerable<ByteString> All(Dictionary<int, List<object>> m, int field) =>
        m.GetValueOrDefault(field)?.OfType<ByteString>() ?? [];

    private static string Text(Dictionary<int, List<object>> m, int field) =>
        m.GetValueOrDefault(field) is [ByteString b, ..] ? b.ToStringUtf8() : "";

    private static string Hex(Dictionary<int, List<object>> m, int field) =>
        m.GetValueOrDefault(field) is [ByteString b, ..] ? Convert.ToHexStringLower(b.Span) : "";

    private static ulong Number(Dictionary<int, List<object>> m, int field) =>
        m.GetValueOrDefault(field) is [ulong n, ..] ? n : 0;

    private static double Double(Dictionary<int, List<object>> m, int field) => BitConverter.UInt64BitsToDouble(Number(m, field));

    private static IEnumerable<double> Doubles(object packed) =>
        packed is ByteString b ? Enumerable.Range(0, b.Length / 8).Select(i => BitConverter.ToDouble(b.Span.Slice(i * 8, 8))).ToArray()
        : packed is ulong bits ? [BitConverter.UInt64BitsToDouble(bits)] : [];

    /// <summary>Every field of one message: varints and fixed values as <see cref="ulong"/>, length-delimited as bytes.</summary>
    private static Dictionary<int, List<object>> Message(ByteString bytes)
    {
        var fields = new Dictionary<int, List<object>>();
        var input = new CodedInputStream(bytes.ToByteArray());
        uint tag;
        while ((tag = input.ReadTag()) != 0)
        {
            object value = WireFormat.GetTagWireType(tag) switch
            {
                WireFormat.WireType.Varint => input.ReadUInt64(),
                WireFormat.WireType.Fixed64 => input.ReadFixed64(),
                WireFormat.WireType.Fixed32 => (ulong)input.ReadFixed32(),
                WireFormat.WireType.LengthDelimited => input.ReadBytes(),
                var other => throw new InvalidDataException($"unexpected wire type {other}"),
            };
            var number = WireFormat.GetTagFieldNumber(tag);
            if (!fields.TryGetValue(number, out var list))
                fields[number] = list = [];
            list.Add(value);
        }
        return fields;
    }
}
