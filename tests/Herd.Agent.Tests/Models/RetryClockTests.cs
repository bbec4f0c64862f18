using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text.Json.Nodes;
using Herd.Agent.Chat;
using Herd.Agent.Models;
using Herd.Testing;
using Microsoft.Extensions.Time.Testing;

namespace Herd.Agent.Tests.Models;

/// <summary>
/// Backoff, <c>retry-after</c> and stream idle timeouts are decided on the client's injected clock and jitter
/// (issue #10, item 5): these tests advance a fake clock instead of sleeping through the waits.
/// </summary>
public sealed class RetryClockTests : IAsyncLifetime
{
    private readonly FakeTimeProvider _clock = new(DateTimeOffset.Parse("2026-11-29T10:00:00Z", System.Globalization.CultureInfo.InvariantCulture));
    private ScriptedModelServer _server = null!;

    public async Task InitializeAsync() => _server = await ScriptedModelServer.StartAsync();

    public async Task DisposeAsync() => await _server.DisposeAsync();

    private AnthropicMessagesClient Client(double jitter = 0) => new(new ModelClientOptions
    {
        ApiKey = "sk-test",
        BaseUrl = _server.BaseUrl,
        TimeProvider = _clock,
        Jitter = () => jitter,
    });

    private static ModelRequest Request() =>
        new("claude-sonnet-4-5", 1024, null, [ChatMessage.User(new TextBlock("hi"))], ToolSet.Empty);

    private static string TextOf(ModelResponse response) => string.Concat(response.Content.OfType<TextBlock>().Select(t => t.Text));

    /// <summary>
    /// Moves the fake clock on in steps until the call ends, and returns how far it moved. The call can only get past a
    /// wait when the clock is moved, so the distance proves which wait it took; the steps give the client a moment to
    /// arm its next timer between them.
    /// </summary>
    private async Task<TimeSpan> AdvanceUntilDoneAsync(Task call, TimeSpan step, TimeSpan limit)
    {
        var moved = TimeSpan.Zero;
        while (!call.IsCompleted && moved < limit)
        {
            await Task.WhenAny(call, Task.Delay(15));
            if (call.IsCompleted)
                break;
            _clock.Advance(step);
            moved += step;
        }
        await call;
        return moved;
    }

    private sealed class Observer : IModelStreamObserver
    {
        public ConcurrentQueue<ApiRetryInfo> Retries { get; } = new();
        public TaskCompletionSource FirstEvent { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
        public TaskCompletionSource FirstRetry { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public void OnStreamEvent(string rawJson) => FirstEvent.TrySetResult();

        public void OnContentBlock(string messageId, string model, Usage startUsage, JsonObject block)
        {
        }

        public void OnRetry(ApiRetryInfo retry)
        {
            Retries.Enqueue(retry);
            FirstRetry.TrySetResult();
        }
    }

    [Fact]
    public async Task Retry_after_decides_the_wait_on_the_injected_clock()
    {
        // Given a 429 asking for 30 seconds, then an answer
        _server.Reset(ModelScript.Replies(Reply.Error(429, retryAfter: 30), Reply.WithText("ok")));
        using var client = Client();
        var observer = new Observer();
        var real = Stopwatch.StartNew();

        // When the call runs while the fake clock moves a second at a time
        var call = client.CreateMessageAsync(Request(), observer);
        var moved = await AdvanceUntilDoneAsync(call, TimeSpan.FromSeconds(1), TimeSpan.FromMinutes(5));

        // Then it waited the 30 fake seconds, not real ones, and reported the wait
        TextOf(await call).ShouldContain("ok");
        observer.Retries.Single().Delay.ShouldBe(TimeSpan.FromSeconds(30));
        observer.Retries.Single().Error.ShouldBe("rate_limit");
        moved.ShouldBeGreaterThanOrEqualTo(TimeSpan.FromSeconds(30));
        real.Elapsed.ShouldBeLessThan(TimeSpan.FromSeconds(30));
    }

    [Fact]
    public async Task Retry_after_as_an_http_date_is_measured_from_the_injected_clock()
    {
        var at = _clock.GetUtcNow().AddSeconds(45).ToString("R", System.Globalization.CultureInfo.InvariantCulture);
        _server.Reset(ModelScript.Replies(Reply.Error(503) with { Headers = new Dictionary<string, string> { ["retry-after"] = at } }, Reply.WithText("ok")));
        using var client = Client();
        var observer = new Observer();

        var call = client.CreateMessageAsync(Request(), observer);
        await observer.FirstRetry.Task.WaitAsync(TimeSpan.FromSeconds(30));
        observer.Retries.Single().Delay.ShouldBe(TimeSpan.FromSeconds(45));
        var moved = await AdvanceUntilDoneAsync(call, TimeSpan.FromSeconds(5), TimeSpan.FromMinutes(5));

        moved.ShouldBeGreaterThanOrEqualTo(TimeSpan.FromSeconds(45));
    }

    [Fact]
    public async Task Backoff_is_the_injected_jitter_times_the_doubling_ceiling()
    {
        // Given two server errors without retry-after and a jitter fixed at one half
        _server.Reset(ModelScript.Replies(Reply.Error(500), Reply.Error(500), Reply.WithText("ok")));
        using var client = Client(jitter: 0.5);
        var observer = new Observer();

        var call = client.CreateMessageAsync(Request(), observer);
        await AdvanceUntilDoneAsync(call, TimeSpan.FromMilliseconds(250), TimeSpan.FromMinutes(5));

        // Then attempt n waits 0.5 × min(60 s, 1 s × 2^n)
        observer.Retries.Select(r => r.Delay).ShouldBe([TimeSpan.FromSeconds(0.5), TimeSpan.FromSeconds(1)]);
        observer.Retries.Select(r => r.Error).ShouldBe(["server_error", "server_error"]);
    }

    [Fact]
    public async Task A_stream_silent_for_the_idle_timeout_on_the_injected_clock_is_abandoned_and_retried()
    {
        // Given a reply that stalls after message_start for ten real minutes, then a good one
        _server.Reset(ModelScript.Replies(new Reply { Text = "never", StallMs = 600_000 }, Reply.WithText("after the stall")));
        using var client = Client();
        var observer = new Observer();
        var real = Stopwatch.StartNew();

        // When the stream has started and the fake clock passes the 120 s idle timeout
        var call = client.CreateMessageAsync(Request(), observer);
        await observer.FirstEvent.Task.WaitAsync(TimeSpan.FromSeconds(30));
        _clock.Advance(TimeSpan.FromSeconds(120));
        var response = await call.WaitAsync(TimeSpan.FromSeconds(30));

        // Then the stalled stream was dropped and the retry answered, in far less real time than the stall
        TextOf(response).ShouldContain("after the stall");
        observer.Retries.Single().Error.ShouldBe("unknown");
        real.Elapsed.ShouldBeLessThan(TimeSpan.FromSeconds(60));
    }

    [Fact]
    public async Task A_server_that_never_sends_headers_trips_the_idle_timeout_on_the_injected_clock()
    {
        _server.Reset(ModelScript.Replies(new Reply { Text = "late", LatencyMs = 600_000 }, Reply.WithText("on time")));
        using var client = Client();
        var observer = new Observer();

        var call = client.CreateMessageAsync(Request(), observer);
        var moved = await AdvanceUntilDoneAsync(call, TimeSpan.FromSeconds(10), TimeSpan.FromMinutes(10));

        TextOf(await call).ShouldContain("on time");
        moved.ShouldBeGreaterThanOrEqualTo(TimeSpan.FromSeconds(120));
        observer.Retries.Count.ShouldBe(1);
    }
}
