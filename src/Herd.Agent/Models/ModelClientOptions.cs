namespace Herd.Agent.Models;

/// <summary>Which wire protocol the model speaks.</summary>
public enum ModelProvider
{
    /// <summary>Anthropic's Messages API (<c>POST /v1/messages</c>).</summary>
    Anthropic,

    /// <summary>OpenAI Chat Completions (<c>POST {base}/chat/completions</c>): OpenAI, vLLM, Ollama, llama.cpp, LiteLLM…</summary>
    OpenAi,
}

/// <summary>Connection and retry settings of a model client, whichever provider it speaks.</summary>
public sealed record ModelClientOptions
{
    public ModelProvider Provider { get; init; } = ModelProvider.Anthropic;

    /// <value>
    /// Null = the provider's own: <c>https://api.anthropic.com</c> (<c>ANTHROPIC_BASE_URL</c> overrides it) or
    /// <c>https://api.openai.com/v1</c> (<c>OPENAI_BASE_URL</c>; OpenAI-style base URLs end in <c>/v1</c>).
    /// </value>
    public Uri? BaseUrl { get; init; }

    /// <value>May be empty for an OpenAI-compatible server that needs no key (a local vLLM or Ollama).</value>
    public required string ApiKey { get; init; }

    /// <value>Retries after the first attempt. Default 10, as Claude Code (<c>HERD_MAX_RETRIES</c>).</value>
    public int MaxRetries { get; init; } = 10;

    /// <value>Backoff base: attempt n waits rand(0, min(cap, base·2^n)). Default 1 s (<c>HERD_RETRY_BASE_MS</c>).</value>
    public TimeSpan RetryBaseDelay { get; init; } = TimeSpan.FromSeconds(1);

    /// <value>Backoff cap. Default 60 s.</value>
    public TimeSpan RetryMaxDelay { get; init; } = TimeSpan.FromSeconds(60);

    /// <value>A stream silent this long is aborted and retried. Default 120 s (<c>HERD_STREAM_IDLE_TIMEOUT</c>).</value>
    public TimeSpan StreamIdleTimeout { get; init; } = TimeSpan.FromSeconds(120);

    /// <value>The clock of backoff waits, <c>retry-after</c> dates and stream idle timeouts; tests pass a fake one.</value>
    public TimeProvider TimeProvider { get; init; } = TimeProvider.System;

    /// <value>Draws the backoff jitter, a number in [0, 1). Default <see cref="Random.Shared"/>; tests pass a fixed one.</value>
    public Func<double> Jitter { get; init; } = Random.Shared.NextDouble;

    /// <value>
    /// Consecutive refused connections, with no connection ever made by this client, after which a call fails at once
    /// with <see cref="ModelErrorKind.Unreachable"/> instead of retrying. Default 4.
    /// </value>
    public int RefusalsBeforeGivingUp { get; init; } = 4;

    /// <value>Told when the endpoint cannot be reached, becomes reachable again, or is given up on; the CLI prints it.</value>
    public Action<EndpointNotice>? OnEndpointNotice { get; init; }

    public string UserAgent { get; init; } = "herd/" + typeof(ModelClientOptions).Assembly.GetName().Version?.ToString(3);

    /// <summary>The environment variable that names this provider's base URL, for error messages.</summary>
    public string BaseUrlVariable => Provider == ModelProvider.OpenAi ? "OPENAI_BASE_URL" : "ANTHROPIC_BASE_URL";
}

public enum EndpointNoticeKind
{
    /// <summary>A call could not connect and will be tried again after <see cref="EndpointNotice.Delay"/>.</summary>
    Retrying,

    /// <summary>The endpoint was reachable (or not yet tried) and a connection just failed.</summary>
    Unreachable,

    /// <summary>A connection succeeded after the endpoint had been unreachable.</summary>
    Reachable,

    /// <summary>Every connection so far was refused: calls fail at once (<see cref="ModelErrorKind.Unreachable"/>).</summary>
    GivingUp,
}

/// <summary>What the client tells its host about the endpoint's reachability (printed by the CLI; nothing below it prints).</summary>
/// <param name="Endpoint">Scheme, host and port, e.g. <c>http://127.0.0.1:9</c>.</param>
/// <param name="Cause"><c>connection refused</c>, <c>host not found</c>…; null for <see cref="EndpointNoticeKind.Reachable"/>.</param>
/// <param name="Attempts">For <see cref="EndpointNoticeKind.Retrying"/> the retry number, for <see cref="EndpointNoticeKind.GivingUp"/> the refusals counted.</param>
public sealed record EndpointNotice(EndpointNoticeKind Kind, string Endpoint, string? Cause, int Attempts = 0, int MaxRetries = 0, TimeSpan Delay = default);

/// <summary>The one place a model client is built from options (print mode, <c>herd run</c> and <c>herd worker</c> alike).</summary>
public static class ModelClientFactory
{
    public static HttpModelClient Create(ModelClientOptions options) => options.Provider switch
    {
        ModelProvider.OpenAi => new OpenAiChatClient(options),
        _ => new AnthropicMessagesClient(options),
    };
}
