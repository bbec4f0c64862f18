using Herd.Cli.Print;

namespace Herd.Cli;

public static class Program
{
    /// <summary>A Herd subcommand is recognised only as the first argument (spec §1: <c>herd -p run</c> has the prompt "run").</summary>
    public static async Task<int> Main(string[] args)
    {
        if (args.Length > 0)
        {
            switch (args[0])
            {
                case "sessions":
                    return SessionsCommand.Run(args[1..]);
                case "run":
                    return await Run.RunCommand.RunAsync(args[1..]).ConfigureAwait(false);
                case "report":
                    return ReportCommand.Run(args[1..], Console.Out, Console.Error, Directory.GetCurrentDirectory());
                case "gate":
                    return GateCommand.Run(args[1..], Console.Out, Console.Error, Directory.GetCurrentDirectory());
                case "runs":
                    return Run.RunsCommand.Run(args[1..], Console.Out, Console.Error, Directory.GetCurrentDirectory());
            }
        }
        return await PrintCommand.RunAsync(args).ConfigureAwait(false);
    }
}
