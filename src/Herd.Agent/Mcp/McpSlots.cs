using Herd.Agent.Tools;

namespace Herd.Agent.Mcp;

/// <summary>
/// The MCP servers of a fan-out (<c>herd run</c>, <c>herd worker</c>): one set per scheduler slot, started when the slot
/// runs its first task and kept for the slot's later tasks — not one set per process (a slot's tasks would wait on
/// each other's calls, and a server's state would mix tasks), not one per task (a start per task costs seconds). A
/// slot runs one task at a time, so its servers serve one conversation at a time. A server that died during a task
/// (that task saw "Connection closed") is started again before the slot's next task; the servers stop, with their
/// process trees, when this is disposed at the end of the run.
/// </summary>
/// <param name="specs">The servers, as the run stored them (<c>${VAR}</c> expanded when each starts).</param>
/// <param name="startTimeout">How long a server may take to start and initialise (<c>MCP_TIMEOUT</c>).</param>
public sealed class McpSlots(IReadOnlyList<McpServerSpec> specs, TimeSpan startTimeout) : IAsyncDisposable
{
    private readonly Dictionary<int, McpConnections> _bySlot = [];
    private readonly Lock _gate = new();
    private bool _disposed;

    /// <summary>
    /// The servers of <paramref name="slot"/> for its next task: started on first use, dead ones restarted. Never waits
    /// longer than the start timeout; a server that cannot start is reported <c>failed</c> in the result.
    /// </summary>
    /// <param name="context">The task's tool context: where stdio servers start, and the sandbox that confines them.</param>
    public async Task<McpConnections> AcquireAsync(int slot, ToolContext context, CancellationToken cancellationToken = default)
    {
        if (specs.Count == 0)
            return McpConnections.None;
        McpConnections? current;
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (_bySlot.TryGetValue(slot, out current) && !current.AnyDied)
                return current;
        }
        var next = current is null
            ? await McpConnections.StartAsync(specs, context, startTimeout, cancellationToken).ConfigureAwait(false)
            : await current.RestartDiedAsync(context, startTimeout, cancellationToken).ConfigureAwait(false);
        bool stale;
        lock (_gate)
        {
            stale = _disposed;
            if (!stale)
                _bySlot[slot] = next;
        }
        if (stale)
        {
            // The run ended while these started: stop them at once rather than leave processes behind.
            await next.DisposeAsync().ConfigureAwait(false);
            throw new ObjectDisposedException(nameof(McpSlots));
        }
        return next;
    }

    public async ValueTask DisposeAsync()
    {
        McpConnections[] all;
        lock (_gate)
        {
            _disposed = true;
            all = [.. _bySlot.Values];
            _bySlot.Clear();
        }
        await Task.WhenAll(all.Select(c => c.DisposeAsync().AsTask())).ConfigureAwait(false);
    }
}
