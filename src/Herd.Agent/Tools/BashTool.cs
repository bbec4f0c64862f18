using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Herd.Agent.IO;
using Herd.Agent.Sandbox;

namespace Herd.Agent.Tools;

/// <summary>
/// Runs <c>bash -c</c> in the working directory (spec §10.3). Each command gets its own session and process group
/// (via <c>setsid</c>), and the whole group is killed on timeout, cancellation, and when bash exits, so a command cannot
/// leave children running behind the agent. When the context asks for a sandbox, bash runs inside bubblewrap (issue #9).
/// Output over 30000 characters is saved to a file and the model gets a 2 KB preview and the path, as Claude Code does.
/// </summary>
public sealed class BashTool : ITool
{
    public const int DefaultTimeoutMs = 120_000;
    public const int MaxTimeoutMs = 600_000;
    public const int MaxOutputChars = 30_000;

    /// <summary>Environment variables a child must not see: our API keys, and the marker that says "inside Claude Code".</summary>
    private static readonly string[] StrippedVariables = ["ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "OPENAI_API_KEY", "CLAUDECODE"];


    public string Name => "Bash";

    public string Description =>
        "Executes a bash command in the working directory and returns its output. timeout is in milliseconds " +
        "(default 120000, max 600000). Output over 30000 characters is saved to a file; you get a preview and its path. Each call starts in the " +
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
        if (ToolContext.HasNul(command))
            return ToolResult.Error("The command contains a NUL byte, which bash cannot receive.");
        var timeoutMs = ToolInput.Number(input, "timeout") is { } t && t > 0 ? (int)Math.Min(t, MaxTimeoutMs) : DefaultTimeoutMs;

        // A confining run never falls back to an unconfined command (issue #9): no sandbox, no command.
        IReadOnlyList<string>? sandboxArgs = null;
        IReadOnlyList<string> mountPoints = [];
        if (context.Sandbox is not null)
        {
            if (Bubblewrap.Problem is { } problem)
                return ToolResult.Error(Bubblewrap.UnavailableMessage(problem)[7..]);
            mountPoints = MountPointLeases.Acquire(context);
            try
            {
                sandboxArgs = Bubblewrap.Arguments(command, context);
            }
            catch (SandboxUnavailableException ex)
            {
                MountPointLeases.Release(mountPoints);
                return ToolResult.Error("The sandbox could not be prepared: " + ex.Message);
            }
        }

        var (file, arguments) = ProcessGroup.Command(sandboxArgs is null ? ["bash", "-c", command] : [Bubblewrap.ExecutablePath!, .. sandboxArgs], sandboxed: sandboxArgs is not null);
        var psi = new ProcessStartInfo
        {
            FileName = file,
            WorkingDirectory = context.WorkingDirectory,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            StandardOutputEncoding = Encoding.UTF8,
            StandardErrorEncoding = Encoding.UTF8,
        };
        foreach (var a in arguments)
            psi.ArgumentList.Add(a);
        foreach (var name in StrippedVariables)
            psi.Environment.Remove(name);
        if (context.ReadOnlyGitCommands.ContainsKey(command))
            SafeGitEnvironment.Apply(psi.Environment);

        using var process = new Process { StartInfo = psi };
        process.Start();
        process.StandardInput.Close();
        using var stdout = new OutputCapture(context, "stdout");
        using var stderr = new OutputCapture(context, "stderr");
        var stdoutDone = PumpAsync(process.StandardOutput, stdout);
        var stderrDone = PumpAsync(process.StandardError, stderr);

        using var timeout = new CancellationTokenSource(TimeSpan.FromMilliseconds(timeoutMs), context.Time);
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
        ProcessGroup.KillTree(process, sandboxed: sandboxArgs is not null);
        MountPointLeases.Release(mountPoints);
        try
        {
            await Task.WhenAll(stdoutDone, stderrDone).WaitAsync(TimeSpan.FromSeconds(5), context.Time, CancellationToken.None).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            // A grandchild that left our process group still holds a pipe; report what we have.
        }
        if (interrupted && cancellationToken.IsCancellationRequested)
            throw new OperationCanceledException(cancellationToken);
        if (interrupted)
            process.WaitForExit(1000);

        int? exitCode = process.HasExited ? process.ExitCode : null;
        var outText = stdout.Head.TrimEnd('\n');
        var errText = stderr.Head.TrimEnd('\n');
        string? persistedPath = null;
        long persistedSize = 0;
        string body;
        if (stdout.Length + stderr.Length + 1 > MaxOutputChars)
        {
            // Claude Code's behaviour: the whole output goes to a file and the model gets a 2 KB preview and the path,
            // instead of ~30 KB of tokens on every long command.
            (persistedPath, persistedSize, var preview) = OutputCapture.Persist(context, stdout, stderr);
            body = "<persisted-output>\n" +
                   $"Output too large ({FormatSize(persistedSize)}). Full output saved to: {persistedPath}\n\n" +
                   $"Preview (first 2KB):\n{preview}\n...\n</persisted-output>";
        }
        else
            body = errText.Length == 0 ? outText : outText.Length == 0 ? errText : outText + "\n" + errText;

        string content;
        var isError = false;
        if (interrupted)
        {
            content = $"Command timed out after {FormatDuration(timeoutMs)}" + (body.Length > 0 ? "\n" + body : "");
            isError = true;
        }
        else if (exitCode is not 0)
        {
            content = $"Exit code {exitCode}" + (body.Length > 0 ? "\n" + body : "");
            isError = true;
        }
        else
            content = body.Length > 0 ? body : "Tool ran without output";

        var structured = new JsonObject
        {
            ["stdout"] = outText,
            ["stderr"] = errText,
            ["interrupted"] = interrupted,
            ["isImage"] = false,
        };
        if (persistedPath is not null)
        {
            structured["persistedOutputPath"] = persistedPath;
            structured["persistedOutputSize"] = persistedSize;
        }
        return new ToolResult(content, isError, structured) { ExitCode = exitCode };
    }

    /// <summary>Claude Code's size text: <c>106.3KB</c>, <c>2MB</c>.</summary>
    internal static string FormatSize(long bytes)
    {
        // One decimal with a trailing ".0" dropped, as JavaScript's toFixed(1).replace(/\.0$/, "") gives.
        static string One(double v) => Math.Round(v, 1, MidpointRounding.AwayFromZero).ToString("0.#", CultureInfo.InvariantCulture);
        if (bytes < 1024)
            return $"{bytes} bytes";
        if (bytes < 1024 * 1024)
            return One(bytes / 1024.0) + "KB";
        return One(bytes / (1024.0 * 1024)) + "MB";
    }

    /// <summary>Claude Code's duration text: <c>2m 0.0s</c>, <c>1.5s</c>.</summary>
    internal static string FormatDuration(int ms)
    {
        var minutes = ms / 60_000;
        var seconds = (ms % 60_000) / 1000.0;
        var s = seconds.ToString("0.0", CultureInfo.InvariantCulture) + "s";
        return minutes > 0 ? $"{minutes}m {s}" : s;
    }

    private static async Task PumpAsync(StreamReader reader, OutputCapture buffer)
    {
        var chunk = new char[8192];
        int n;
        while ((n = await reader.ReadAsync(chunk.AsMemory(), CancellationToken.None).ConfigureAwait(false)) > 0)
            buffer.Append(chunk.AsSpan(0, n));
    }
}
