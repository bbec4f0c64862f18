using System.Diagnostics;
using Herd.Agent.Telemetry;
using OpenTelemetry;
using OpenTelemetry.Exporter;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;

namespace Herd.Cli.Telemetry;

/// <summary>
/// The OpenTelemetry SDK, attached to Herd's source and meter when an OTLP endpoint is configured (issue #12,
/// docs/observability.md). Off, nothing here is constructed and the instrumentation in the core costs one branch.
/// </summary>
/// <remarks>
/// A collector that is down or slow must never slow or fail a run: spans go through a bounded batch queue (items past
/// it are dropped, not waited for), exports run on the SDK's own thread with the OTLP timeout, and the flushes at the
/// end of a run and at exit are bounded by <see cref="FlushBudget"/>. What did not get through is counted
/// (<see cref="Flush"/>) and reported in summary.json.
/// </remarks>
public sealed class OtlpExport : IDisposable
{
    /// <summary>The longest the end of a run waits for the collector.</summary>
    public static readonly TimeSpan FlushBudget = TimeSpan.FromSeconds(5);

    private readonly TracerProvider? _traces;
    private readonly MeterProvider? _metrics;
    private readonly SpanCounter _ended = new();
    private readonly CountingSpanExporter? _spanExporter;
    private readonly FailureCounter _metricRequests = new();

    private OtlpExport(OtlpSettings settings)
    {
        var resource = ResourceBuilder.CreateEmpty()
            .AddService("herd", serviceVersion: HerdVersion.Current)
            .AddTelemetrySdk()
            // After the defaults: OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES win.
            .AddEnvironmentVariableDetector();
        if (settings.TracesEndpoint is { } tracesEndpoint)
        {
            var otlp = new OtlpTraceExporter(settings.ExporterOptions(tracesEndpoint, settings.TracesHeaders));
            _spanExporter = new CountingSpanExporter(otlp);
            _traces = Sdk.CreateTracerProviderBuilder()
                .SetResourceBuilder(resource)
                .AddSource(HerdTelemetry.Name)
                .SetSampler(new AlwaysOnSampler())
                .AddProcessor(_ended)
                .AddProcessor(new BatchActivityExportProcessor(_spanExporter, maxQueueSize: 2048, scheduledDelayMilliseconds: 2000,
                    exporterTimeoutMilliseconds: settings.TimeoutMilliseconds, maxExportBatchSize: 512))
                .AddProcessor(new ProviderOnly(otlp))
                .Build();
        }
        if (settings.MetricsEndpoint is { } metricsEndpoint)
        {
            var options = settings.ExporterOptions(metricsEndpoint, settings.MetricsHeaders);
            // Metrics are cumulative: a failed export is made good by the next one, so what counts is how many failed.
            options.HttpClientFactory = () => new HttpClient(_metricRequests) { Timeout = TimeSpan.FromMilliseconds(settings.TimeoutMilliseconds) };
            _metrics = Sdk.CreateMeterProviderBuilder()
                .SetResourceBuilder(resource)
                .AddMeter(HerdTelemetry.Name)
                .AddReader(new PeriodicExportingMetricReader(new OtlpMetricExporter(options), settings.MetricIntervalMilliseconds, settings.TimeoutMilliseconds))
                .Build();
        }
    }

    /// <summary>The export of this process, once started; null while telemetry is off.</summary>
    public static OtlpExport? Current { get; private set; }

    /// <summary>Starts export when the environment names an OTLP endpoint; otherwise returns null and does nothing.</summary>
    public static OtlpExport? StartFromEnvironment(Func<string, string?>? environment = null)
    {
        var settings = OtlpSettings.Read(environment ?? Environment.GetEnvironmentVariable);
        if (settings is null)
            return null;
        Current = new OtlpExport(settings);
        return Current;
    }

    /// <summary>
    /// Pushes what is queued (bounded by <see cref="FlushBudget"/>) and says what did not get through: spans that ended
    /// but were not exported (queue overflow, failed or unfinished exports) and metric points of failed exports.
    /// </summary>
    public TelemetryDrops Flush()
    {
        var started = TimeProvider.System.GetTimestamp();
        _traces?.ForceFlush((int)FlushBudget.TotalMilliseconds);
        var left = FlushBudget - TimeProvider.System.GetElapsedTime(started);
        _metrics?.ForceFlush((int)Math.Max(100, left.TotalMilliseconds));
        var spans = _spanExporter is null ? 0 : Math.Max(0, _ended.Count - _spanExporter.Exported);
        return new TelemetryDrops(spans, _metricRequests.Failed);
    }

    public void Dispose()
    {
        // Shutdown flushes once more; bounded, so a dead collector cannot hold the exit.
        _traces?.Shutdown((int)FlushBudget.TotalMilliseconds);
        _metrics?.Shutdown((int)FlushBudget.TotalMilliseconds);
        _traces?.Dispose();
        _metrics?.Dispose();
        if (ReferenceEquals(Current, this))
            Current = null;
    }

    /// <summary>
    /// The OTLP exporter reads the resource (service.name, OTEL_RESOURCE_ATTRIBUTES) from the provider it is attached
    /// to, and only a processor of the provider can attach it. Wrapped in <see cref="CountingSpanExporter"/> it is not
    /// attached; this processor attaches it and exports nothing itself (the batch processor does).
    /// </summary>
    private sealed class ProviderOnly(BaseExporter<Activity> exporter) : SimpleActivityExportProcessor(exporter)
    {
        public override void OnEnd(Activity data)
        {
        }
    }

    /// <summary>Counts every span handed to export, before the bounded queue (which may drop it).</summary>
    private sealed class SpanCounter : BaseProcessor<Activity>
    {
        private long _count;

        public long Count => Interlocked.Read(ref _count);

        public override void OnEnd(Activity data)
        {
            if (data.Recorded)
                Interlocked.Increment(ref _count);
        }
    }

    private sealed class CountingSpanExporter(BaseExporter<Activity> inner) : BaseExporter<Activity>
    {
        private long _exported;

        public long Exported => Interlocked.Read(ref _exported);

        public override ExportResult Export(in Batch<Activity> batch)
        {
            var result = inner.Export(batch);
            if (result == ExportResult.Success)
                Interlocked.Add(ref _exported, batch.Count);
            return result;
        }

        protected override bool OnForceFlush(int timeoutMilliseconds) => inner.ForceFlush(timeoutMilliseconds);

        protected override bool OnShutdown(int timeoutMilliseconds) => inner.Shutdown(timeoutMilliseconds);

        protected override void Dispose(bool disposing)
        {
            if (disposing)
                inner.Dispose();
            base.Dispose(disposing);
        }
    }

    /// <summary>Counts export requests that did not get a success answer (refused, timed out, non-2xx).</summary>
    private sealed class FailureCounter() : DelegatingHandler(new SocketsHttpHandler())
    {
        private long _failed;

        public long Failed => Interlocked.Read(ref _failed);

        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            try
            {
                var response = await base.SendAsync(request, cancellationToken).ConfigureAwait(false);
                if (!response.IsSuccessStatusCode)
                    Interlocked.Increment(ref _failed);
                return response;
            }
            catch
            {
                Interlocked.Increment(ref _failed);
                throw;
            }
        }

        protected override HttpResponseMessage Send(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            try
            {
                var response = base.Send(request, cancellationToken);
                if (!response.IsSuccessStatusCode)
                    Interlocked.Increment(ref _failed);
                return response;
            }
            catch
            {
                Interlocked.Increment(ref _failed);
                throw;
            }
        }
    }
}
