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
    private readonly CountingMetricExporter? _metricExporter;

    private OtlpExport(OtlpSettings settings)
    {
        var resource = ResourceBuilder.CreateEmpty()
            .AddService("herd", serviceVersion: HerdVersion.Current)
            .AddTelemetrySdk()
            // After the defaults: OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES win.
            .AddEnvironmentVariableDetector();
        if (settings.TracesEndpoint is { } tracesEndpoint)
        {
            _spanExporter = new CountingSpanExporter(new OtlpTraceExporter(settings.ExporterOptions(tracesEndpoint, settings.TracesHeaders)));
            _traces = Sdk.CreateTracerProviderBuilder()
                .SetResourceBuilder(resource)
                .AddSource(HerdTelemetry.Name)
                .SetSampler(new AlwaysOnSampler())
                .AddProcessor(_ended)
                .AddProcessor(new BatchActivityExportProcessor(_spanExporter, maxQueueSize: 2048, scheduledDelayMilliseconds: 2000,
                    exporterTimeoutMilliseconds: settings.TimeoutMilliseconds, maxExportBatchSize: 512))
                .Build();
        }
        if (settings.MetricsEndpoint is { } metricsEndpoint)
        {
            _metricExporter = new CountingMetricExporter(new OtlpMetricExporter(settings.ExporterOptions(metricsEndpoint, settings.MetricsHeaders)));
            _metrics = Sdk.CreateMeterProviderBuilder()
                .SetResourceBuilder(resource)
                .AddMeter(HerdTelemetry.Name)
                .AddReader(new PeriodicExportingMetricReader(_metricExporter, settings.MetricIntervalMilliseconds, settings.TimeoutMilliseconds))
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
        var deadline = Stopwatch.StartNew();
        _traces?.ForceFlush((int)FlushBudget.TotalMilliseconds);
        var left = FlushBudget - deadline.Elapsed;
        _metrics?.ForceFlush((int)Math.Max(100, left.TotalMilliseconds));
        var spans = _spanExporter is null ? 0 : Math.Max(0, _ended.Count - _spanExporter.Exported);
        return new TelemetryDrops(spans, _metricExporter?.FailedPoints ?? 0);
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

    private sealed class CountingMetricExporter(BaseExporter<Metric> inner) : BaseExporter<Metric>
    {
        private long _failedPoints;

        public long FailedPoints => Interlocked.Read(ref _failedPoints);

        public override ExportResult Export(in Batch<Metric> batch)
        {
            var result = inner.Export(batch);
            if (result != ExportResult.Success)
            {
                long points = 0;
                foreach (var metric in batch)
                {
                    foreach (ref readonly var _ in metric.GetMetricPoints())
                        points++;
                }
                Interlocked.Add(ref _failedPoints, points);
            }
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
}
