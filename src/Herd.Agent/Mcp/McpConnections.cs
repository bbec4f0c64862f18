using System.Diagnostics;
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

    private static readonly string? SetsidPath = new[] { "/usr/bin/setsid", "/bin/setsid" }.FirstOrDefault(File.Exists);

    private readonly List<McpClient> _clients = [];

    private McpConnections(IReadOnlyList<McpServerStatus> statuses, IReadOnlyList<ITool> tools, List<McpClient> clients)
    {
        Statuses = statuses;
        Tools = tools;
        _clients = clients;
    }

    public static McpConnections None { get; } = new([], [], []);

    public IReadOnlyList<McpServerStatus> Statuses { get; }

    /// <summary>Every connected server's tools, sorted by name.</summary>
    public IReadOnlyList<ITool> Tools { get; }

    /// <param name="sandbox">When set, stdio servers not marked <c>trusted</c> run inside it, as Bash does.</param>
    public static async Task<McpConnections> StartAsync(IReadOnlyList<McpServerSpec> specs, ToolContext sandbox, TimeSpan startTimeout, CancellationToken cancellationToken = default)
    {
        if (specs.Count == 0)
            return None;
        var started = await Task.WhenAll(specs.Select(s => StartOneAsync(s, sandbox, startTimeout, cancellationToken))).ConfigureAwait(false);
        var clients = started.Where(s => s.Client is not null).Select(s => s.Client!).ToList();
        var tools = started.SelectMany(s => s.Tools).OrderBy(t => t.Name, StringComparer.Ordinal).ToArray();
        var statuses = started.Select(s => new McpServerStatus(s.Spec.Name, s.Client is null ? "failed" : "connected", s.Spec.Source)).ToArray();
        return new McpConnections(statuses, tools, clients);
    }

    private static async Task<(McpServerSpec Spec, McpClient? Client, IReadOnlyList<ITool> Tools)> StartOneAsync(McpServerSpec spec, ToolContext context, TimeSpan timeout, CancellationToken cancellationToken)
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(timeout);
        McpClient? client = null;
        try
        {
            var transport = Transport(spec, context);
            client = await McpClient.CreateAsync(transport, new McpClientOptions { InitializationTimeout = timeout }, null, deadline.Token).ConfigureAwait(false);
            var listed = await client.ListToolsAsync(cancellationToken: deadline.Token).ConfigureAwait(false);
            return (spec, client, listed.Select(t => (ITool)new McpTool(client, spec.Name, t.ProtocolTool)).ToArray());
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            // Any failure to start is the server's status, not the run's: Claude Code goes on without it.
            Trace.TraceWarning($"MCP server {spec.Name} failed: {ex.Message}");
            if (client is not null)
                await client.DisposeAsync().ConfigureAwait(false);
            return (spec, null, []);
        }
    }

    private static IClientTransport Transport(McpServerSpec spec, ToolContext context)
    {
        if (spec.Transport != McpTransportKind.Stdio)
        {
            return new HttpClientTransport(new HttpClientTransportOptions
            {
                Endpoint = spec.Url!,
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
            (command, args) = SetsidPath is null ? (Bubblewrap.ExecutablePath!, wrapped) : (SetsidPath, ["-f", "-w", Bubblewrap.ExecutablePath!, .. wrapped]);
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
        foreach (var client in _clients)
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
}
