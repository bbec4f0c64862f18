using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Text.Json.Nodes;
using Herd.Agent.Chat;
using Herd.Agent.Models;
using Herd.Testing;

namespace Herd.Agent.Tests.Models;

/// <summary>
/// A base URL where nothing listens: the client names each failed connection to its host, gives up once the first
/// connections of its life were all refused, and keeps retrying an endpoint that once answered (a proxy restarting).
/// Real sockets on loopback; the backoff jitter is zero so no test waits.
/// </summary>
public sealed class EndpointReachabilityTests
{
    private readonly ConcurrentQueue<EndpointNotice> _notices = new();

    private AnthropicMessagesClient Client(Uri baseUrl, int maxRetries) => new(new ModelClientOptions
    {
        ApiKey = "sk-test",
        BaseUrl = baseUrl,
        MaxRetries = maxRetries,
        Jitter = () => 0,
        OnEndpointNotice = _notices.Enqueue,
    });

    private static ModelRequest Request() =>
        new("claude-sonnet-4-5", 1024, null, [ChatMessage.User(new TextBlock("hi"))], ToolSet.Empty);

    /// <summary>A loopback port that was just free: connecting to it is refused.</summary>
    private static int ClosedPort()
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return port;
    }

    private sealed class Observer : IModelStreamObserver
    {
        public int Retries;

        public void OnStreamEvent(string rawJson)
        {
        }

        public void OnContentBlock(string messageId, string model, Usage startUsage, JsonObject block)
        {
        }

        public void OnRetry(ApiRetryInfo retry) => Interlocked.Increment(ref Retries);
    }

    [Fact]
    public async Task A_closed_port_is_given_up_on_after_four_refusals_instead_of_ten_retries()
    {
        // Given a base URL where nothing listens, and ten retries allowed
        var port = ClosedPort();
        using var client = Client(new Uri($"http://127.0.0.1:{port}"), maxRetries: 10);
        var observer = new Observer();

        // When a call is made
        var ex = await Should.ThrowAsync<ModelApiException>(() => client.CreateMessageAsync(Request(), observer));

        // Then it stops at the fourth refusal, unretryable, naming the endpoint and the variable to check
        ex.Kind.ShouldBe(ModelErrorKind.Unreachable);
        ex.IsRetryable.ShouldBeFalse();
        ex.Message.ShouldBe($"Connection error: http://127.0.0.1:{port} (connection refused). Every connection so far was refused: nothing is listening there. Check ANTHROPIC_BASE_URL.");
        observer.Retries.ShouldBe(3);
        // And the host heard: unreachable once, each retry with its number, then the give-up
        _notices.Select(n => (n.Kind, n.Attempts)).ShouldBe([
            (EndpointNoticeKind.Unreachable, 0), (EndpointNoticeKind.Retrying, 1), (EndpointNoticeKind.Retrying, 2),
            (EndpointNoticeKind.Retrying, 3), (EndpointNoticeKind.GivingUp, 4)]);
        _notices.ShouldAllBe(n => n.Endpoint == $"http://127.0.0.1:{port}");
        _notices.Where(n => n.Kind != EndpointNoticeKind.Reachable).ShouldAllBe(n => n.Cause == "connection refused");

        // And the next call of the process fails at its first refusal, without a second give-up notice
        _notices.Clear();
        var again = await Should.ThrowAsync<ModelApiException>(() => client.CreateMessageAsync(Request(), new Observer()));
        again.Kind.ShouldBe(ModelErrorKind.Unreachable);
        _notices.ShouldBeEmpty();
    }

    [Fact]
    public async Task An_endpoint_that_once_answered_is_retried_to_the_end_and_reported_back_when_it_returns()
    {
        // Given an endpoint that answers one call and then goes away
        var port = ClosedPort();
        var server = await ScriptedModelServer.StartAsync(new ModelScript { Default = Reply.WithText("ok") }, port);
        using var client = Client(new Uri($"http://127.0.0.1:{port}"), maxRetries: 5);
        await client.CreateMessageAsync(Request(), new Observer());
        await server.DisposeAsync();

        // When a call finds it gone
        var observer = new Observer();
        var ex = await Should.ThrowAsync<ModelApiException>(() => client.CreateMessageAsync(Request(), observer));

        // Then every retry was made (a restarting proxy comes back), and the failure is an ordinary network error
        ex.Kind.ShouldBe(ModelErrorKind.Network);
        observer.Retries.ShouldBe(5);
        _notices.Count(n => n.Kind == EndpointNoticeKind.Unreachable).ShouldBe(1);
        _notices.ShouldNotContain(n => n.Kind == EndpointNoticeKind.GivingUp);

        // And when it is back, the next call succeeds and says so once
        await using var back = await ScriptedModelServer.StartAsync(new ModelScript { Default = Reply.WithText("ok") }, port);
        await client.CreateMessageAsync(Request(), new Observer());
        _notices.Last().Kind.ShouldBe(EndpointNoticeKind.Reachable);
    }
}
