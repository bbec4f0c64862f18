using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace Herd.Agent.Telemetry;

/// <summary>
/// Herd's one <see cref="ActivitySource"/> and one <see cref="Meter"/> (issue #12, docs/observability.md). The core
/// projects instrument with System.Diagnostics only; the CLI attaches the OpenTelemetry SDK when an OTLP endpoint is
/// configured. With no listener, <see cref="ActivitySource.StartActivity(string, ActivityKind)"/> returns null and
/// instruments are disabled, so instrumentation costs one branch per site and nothing is allocated.
/// </summary>
public static class HerdTelemetry
{
    /// <summary>The name of both the activity source and the meter.</summary>
    public const string Name = "Herd";

    /// <summary>
    /// <c>gen_ai.provider.name</c> of this process's model client: <c>anthropic</c>, or <c>openai</c> with
    /// <c>--provider openai</c>. Set once where the client's options are read, like <see cref="ModelServer"/>.
    /// </summary>
    public static string Provider { get; set; } = "anthropic";

    private static readonly string Version = typeof(HerdTelemetry).Assembly.GetName().Version?.ToString(3) ?? "0.0.0";

    public static readonly ActivitySource Source = new(Name, Version);

    public static readonly Meter Meter = new(Name, Version);

    /// <summary>GenAI semconv: <c>gen_ai.client.token.usage</c>, unit <c>{token}</c>, with the conventions' buckets.</summary>
    public static readonly Histogram<long> TokenUsage = Meter.CreateHistogram<long>(
        "gen_ai.client.token.usage", "{token}", "Number of input and output tokens used.",
        tags: null,
        advice: new InstrumentAdvice<long> { HistogramBucketBoundaries = [1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864] });

    /// <summary>GenAI semconv: <c>gen_ai.client.operation.duration</c>, unit <c>s</c>, with the conventions' buckets.</summary>
    public static readonly Histogram<double> OperationDuration = Meter.CreateHistogram<double>(
        "gen_ai.client.operation.duration", "s", "GenAI operation duration.",
        tags: null,
        advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92] });

    /// <summary>Spend of every model call, as priced into the records (so the sum equals summary.json's cost_usd).</summary>
    public static readonly Counter<double> CostUsd = Meter.CreateCounter<double>("herd.cost", "USD", "Spend of model calls in US dollars.");

    /// <summary>
    /// Prompt and completion text on spans: off unless the user opts in with <c>--otel-capture-content</c>. Set once by
    /// the CLI at start-up, like the listeners themselves.
    /// </summary>
    public static bool CaptureContent { get; set; }

    /// <summary>
    /// The model API server (ANTHROPIC_BASE_URL), for the GenAI conventions' <c>server.address</c> and
    /// <c>server.port</c> on every <c>chat</c> span. Set once by the CLI when it builds the model client.
    /// </summary>
    public static Uri? ModelServer { get; set; }

    /// <summary>The GenAI conventions' agent span name: <c>invoke_agent {gen_ai.agent.name}</c>.</summary>
    public const string InvokeAgentSpan = "invoke_agent herd";

    /// <summary>Whether anyone listens: spans are sampled or a GenAI/Herd instrument is enabled.</summary>
    public static bool IsEnabled => Source.HasListeners() || TokenUsage.Enabled || CostUsd.Enabled;

    /// <summary>
    /// Starts an activity without making it <see cref="Activity.Current"/> for the caller: parents are always passed
    /// explicitly, so a span opened inside an event callback or a scheduler loop never leaks into unrelated work.
    /// </summary>
    public static Activity? StartDetached(string name, ActivityKind kind, ActivityContext parent, DateTimeOffset startTime = default)
    {
        if (!Source.HasListeners())
            return null;
        var previous = Activity.Current;
        var activity = Source.StartActivity(name, kind, parent, tags: null, links: null, startTime);
        Activity.Current = previous;
        return activity;
    }

    /// <summary>The root span of <c>herd -p</c>: one agent invocation (GenAI semconv <c>invoke_agent</c>).</summary>
    public static Activity? StartInvokeAgent(string sessionId, string model)
    {
        var activity = StartDetached(InvokeAgentSpan, ActivityKind.Internal, default);
        activity?.SetTag("gen_ai.operation.name", "invoke_agent")
            .SetTag("gen_ai.provider.name", Provider)
            .SetTag("gen_ai.agent.name", "herd")
            .SetTag("gen_ai.request.model", model)
            .SetTag("gen_ai.conversation.id", sessionId);
        return activity;
    }

    /// <summary>
    /// Adds a <see cref="TelemetrySink"/> in front of <paramref name="sink"/> when telemetry is on; otherwise returns
    /// <paramref name="sink"/> untouched (no per-event cost).
    /// </summary>
    /// <param name="agentSpan">The span the chat and tool spans go under (the attempt, or <c>invoke_agent</c>).</param>
    /// <param name="time">The clock span times are read from (the session's).</param>
    public static Loop.IAgentEventSink Observe(Loop.IAgentEventSink sink, string sessionId, Activity? agentSpan, TimeProvider? time = null) =>
        IsEnabled ? new Loop.CompositeSink(new TelemetrySink(sessionId, agentSpan, time), sink) : sink;

    /// <summary>Error status plus the semconv <c>error.type</c> attribute.</summary>
    public static void Fail(Activity? activity, string errorType, string? description = null)
    {
        if (activity is null)
            return;
        activity.SetTag("error.type", errorType);
        activity.SetStatus(ActivityStatusCode.Error, description ?? errorType);
    }
}

/// <summary>
/// What the exporter could not deliver (queue full, collector down or slow): reported in summary.json so a gap in a
/// dashboard can be told from a quiet run.
/// </summary>
/// <param name="Spans">Spans dropped (never exported).</param>
/// <param name="MetricExports">Metric exports that failed (metrics are cumulative: a later export makes good an earlier one).</param>
public sealed record TelemetryDrops(long Spans, long MetricExports);
