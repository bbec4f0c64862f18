using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Herd.Agent.Tools;

/// <summary>
/// Runs <c>bash -c</c> in the working directory (spec §10.3). Each command gets its own session and process group
/// (via <c>setsid</c>), and the whole group is killed on timeout, cancellation, and when bash exits, so a command cannot
/// leave children running behind the agent. Output over 30000 characters keeps its head and tail.
/// </summary>
public sealed partial class BashTool : ITool
{
    public const int DefaultTimeoutMs = 120_000;
    public const int MaxTimeoutMs = 600_000;
    public const int MaxOutputChars = 30_000;

    /// <summary>Environment variables a child must not see: our API key, and the marker that says "inside Claude Code".</summary>
    private static readonly string[] StrippedVariables = ["ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "CLAUDECODE"];

    private static readonly string? SetsidPath = new[] { "/usr/bin/setsid", "/bin/setsid" }.FirstOrDefault(File.Exists);

    public string Name => "Bash";

    public string Description =>
        "Executes a bash command in the working directory and returns its output. timeout is in milliseconds " +
        "(default 120000, max 600000). Output over 30000 characters is truncated in the middle. Each call starts in the " +
        "working directory; shell state (cd, variables) does not carry over between calls.";

    public bool IsReadOnly => false;

    public JsonObject InputSchema() => ToolInput.Schema(new JsonObject
    {
        ["command"] = ToolInput.Prop("string", "The command to execute"),
        ["timeout"] = ToolInput.Prop("number", "Optional timeout in milliseconds (max 600000)"),
        ["description"] = ToolInput.Prop("string", "Clear, concise description of what this command does in 5-10 words"),
        ["run_in_background"] = ToolInput.Prop("boolean", "Accepted for compatibility; Herd runs every command in the foreground"),
    }, "command");

    public async Task<ToolResult> InvokeAsync(JsonElement input, ToolContext context, CancellationToken cancellationToken = default)
    {
        if (ToolInput.String(input, "command") is not { } command || string.IsNullOrWhiteSpace(command))
            return ToolInput.Missing(Name, "command");
        var timeoutMs = ToolInput.Number(input, "timeout") is { } t && t > 0 ? (int)Math.Min(t, MaxTimeoutMs) : DefaultTimeoutMs;

        var psi = new ProcessStartInfo
        {
            FileName = SetsidPath ?? "bash",
            WorkingDirectory = context.WorkingDirectory,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            StandardOutputEncoding = Encoding.UTF8,
            StandardErrorEncoding = Encoding.UTF8,
        };
        if (SetsidPath is not null)
            psi.ArgumentList.Add("bash");
        psi.ArgumentList.Add("-c");
        psi.ArgumentList.Add(command);
        foreach (var name in StrippedVariables)
            psi.Environment.Remove(name);

        using var process = new Process { StartInfo = psi };
        process.Start();
        process.StandardInput.Close();
        var stdout = new HeadTailBuffer(MaxOutputChars);
        var stderr = new HeadTailBuffer(MaxOutputChars);
        var stdoutDone = PumpAsync(process.StandardOutput, stdout);
        var stderrDone = PumpAsync(process.StandardError, stderr);

        using var timeout = new CancellationTokenSource(timeoutMs);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, timeout.Token);
        var interrupted = false;
        try
        {
            await process.WaitForExitAsync(linked.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            interrupted = true;
        }
        // Kill the group even after a normal exit: background children (`cmd &`) would otherwise outlive the call
        // and hold the output pipes open.
        KillTree(process);
        try
        {
            await Task.WhenAll(stdoutDone, stderrDone).WaitAsync(TimeSpan.FromSeconds(5), CancellationToken.None).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            // A grandchild that left our process group still holds a pipe; report what we have.
        }
        if (interrupted && cancellationToken.IsCancellationRequested)
            throw new OperationCanceledException(cancellationToken);
        if (interrupted)
            process.WaitForExit(1000);

        var outText = stdout.ToString().TrimEnd('\n');
        var errText = stderr.ToString().TrimEnd('\n');
        var combined = errText.Length == 0 ? outText : outText.Length == 0 ? errText : outText + "\n" + errText;
        int? exitCode = process.HasExited ? process.ExitCode : null;
        string content;
        var isError = false;
        if (interrupted)
        {
            content = $"Command timed out after {FormatDuration(timeoutMs)}" + (combined.Length > 0 ? "\n" + combined : "");
            isError = true;
        }
        else if (exitCode is not 0)
        {
            content = $"Exit code {exitCode}" + (combined.Length > 0 ? "\n" + combined : "");
            isError = true;
        }
        else
            content = combined.Length > 0 ? combined : "Tool ran without output";

        var structured = new JsonObject
        {
            ["stdout"] = outText,
            ["stderr"] = errText,
            ["interrupted"] = interrupted,
            ["isImage"] = false,
        };
        return new ToolResult(content, isError, structured) { ExitCode = exitCode };
    }

    /// <summary>Claude Code's duration text: <c>2m 0.0s</c>, <c>1.5s</c>.</summary>
    internal static string FormatDuration(int ms)
    {
        var minutes = ms / 60_000;
        var seconds = (ms % 60_000) / 1000.0;
        var s = seconds.ToString("0.0", CultureInfo.InvariantCulture) + "s";
        return minutes > 0 ? $"{minutes}m {s}" : s;
    }

    private static async Task PumpAsync(StreamReader reader, HeadTailBuffer buffer)
    {
        var chunk = new char[8192];
        int n;
        while ((n = await reader.ReadAsync(chunk.AsMemory(), CancellationToken.None).ConfigureAwait(false)) > 0)
            buffer.Append(chunk.AsSpan(0, n));
    }

    private static void KillTree(Process process)
    {
        // With setsid the bash process leads its own group: signal the group, which reaches background children too.
        if (SetsidPath is not null && !OperatingSystem.IsWindows())
        {
            try
            {
                _ = Kill(-process.Id, 9);
            }
            catch (Exception ex) when (ex is DllNotFoundException or EntryPointNotFoundException)
            {
                // fall through to the managed kill
            }
        }
        try
        {
            if (!process.HasExited)
                process.Kill(entireProcessTree: true);
        }
        catch (InvalidOperationException)
        {
            // exited meanwhile
        }
    }

    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static partial int Kill(int pid, int signal);
}

/// <summary>Keeps the first and last <c>max/2</c> characters of a stream, so a huge output costs bounded memory.</summary>
internal sealed class HeadTailBuffer(int max)
{
    private readonly StringBuilder _head = new();
    private readonly char[] _tail = new char[max / 2];
    private long _total;
    private int _tailStart;
    private int _tailCount;

    public void Append(ReadOnlySpan<char> text)
    {
        foreach (var c in text)
        {
            _total++;
            if (_head.Length < max / 2)
            {
                _head.Append(c);
                continue;
            }
            var at = (_tailStart + _tailCount) % _tail.Length;
            _tail[at] = c;
            if (_tailCount < _tail.Length)
                _tailCount++;
            else
                _tailStart = (_tailStart + 1) % _tail.Length;
        }
    }

    public override string ToString()
    {
        var tail = new StringBuilder(_tailCount);
        for (var i = 0; i < _tailCount; i++)
            tail.Append(_tail[(_tailStart + i) % _tail.Length]);
        var dropped = _total - _head.Length - _tailCount;
        if (dropped <= 0)
            return _head.ToString() + tail;
        return $"{_head}\n\n... [{dropped} characters truncated] ...\n\n{tail}";
    }
}
