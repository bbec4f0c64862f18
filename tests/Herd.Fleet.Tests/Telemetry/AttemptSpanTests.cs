using System.Diagnostics;
using Herd.Agent.Telemetry;
using Herd.Fleet.Engines;
using Herd.Fleet.Jobs;
using Herd.Fleet.Telemetry;
using Shouldly;
using Xunit;

namespace Herd.Fleet.Tests.Telemetry;

/// <summary>
/// The GenAI conventions' agent span names the provider its engine calls: a codex attempt does not call Anthropic.
/// </summary>
public sealed class AttemptSpanTests : IDisposable
{
    private readonly ActivityListener _listener = new()
    {
        ShouldListenTo = s => s.Name == HerdTelemetry.Name,
        Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
    };

    public AttemptSpanTests() => ActivitySource.AddActivityListener(_listener);

    public void Dispose() => _listener.Dispose();

    [Theory]
    [InlineData("claude", "anthropic")]
    [InlineData("codex", "openai")]
    [InlineData("gemini", "gcp.gemini")]
    [InlineData("cmd", "cmd")]
    public void An_attempt_span_names_the_provider_of_the_engine_that_runs_it(string engine, string provider)
    {
        // Given a task span and an attempt of a task
        using var task = HerdTelemetry.Source.StartActivity("herd.task");
        var fleetTask = new FleetTask(1, "k", "a.py", "Do a.py", ["a.py"], new Dictionary<string, string>(), new TaskCaps());
        var attempt = new TaskAttempt(fleetTask, 1, 1, "Do a.py", "s", null, null);

        // When the attempt starts on that engine
        using var span = FleetTelemetry.StartAttempt(task, attempt, engine);

        // Then its provider is the engine's, not Herd's own client's
        span.ShouldNotBeNull().GetTagItem("gen_ai.provider.name").ShouldBe(provider);
        span.GetTagItem("gen_ai.operation.name").ShouldBe("invoke_agent");
    }
}
