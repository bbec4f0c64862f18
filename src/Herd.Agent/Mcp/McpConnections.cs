using System.Diagnostics;
using Herd.Agent.IO;
using Herd.Agent.Sandbox;
using Herd.Agent.Tools;
using ModelContextProtocol.Client;

namespace Herd.Agent.Mcp;

/// <summary>A server's state as <c>system/init</c> lists it: <c>connected</c> or <c>failed</c>.</summary>
public sealed record McpServerStatus(string Name, string Status, string Source);

/// <summary>
/// The MCP servers of one <c>herd -p</c> or one <c>herd run</c>: started together once, their tools listed once, stopped
/// (with their process trees) on dispose. A server that fails to start or does not finish <c>initialize</c> within the
/// timeout is reported <c>failed</c> and left out; it never holds up the run.
/// </summary>
public sealed class McpConnections : IAsyncDisposable
{
    /// <summary>Claude Code's <c>MCP_TIMEOUT</c> default: 30 s to start and initialise.</summary>
    public static readonly TimeSpan DefaultStartTimeout = TimeSpan.FromSeconds(30);

    /// <summary>One configured server: its client while connected, null when it failed to start.</summary>
    private sealed record Server(McpServerSpec Spec, McpClient? Client, IReadOnlyList<ITool> Tools)
    {
        /// <summary>Connected once, and its session has ended since (the process exited, the connection dropped).</summary>
        public bool HasDied => Client is { Completion.IsCompleted: true };
    }

    private readonly IReadOnlyList<Server> _servers;

    private McpConnections(IReadOnlyList<Server> servers)
    {
        _servers = servers;
        Statuses = servers.Select(s => new McpServerStatus(s.Spec.Name, s.Client is null ? "failed" : "connected", s.Spec.Source)).ToArray();
        Tools = servers.SelectMany(s => s.Tools).OrderBy(t => t.Name, StringComparer.Ordinal).ToArray();
    }

    public static McpConnections None { get; } = new([]);

    public IReadOnlyList<McpServerStatus> Statuses { get; }

    /// <summary>Every connected server's tools, sorted by name.</summary>
    public IReadOnlyList<ITool> Tools { get; }

    /// <summary>Whether a server that was connected has gone away since (its calls now answer "Connection closed").</summary>
    public bool AnyDied => _servers.Any(s => s.HasDied);

    /// <summary><c>MCP_TIMEOUT</c> (milliseconds, Claude Code's variable) from this process's environment, else 30 s.</summary>
    public static TimeSpan StartTimeoutFromEnvironment() =>
        Environment.GetEnvironmentVariable("MCP_TIMEOUT") is { Length: > 0 } ms && int.TryParse(ms, System.Globalization.CultureInfo.InvariantCulture, out var n) && n > 0
            ? TimeSpan.FromMilliseconds(n)
            : DefaultStartTimeout;

    /// <param name="sandbox">When set, stdio servers not marked <c>trusted</c> run inside it, as Bash does.</param>
    public static async Task<McpConnections> StartAsync(IReadOnlyList<McpServerSpec> specs, ToolContext sandbox, TimeSpan startTimeout, CancellationToken cancellationToken = default)
    {
        if (specs.Count == 0)
            return None;
        return new McpConnections(await Task.WhenAll(specs.Select(s => StartOneAsync(s, sandbox, startTimeout, cancellationToken))).ConfigureAwait(false));
    }

    /// <summary>
    /// These connections with every server that died started again (the others kept as they are, a server that never
    /// started left failed: retrying it would cost every task the start timeout). The dead clients are disposed.
    /// </summary>
    public async Task<McpConnections> RestartDiedAsync(ToolContext sandbox, TimeSpan startTimeout, CancellationToken cancellationToken = default)
    {
        var servers = await Task.WhenAll(_servers.Select(async s =>
        {
            if (!s.HasDied)
                return s;
            await DisposeQuietlyAsync(s.Client!).ConfigureAwait(false);
            return await StartOneAsync(s.Spec, sandbox, startTimeout, cancellationToken).ConfigureAwait(false);
        })).ConfigureAwait(false);
        return new McpConnections(servers);
    }

    private static async Task<Server> StartOneAsync(McpServerSpec spec, ToolContext context, TimeSpan timeout, CancellationToken cancellationToken)
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(timeout);
        McpClient? client = null;
        try
        {
            var transport = Transport(spec.Expanded(), context);
            client = await McpClient.CreateAsync(transport, new McpClientOptions { InitializationTimeout = timeout }, null, deadline.Token).ConfigureAwait(false);
            var listed = await client.ListToolsAsync(cancellationToken: deadline.Token).ConfigureAwait(false);
            return new Server(spec, client, listed.Select(t => (ITool)new McpTool(client, spec.Name, t.ProtocolTool)).ToArray());
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            // Any failure to start is the server's status, not the run's: Claude Code goes on without it.
            Trace.TraceWarning($"MCP server {spec.Name} failed: {ex.Message}");
            if (client is not null)
                await DisposeQuietlyAsync(client).ConfigureAwait(false);
            return new Server(spec, null, []);
        }
    }

    private static IClientTransport Transport(McpServerSpec spec, ToolContext context)
    {
        if (spec.Transport != McpTransportKind.Stdio)
        {
            if (!Uri.TryCreate(spec.Url, UriKind.Absolute, out var url) || url.Scheme is not ("http" or "https"))
                throw new InvalidOperationException($"url '{spec.Url}' is not an http(s) URL here");
            return new HttpClientTransport(new HttpClientTransportOptions
            {
                Endpoint = url,
                Name = spec.Name,
                TransportMode = spec.Transport == McpTransportKind.Sse ? HttpTransportMode.Sse : HttpTransportMode.StreamableHttp,
                AdditionalHeaders = spec.Headers.ToDictionary(),
            });
        }
        var command = spec.Command!;
        var args = spec.Args.ToList();
        if (context.Sandbox is not null && !spec.Trusted)
        {
            // Confined like Bash: the same bubblewrap policy, under `setsid -f -w` so --die-with-parent follows a
            // process (not the .NET thread that happened to start it).
            if (Bubblewrap.Problem is { } problem)
                throw new InvalidOperationException(Bubblewrap.UnavailableMessage(problem));
            var shell = string.Join(' ', spec.Args.Prepend(command).Select(Quote));
            var wrapped = Bubblewrap.Arguments("exec " + shell, context).ToList();
            var (file, arguments) = ProcessGroup.Command([Bubblewrap.ExecutablePath!, .. wrapped], sandboxed: true);
            (command, args) = (file, arguments.ToList());
        }
        var env = new Dictionary<string, string?>(StringComparer.Ordinal) { ["ANTHROPIC_API_KEY"] = null, ["ANTHROPIC_AUTH_TOKEN"] = null };
        foreach (var (name, value) in spec.Env)
            env[name] = value;
        return new StdioClientTransport(new StdioClientTransportOptions
        {
            Name = spec.Name,
            Command = command,
            Arguments = args,
            WorkingDirectory = context.WorkingDirectory,
            EnvironmentVariables = env,
            ShutdownTimeout = TimeSpan.FromSeconds(5),
        });
    }

    private static string Quote(string word) => "'" + word.Replace("'", "'\\''", StringComparison.Ordinal) + "'";

    public async ValueTask DisposeAsync()
    {
        foreach (var server in _servers)
        {
            if (server.Client is not null)
                await DisposeQuietlyAsync(server.Client).ConfigureAwait(false);
        }
    }

    private static async ValueTask DisposeQuietlyAsync(McpClient client)
    {
        try
        {
            await client.DisposeAsync().ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is IOException or InvalidOperationException or ObjectDisposedException)
        {
            // Already gone.
        }
    }
}
