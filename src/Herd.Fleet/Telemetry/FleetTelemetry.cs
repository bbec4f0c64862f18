using System.Diagnostics;
using System.Diagnostics.Metrics;
using Herd.Agent.Telemetry;
using Herd.Fleet.Engines;
using Herd.Fleet.Jobs;

namespace Herd.Fleet.Telemetry;

/// <summary>
/// The fan-out's spans (<c>herd.run</c> → <c>herd.task</c> → <c>herd.attempt</c>) and scheduler metrics, on Herd's one
/// source and meter (<see cref="HerdTelemetry"/>). Every method is a no-op while nobody listens.
/// </summary>
public static class FleetTelemetry
{
    private static readonly Meter Meter = HerdTelemetry.Meter;

    public static readonly Counter<long> Tasks = Meter.CreateCounter<long>("herd.tasks", "{task}", "Tasks that reached a final state, by outcome class.");

    public static readonly Counter<long> Attempts = Meter.CreateCounter<long>("herd.attempts", "{attempt}", "Attempts that ended, by outcome class.");

    public static readonly UpDownCounter<long> Running = Meter.CreateUpDownCounter<long>("herd.tasks.running", "{task}", "Attempts running now.");

    public static readonly Gauge<int> ConcurrencyLimit = Meter.CreateGauge<int>("herd.concurrency.limit", "{task}", "The scheduler's concurrency limit L (AIMD with -j auto).");

    public static readonly Counter<long> RateLimited = Meter.CreateCounter<long>("herd.rate_limit.responses", "{response}", "429 and 529 responses seen, inside and across attempts.");

    public static readonly Counter<double> Paused = Meter.CreateCounter<double>("herd.pause.duration", "s", "Time the fleet was paused by a 429 retry-after.");

    /// <summary>The run's root span; <see cref="Activity.Current"/> for the rest of the run's async flow.</summary>
    public static Activity? StartRun(string runId, string directory, string? shard, int tasks)
    {
        var activity = HerdTelemetry.Source.StartActivity("herd.run", ActivityKind.Internal, parentContext: default);
        activity?.SetTag("herd.run.id", runId)
            .SetTag("herd.run.dir", directory)
            .SetTag("herd.run.tasks", tasks);
        if (shard is not null)
            activity?.SetTag("herd.shard", shard);
        return activity;
    }

    public static void EndRun(Activity? run, string status, int exitCode, double costUsd, int succeeded, int failed)
    {
        if (run is null)
            return;
        run.SetTag("herd.run.status", status)
            .SetTag("herd.run.exit_code", exitCode)
            .SetTag("herd.cost_usd", costUsd)
            .SetTag("herd.run.succeeded", succeeded)
            .SetTag("herd.run.failed", failed);
        // error.type names the class of the failure: a run that finished with failed tasks is "tasks_failed", not "finished"
        if (exitCode != 0)
            HerdTelemetry.Fail(run, status == "finished" ? "tasks_failed" : status, $"exit {exitCode}");
        run.Stop();
    }

    /// <summary>A task's span, from its first attempt in this session to its final state.</summary>
    public static Activity? StartTask(ActivityContext run, FleetTask task, string? shard)
    {
        var activity = HerdTelemetry.StartDetached("herd.task", ActivityKind.Internal, run);
        activity?.SetTag("herd.task.key", task.Key)
            .SetTag("herd.task.name", task.Name)
            .SetTag("herd.task.seq", task.Seq);
        if (shard is not null)
            activity?.SetTag("herd.shard", shard);
        return activity;
    }

    /// <summary>An attempt's span; the caller's async flow gets it as current so the engine's spans go under it.</summary>
    /// <param name="engine">The engine that runs the attempt (<c>herd</c>, <c>claude</c>, <c>codex</c>, <c>gemini</c>, <c>cmd</c>): it decides the provider.</param>
    public static Activity? StartAttempt(Activity? task, TaskAttempt attempt, string engine = "herd")
    {
        if (task is null)
            return null;
        // The GenAI conventions' agent span: named invoke_agent {agent}, with the provider it calls (required)
        var activity = HerdTelemetry.Source.StartActivity(HerdTelemetry.InvokeAgentSpan, ActivityKind.Internal, task.Context);
        activity?.SetTag("herd.attempt.number", attempt.Number)
            .SetTag("herd.attempt.slot", attempt.Slot)
            .SetTag("herd.task.key", attempt.Task.Key)
            .SetTag("gen_ai.operation.name", "invoke_agent")
            .SetTag("gen_ai.provider.name", ProviderOf(engine))
            .SetTag("gen_ai.agent.name", "herd")
            .SetTag("gen_ai.conversation.id", attempt.SessionId);
        return activity;
    }

    /// <summary>
    /// The GenAI conventions' provider of an engine's model: the well-known names for the agent CLIs, Herd's own
    /// client's for the in-process agent, and the engine's name (a custom value) for a plain command.
    /// </summary>
    private static string ProviderOf(string engine) => engine switch
    {
        "herd" => HerdTelemetry.Provider,
        "claude" => "anthropic",
        "codex" => "openai",
        "gemini" => "gcp.gemini",
        var other => other,
    };

    public static void EndAttempt(Activity? attempt, TaskOutcome outcome)
    {
        Attempts.Add(1, new KeyValuePair<string, object?>("herd.outcome.class", outcome.Class.Name()));
        if (attempt is null)
            return;
        attempt.SetTag("herd.outcome.class", outcome.Class.Name())
            .SetTag("herd.cost_usd", outcome.CostUsd)
            .SetTag("herd.num_turns", outcome.NumTurns);
        if (outcome.Model is { } model)
            attempt.SetTag("gen_ai.response.model", model);
        if (outcome.ApiErrorStatus is { } status)
            attempt.SetTag("http.response.status_code", status);
        if (!outcome.Class.IsSuccess())
            HerdTelemetry.Fail(attempt, outcome.Class.Name(), outcome.Class.Name());
        attempt.Stop();
    }

    /// <summary>The task will run again: an event on its span says why and when.</summary>
    public static void Retrying(Activity? task, OutcomeClass cls, int retry, TimeSpan delay)
    {
        task?.AddEvent(new ActivityEvent("herd.retry", tags: new ActivityTagsCollection
        {
            ["herd.outcome.class"] = cls.Name(),
            ["herd.retry.number"] = retry,
            ["herd.retry.delay_s"] = delay.TotalSeconds,
        }));
    }

    public static void EndTask(Activity? task, OutcomeClass cls, double costUsd, int retries, int attempts)
    {
        Tasks.Add(1, new KeyValuePair<string, object?>("herd.outcome.class", cls.Name()));
        if (task is null)
            return;
        task.SetTag("herd.outcome.class", cls.Name())
            .SetTag("herd.cost_usd", costUsd)
            .SetTag("herd.retries", retries)
            .SetTag("herd.attempts", attempts);
        if (!cls.IsSuccess())
            HerdTelemetry.Fail(task, cls.Name());
        task.Stop();
    }

    /// <summary>A task left unfinished when the session ends (halt, interrupt, budget): its span closes as such.</summary>
    public static void AbandonTask(Activity? task)
    {
        if (task is null || task.IsStopped)
            return;
        task.SetTag("herd.task.state", "unfinished");
        task.Stop();
    }

    public static void OnBackPressure(int status, TimeSpan pausedFor)
    {
        RateLimited.Add(1, new KeyValuePair<string, object?>("http.response.status_code", status));
        if (pausedFor > TimeSpan.Zero)
            Paused.Add(pausedFor.TotalSeconds);
    }
}
