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
                return command == "run" ? 255 : 1;
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
                    return ErrorEdge.Run("herd sessions", Console.Error, 1, 1, () => SessionsCommand.Run(args[1..]));
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
        // Claude Code's print mode exits 1 for every error; so does herd -p.
        return await ErrorEdge.RunAsync("herd", Console.Error, 1, 1, () => PrintCommand.RunAsync(args)).ConfigureAwait(false);
    }
}
