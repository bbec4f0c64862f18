using System.Diagnostics;
using System.Text;
using Herd.Agent.IO;
using Herd.Agent.Sandbox;
using Herd.Agent.Tools;

namespace Herd.Agent.Hooks;

/// <summary>How one hook command ended.</summary>
/// <param name="ExitCode">The command's exit code; 1 when it was killed (as Claude Code reports a cancelled hook).</param>
/// <param name="TimedOut">Killed, with its whole process tree, after its timeout.</param>
public sealed record HookRun(int ExitCode, string Stdout, string Stderr, bool TimedOut);

/// <summary>
/// Runs one hook command as Claude Code does — <c>bash -c</c> in the working directory, the event's JSON on stdin — in
/// its own session and process group, so a hook that hangs is killed with everything it started. When the context
/// confines Bash, the hook runs inside the same bubblewrap sandbox (<c>herd run</c>'s default): a policy script is
/// still a command from a settings file that the agent's own writes could have changed.
/// </summary>
public static class HookProcess
{
    /// <summary>Variables a hook must not see: the API key, and the marker that says "inside Claude Code".</summary>
    private static readonly string[] StrippedVariables = ["ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "CLAUDECODE"];

    /// <exception cref="OperationCanceledException">The run was cancelled; the hook's tree has been killed.</exception>
    public static async Task<HookRun> RunAsync(HookCommand hook, string stdinJson, ToolContext context, IReadOnlyDictionary<string, string> environment, CancellationToken cancellationToken)
    {
        var psi = new ProcessStartInfo
        {
            WorkingDirectory = context.WorkingDirectory,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            StandardOutputEncoding = Encoding.UTF8,
            StandardErrorEncoding = Encoding.UTF8,
        };
        var sandboxed = context.Sandbox is not null;
        IReadOnlyList<string> command;
        if (sandboxed)
        {
            // A confining run never runs a hook unconfined: without the sandbox the hook fails (and says why).
            if (Bubblewrap.Problem is { } problem)
                return new HookRun(1, "", Bubblewrap.UnavailableMessage(problem)[7..] + "\n", false);
            try
            {
                command = [Bubblewrap.ExecutablePath!, .. Bubblewrap.Arguments(hook.Command, context)];
            }
            catch (SandboxUnavailableException ex)
            {
                return new HookRun(1, "", "The sandbox could not be prepared: " + ex.Message + "\n", false);
            }
        }
        else
            command = ["bash", "-c", hook.Command];
        var (file, arguments) = ProcessGroup.Command(command, sandboxed);
        psi.FileName = file;
        foreach (var a in arguments)
            psi.ArgumentList.Add(a);
        foreach (var name in StrippedVariables)
            psi.Environment.Remove(name);
        foreach (var (name, value) in environment)
            psi.Environment[name] = value;
        psi.Environment["CLAUDE_PROJECT_DIR"] = context.WorkingDirectory;

        using var process = new Process { StartInfo = psi };
        process.Start();
        var stdout = process.StandardOutput.ReadToEndAsync(CancellationToken.None);
        var stderr = process.StandardError.ReadToEndAsync(CancellationToken.None);
        try
        {
            await process.StandardInput.WriteAsync(stdinJson.AsMemory(), cancellationToken).ConfigureAwait(false);
            process.StandardInput.Close();
        }
        catch (IOException)
        {
            // The hook exited without reading its input; what it printed still counts.
        }

        using var timeout = new CancellationTokenSource(hook.Timeout);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, timeout.Token);
        var timedOut = false;
        try
        {
            await process.WaitForExitAsync(linked.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            timedOut = true;
        }
        // Always: a hook's background children (`cmd &`) would otherwise outlive it and hold its pipes open.
        ProcessGroup.KillTree(process, sandboxed);
        string outText = "", errText = "";
        try
        {
            await Task.WhenAll(stdout, stderr).WaitAsync(TimeSpan.FromSeconds(5), CancellationToken.None).ConfigureAwait(false);
            (outText, errText) = (stdout.Result, stderr.Result);
        }
        catch (TimeoutException)
        {
            // A grandchild that left the process group still holds a pipe; report the hook without its output.
        }
        cancellationToken.ThrowIfCancellationRequested();
        if (timedOut)
            return new HookRun(1, outText, errText, true);
        process.WaitForExit(1000);
        return new HookRun(process.HasExited ? process.ExitCode : 1, outText, errText, false);
    }
}
