using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;

namespace Herd.Fleet.Engines;

/// <summary>
/// One engine process and everything it starts. The process leads its own session and process group (started through
/// <c>setsid</c>), so a stop reaches its background children too; and because agent CLIs start tools in groups of
/// their own, a stop also walks <c>/proc</c> for every descendant. Stopping is graceful, then forceful (CliWrap's
/// model): SIGTERM to the group and each descendant, then after <c>grace</c> SIGKILL to whatever is left.
/// </summary>
public sealed partial class ProcessTree : IDisposable
{
    private static readonly string? SetsidPath = new[] { "/usr/bin/setsid", "/bin/setsid" }.FirstOrDefault(File.Exists);
    private const int SigTerm = 15;
    private const int SigKill = 9;

    private readonly Process _process;
    private readonly StringBuilder _stderrTail = new();
    private readonly Lock _stderrGate = new();
    private readonly Task _stderrPump;
    private readonly HashSet<int> _seen = [];
    private int _stopping;

    private readonly TimeProvider _time;

    private ProcessTree(Process process, TimeProvider time)
    {
        _process = process;
        _time = time;
        _stderrPump = Task.Run(PumpStderrAsync);
    }

    public int Id => _process.Id;

    /// <value>True once a stop was requested: the exit code then says nothing about the task.</value>
    public bool Stopped => Volatile.Read(ref _stopping) != 0;

    /// <summary>The last 8 KB of stderr (spec §8 <c>Stderr</c>).</summary>
    public string StderrTail
    {
        get
        {
            lock (_stderrGate)
                return _stderrTail.ToString();
        }
    }

    /// <summary>Starts <paramref name="file"/> with exactly <paramref name="environment"/> (nothing inherited).</summary>
    /// <param name="stdin">Written to the process's stdin, which is then closed (the prompt; never argv, which <c>ps</c> shows).</param>
    /// <param name="time">The clock a stop's grace runs on.</param>
    /// <exception cref="System.ComponentModel.Win32Exception">The file cannot be started.</exception>
    public static ProcessTree Start(string file, IReadOnlyList<string> arguments, IReadOnlyDictionary<string, string> environment, string workingDirectory, string? stdin, TimeProvider? time = null)
    {
        var psi = new ProcessStartInfo
        {
            FileName = SetsidPath ?? file,
            WorkingDirectory = workingDirectory,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            StandardOutputEncoding = new UTF8Encoding(false),
            StandardErrorEncoding = new UTF8Encoding(false),
        };
        if (SetsidPath is not null)
            psi.ArgumentList.Add(file);
        foreach (var a in arguments)
            psi.ArgumentList.Add(a);
        psi.Environment.Clear();
        foreach (var (k, v) in environment)
            psi.Environment[k] = v;
        var process = Process.Start(psi) ?? throw new InvalidOperationException($"'{file}' did not start.");
        var tree = new ProcessTree(process, time ?? TimeProvider.System);
        _ = tree.WriteStdinAsync(stdin);
        return tree;
    }

    private async Task WriteStdinAsync(string? text)
    {
        try
        {
            if (!string.IsNullOrEmpty(text))
                await _process.StandardInput.WriteAsync(text).ConfigureAwait(false);
            _process.StandardInput.Close();
        }
        catch (IOException)
        {
            // The process exited before it read its prompt; its exit code and stderr tell why.
        }
    }

    /// <summary>Reads stdout line by line until it closes; each line goes to <paramref name="onLine"/> as it arrives.</summary>
    public async Task ReadLinesAsync(Action<string> onLine)
    {
        var reader = _process.StandardOutput;
        while (await reader.ReadLineAsync().ConfigureAwait(false) is { } line)
            onLine(line);
    }

    /// <summary>Waits for the exit and for stderr to drain. −1 when the process was stopped by a signal.</summary>
    public async Task<int> WaitForExitAsync()
    {
        await _process.WaitForExitAsync().ConfigureAwait(false);
        await _stderrPump.ConfigureAwait(false);
        return _process.ExitCode;
    }

    /// <summary>
    /// SIGTERM to the process group and every descendant; after <paramref name="grace"/>, SIGKILL to all that remain.
    /// Returns when the engine process has exited. Safe to call more than once and after the exit.
    /// </summary>
    public async Task StopAsync(TimeSpan grace)
    {
        Interlocked.Exchange(ref _stopping, 1);
        Signal(SigTerm);
        using var timeout = new CancellationTokenSource(grace, _time);
        try
        {
            await _process.WaitForExitAsync(timeout.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            // The grace is over.
        }
        // Children that outlive their parent (re-parented to init) are found through the group; kill them as well.
        Signal(SigKill);
        await _process.WaitForExitAsync(CancellationToken.None).ConfigureAwait(false);
    }

    /// <summary>Kills whatever is left of the tree at once (the attempt has ended; stragglers must not linger, spec §14.1).</summary>
    public void KillRemaining() => Signal(SigKill);

    private void Signal(int signal)
    {
        if (OperatingSystem.IsWindows())
        {
            if (signal == SigKill)
                TryKillManaged();
            return;
        }
        // Descendants seen at an earlier signal are kept: once their parent exits they hang off init, not off us.
        int[] targets;
        lock (_seen)
        {
            _seen.UnionWith(Herd.Agent.IO.ProcessGroup.Descendants(_process.Id));
            targets = [.. _seen];
        }
        try
        {
            if (SetsidPath is not null)
                _ = Kill(-_process.Id, signal);
            foreach (var pid in targets)
                _ = Kill(pid, signal);
            if (!HasExited())
                _ = Kill(_process.Id, signal);
        }
        catch (Exception ex) when (ex is DllNotFoundException or EntryPointNotFoundException)
        {
            if (signal == SigKill)
                TryKillManaged();
        }
    }

    private bool HasExited()
    {
        try
        {
            return _process.HasExited;
        }
        catch (InvalidOperationException)
        {
            return true;
        }
    }

    private void TryKillManaged()
    {
        try
        {
            if (!_process.HasExited)
                _process.Kill(entireProcessTree: true);
        }
        catch (InvalidOperationException)
        {
            // exited meanwhile
        }
    }

    private async Task PumpStderrAsync()
    {
        var buffer = new char[4096];
        int n;
        try
        {
            while ((n = await _process.StandardError.ReadAsync(buffer.AsMemory()).ConfigureAwait(false)) > 0)
            {
                lock (_stderrGate)
                {
                    _stderrTail.Append(buffer, 0, n);
                    if (_stderrTail.Length > 8 * 1024)
                        _stderrTail.Remove(0, _stderrTail.Length - 8 * 1024);
                }
            }
        }
        catch (Exception ex) when (ex is IOException or ObjectDisposedException)
        {
            // The pipe broke with the process; what was read is kept.
        }
    }

    public void Dispose()
    {
        if (!HasExited())
            Signal(SigKill);
        _process.Dispose();
    }

    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static partial int Kill(int pid, int signal);
}
