using System.Globalization;
using Herd.Agent;
using OpenTelemetry.Exporter;

namespace Herd.Cli.Telemetry;

/// <summary>
/// The standard OTLP exporter variables, read once (OpenTelemetry specification, "OTLP Exporter Configuration").
/// Export is on only when an endpoint is named: <c>OTEL_EXPORTER_OTLP_ENDPOINT</c> for both signals, or
/// <c>OTEL_EXPORTER_OTLP_TRACES_ENDPOINT</c> / <c>OTEL_EXPORTER_OTLP_METRICS_ENDPOINT</c> for one.
/// </summary>
/// <remarks>
/// The base endpoint gets the signal path (<c>/v1/traces</c>, <c>/v1/metrics</c>) appended for http/protobuf; a
/// signal's own endpoint is used as given, as the specification says. The protocol defaults to http/protobuf (the
/// specification's default). Headers (which often carry a collector token) go to the exporter only, never into an
/// attribute or a message.
/// </remarks>
public sealed record OtlpSettings(
    Uri? TracesEndpoint,
    Uri? MetricsEndpoint,
    OtlpExportProtocol Protocol,
    string? TracesHeaders,
    string? MetricsHeaders,
    int TimeoutMilliseconds,
    int MetricIntervalMilliseconds)
{
    /// <exception cref="HerdUsageException">A variable that is set but invalid, named with the fix.</exception>
    public static OtlpSettings? Read(Func<string, string?> env)
    {
        if (string.Equals(env("OTEL_SDK_DISABLED"), "true", StringComparison.OrdinalIgnoreCase))
            return null;
        var baseEndpoint = Url(env, "OTEL_EXPORTER_OTLP_ENDPOINT");
        var tracesOwn = Url(env, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT");
        var metricsOwn = Url(env, "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT");
        if (baseEndpoint is null && tracesOwn is null && metricsOwn is null)
            return null;
        var protocol = ParseProtocol(env, "OTEL_EXPORTER_OTLP_PROTOCOL", OtlpExportProtocol.HttpProtobuf);
        var tracesProtocol = ParseProtocol(env, "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", protocol);
        var metricsProtocol = ParseProtocol(env, "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL", protocol);
        if (tracesProtocol != metricsProtocol)
            throw new HerdUsageException("Error: OTEL_EXPORTER_OTLP_TRACES_PROTOCOL and OTEL_EXPORTER_OTLP_METRICS_PROTOCOL differ; Herd exports both signals with one protocol. Set OTEL_EXPORTER_OTLP_PROTOCOL instead.");
        var headers = Empty(env("OTEL_EXPORTER_OTLP_HEADERS"));
        return new OtlpSettings(
            tracesOwn ?? WithPath(baseEndpoint, "v1/traces", tracesProtocol),
            metricsOwn ?? WithPath(baseEndpoint, "v1/metrics", metricsProtocol),
            tracesProtocol,
            Empty(env("OTEL_EXPORTER_OTLP_TRACES_HEADERS")) ?? headers,
            Empty(env("OTEL_EXPORTER_OTLP_METRICS_HEADERS")) ?? headers,
            Milliseconds(env, "OTEL_EXPORTER_OTLP_TIMEOUT", 10_000),
            Milliseconds(env, "OTEL_METRIC_EXPORT_INTERVAL", 60_000));
    }

    public OtlpExporterOptions ExporterOptions(Uri endpoint, string? headers)
    {
        var options = new OtlpExporterOptions { Endpoint = endpoint, Protocol = Protocol, TimeoutMilliseconds = TimeoutMilliseconds };
        if (headers is not null)
            options.Headers = headers;
        return options;
    }

    private static Uri? WithPath(Uri? endpoint, string path, OtlpExportProtocol protocol)
    {
        if (endpoint is null)
            return null;
        if (protocol == OtlpExportProtocol.Grpc)
            return endpoint;
        return new Uri(endpoint.ToString().TrimEnd('/') + "/" + path);
    }

    private static Uri? Url(Func<string, string?> env, string name)
    {
        if (Empty(env(name)) is not { } text)
            return null;
        if (!Uri.TryCreate(text, UriKind.Absolute, out var uri) || (uri.Scheme != "http" && uri.Scheme != "https"))
            throw new HerdUsageException($"Error: {name} '{text}' is not an http(s) URL. Set it like http://localhost:4318, or unset it to turn export off.");
        return uri;
    }

    private static OtlpExportProtocol ParseProtocol(Func<string, string?> env, string name, OtlpExportProtocol fallback) => Empty(env(name)) switch
    {
        null => fallback,
        "grpc" => OtlpExportProtocol.Grpc,
        "http/protobuf" => OtlpExportProtocol.HttpProtobuf,
        var other => throw new HerdUsageException($"Error: {name} '{other}' is not supported. Use grpc or http/protobuf."),
    };

    private static int Milliseconds(Func<string, string?> env, string name, int fallback)
    {
        if (Empty(env(name)) is not { } text)
            return fallback;
        if (!int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var ms) || ms <= 0)
            throw new HerdUsageException($"Error: {name} '{text}' must be a positive number of milliseconds.");
        return ms;
    }

    private static string? Empty(string? s) => string.IsNullOrWhiteSpace(s) ? null : s.Trim();
}
