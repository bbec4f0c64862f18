using Herd.Agent;
using Herd.Cli.Print;
using Herd.Cli.Telemetry;

namespace Herd.Cli;

public static class Program
{
    /// <summary>A Herd subcommand is recognised only as the first argument (spec §1: <c>herd -p run</c> has the prompt "run").</summary>
    /// <remarks>Each command runs behind <see cref="ErrorEdge"/>: a failure is one line on stderr with the command's documented exit code.</remarks>
    public static async Task<int> Main(string[] args)
    {
        // Before anything holds a secret: no process Herd starts (or any other of the same user) may read Herd's memory
        // or environment through /proc/<pid>/mem, /proc/<pid>/environ or ptrace, with or without the sandbox.
        Herd.Agent.IO.ProcessEnvironment.MakeUndumpable();
        var command = args.Length > 0 && args[0] is "sessions" or "runs" ? args[0] : args.FirstOrDefault() == "run" ? "run" : "-p";
        OtlpExport? telemetry = null;
        if (command is "run" or "-p")
        {
            try
            {
                // OpenTelemetry export (docs/observability.md): only when an OTLP endpoint is set; flushed on the way out,
                // after SIGINT/SIGTERM too (both end the run through cancellation, so Main always returns here).
                telemetry = OtlpExport.StartFromEnvironment();
            }
            catch (HerdUsageException ex)
            {
                Console.Error.WriteLine(ex.Message);
                return ExitCodes.For(command == "run" ? HerdCommand.Run : HerdCommand.Print).Usage;
            }
        }
        using (telemetry)
            return await DispatchAsync(args).ConfigureAwait(false);
    }

    private static async Task<int> DispatchAsync(string[] args)
    {
        if (args.Length > 0)
        {
            switch (args[0])
            {
                case "sessions":
                    return ErrorEdge.Run(HerdCommand.Sessions, Console.Error, () => SessionsCommand.Run(args[1..]));
                case "run":
                    return await Run.RunCommand.RunAsync(args[1..]).ConfigureAwait(false);
                case "merge":
                    return Run.MergeCommand.Run(args[1..], Console.Out, Console.Error);
                case "apply":
                    return Run.ApplyCommand.Run(args[1..], Console.Out, Console.Error, Directory.GetCurrentDirectory());
                case "ci":
                    return Ci.CiCommand.Run(args[1..], Console.Out, Console.Error, Directory.GetCurrentDirectory());
                case "report":
                    return ReportCommand.Run(args[1..], Console.Out, Console.Error, Directory.GetCurrentDirectory());
                case "gate":
                    return GateCommand.Run(args[1..], Console.Out, Console.Error, Directory.GetCurrentDirectory());
                case "worker":
                    return await Run.WorkerCommand.RunAsync(args[1..]).ConfigureAwait(false);
                case "runs":
                    return Run.RunsCommand.Run(args[1..], Console.Out, Console.Error, Directory.GetCurrentDirectory());
            }
        }
        // Claude Code's print mode exits 1 for every error; so does herd -p (ExitCodes).
        return await ErrorEdge.RunAsync(HerdCommand.Print, Console.Error, () =>
        {
            RefuseUnknownCommand(args);
            return PrintCommand.RunAsync(args);
        }).ConfigureAwait(false);
    }

    /// <summary>The first words of every command, for the nearest-command hint.</summary>
    private static readonly string[] Commands = ["run", "runs", "merge", "report", "gate", "ci", "worker", "sessions"];

    /// <summary>
    /// <c>herd runz list</c> is a mistyped command, not a prompt: without -p, a first word that is not quoted with others
    /// and is followed by more words, or that is one typo away from a longer command, gets the nearest command instead of
    /// print mode's "too many arguments". A prompt after -p is never second-guessed.
    /// </summary>
    private static void RefuseUnknownCommand(string[] args)
    {
        if (args.Length == 0 || args[0].StartsWith('-') || args[0].Any(char.IsWhiteSpace) || args.Contains("-p") || args.Contains("--print"))
            return;
        var nearest = Commands.Select(c => (Command: c, Distance: EditDistance(args[0], c)))
            .MinBy(c => (c.Distance, Math.Abs(c.Command.Length - args[0].Length)));
        var near = nearest.Distance <= Math.Min(2, nearest.Command.Length - 1);
        // One word alone may be a prompt ("hi"); only a near miss of a longer command is taken for a command.
        if (args.Count(a => !a.StartsWith('-')) < 2 && !(near && nearest.Distance == 1 && args[0].Length >= 4))
            return;
        var hint = near ? $" Did you mean `herd {nearest.Command}`?" : "";
        throw new HerdUsageException(
            $"Error: unknown command '{args[0]}'.{hint} `herd --help` lists the commands; a prompt goes in quotes after -p: herd -p \"{string.Join(' ', args)}\"");
    }

    private static int EditDistance(string a, string b)
    {
        var previous = Enumerable.Range(0, b.Length + 1).ToArray();
        for (var i = 1; i <= a.Length; i++)
        {
            var current = new int[b.Length + 1];
            current[0] = i;
            for (var j = 1; j <= b.Length; j++)
                current[j] = Math.Min(Math.Min(current[j - 1] + 1, previous[j] + 1), previous[j - 1] + (char.ToLowerInvariant(a[i - 1]) == b[j - 1] ? 0 : 1));
            previous = current;
        }
        return previous[b.Length];
    }
}
