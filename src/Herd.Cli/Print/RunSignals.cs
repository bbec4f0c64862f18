using System.Runtime.InteropServices;

namespace Herd.Cli.Print;

/// <summary>
/// SIGINT and SIGTERM turned into cancellation. SIGINT ends the turn and still prints a result (exit 130); SIGTERM
/// prints no result (exit 143). Either way tool process trees are killed through the cancelled token.
/// </summary>
public sealed class RunSignals : IDisposable
{
    private readonly CancellationTokenSource _cts = new();
    private readonly PosixSignalRegistration _sigint;
    private readonly PosixSignalRegistration _sigterm;

    public RunSignals()
    {
        _sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, ctx => Stop(ctx, PosixSignal.SIGINT));
        _sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, ctx => Stop(ctx, PosixSignal.SIGTERM));
    }

    public CancellationToken Token => _cts.Token;

    public PosixSignal? Received { get; private set; }

    public bool Terminated => Received == PosixSignal.SIGTERM;

    /// <summary>130 after SIGINT, 143 after SIGTERM, else null.</summary>
    public int? ExitCode => Received switch
    {
        PosixSignal.SIGINT => 130,
        PosixSignal.SIGTERM => 143,
        _ => null,
    };

    private void Stop(PosixSignalContext context, PosixSignal signal)
    {
        context.Cancel = true;
        if (Received is null || signal == PosixSignal.SIGTERM)
            Received = signal;
        _cts.Cancel();
    }

    public void Dispose()
    {
        _sigint.Dispose();
        _sigterm.Dispose();
        _cts.Dispose();
    }
}
