using System.Collections;
using System.Diagnostics;
using System.Text;
using Herd.Fleet.Engines;

namespace Herd.Fleet.Isolation;

/// <summary>One run of the verify command.</summary>
public sealed record VerifyRun(int ExitCode, string OutputTail, TimeSpan Duration)
{
    public bool Passed => ExitCode == 0;
}

/// <summary>
/// Runs <c>--verify</c> in a task's tree: <c>bash -c CMD</c> in a process group of its own (stopped with the whole tree
/// at its timeout or when the run is cancelled), stdout and stderr together, the last <see cref="TailChars"/>
/// characters kept. It sees this process's environment minus the model credentials: a project's tests need PATH, HOME
/// and their own settings, never the agent's API key.
/// </summary>
public static class Verifier
{
    /// <summary>What goes back to the session and into the record: enough for a compiler error or a failing assertion.</summary>
    public const int TailChars = 4000;

    private static readonly string[] Withheld = ["ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "CLAUDE_CODE_OAUTH_TOKEN", "OPENAI_API_KEY", "CODEX_API_KEY", "GEMINI_API_KEY", "GOOGLE_API_KEY", "HERD_STORE"];

    private static readonly string Shell = new[] { "/bin/bash", "/usr/bin/bash", "/bin/sh" }.FirstOrDefault(File.Exists) ?? "sh";

    public static async Task<VerifyRun> RunAsync(string command, string directory, TimeSpan timeout, TimeProvider time, CancellationToken cancellationToken)
    {
        var started = time.GetTimestamp();
        var tail = new StringBuilder();
        void Keep(string line)
        {
            lock (tail)
            {
                tail.Append(line).Append('\n');
                if (tail.Length > TailChars * 2)
                    tail.Remove(0, tail.Length - TailChars);
            }
        }
        ProcessTree tree;
        try
        {
            // stderr joins stdout inside the shell, so the tail keeps the order a person would see.
            tree = ProcessTree.Start(Shell, ["-c", "exec 2>&1\n" + command], Environment(), directory, null);
        }
        catch (Exception ex) when (ex is System.ComponentModel.Win32Exception or IOException or InvalidOperationException)
        {
            return new VerifyRun(127, $"the verify command could not be started: {ex.Message}", time.GetElapsedTime(started));
        }
        using (tree)
        {
            using var limit = new CancellationTokenSource(timeout, time);
            using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, limit.Token);
            await using var registration = stop.Token.Register(() => _ = tree.StopAsync(TimeSpan.FromSeconds(5)));
            await tree.ReadLinesAsync(Keep).ConfigureAwait(false);
            var exit = await tree.WaitForExitAsync().ConfigureAwait(false);
            tree.KillRemaining();
            if (limit.IsCancellationRequested)
            {
                Keep($"[herd: the verify command was stopped after {timeout.TotalSeconds:0}s]");
                exit = -1;
            }
            string text;
            lock (tail)
                text = tail.ToString();
            return new VerifyRun(exit, Tail(text), time.GetElapsedTime(started));
        }
    }

    /// <summary>The end of the output, cut at a line start when one is near.</summary>
    public static string Tail(string output)
    {
        output = output.TrimEnd();
        if (output.Length <= TailChars)
            return output;
        var cut = output.Length - TailChars;
        var newline = output.IndexOf('\n', cut);
        if (newline >= 0 && newline - cut < 200)
            cut = newline + 1;
        return "…" + output[cut..];
    }

    private static Dictionary<string, string> Environment()
    {
        var env = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (DictionaryEntry e in System.Environment.GetEnvironmentVariables())
        {
            if (e.Key is string k && e.Value is string v && !Withheld.Contains(k))
                env[k] = v;
        }
        return env;
    }
}
