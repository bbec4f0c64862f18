using Herd.Cli.Print;

namespace Herd.Cli;

public static class Program
{
    /// <summary>A Herd subcommand is recognised only as the first argument (spec §1: <c>herd -p run</c> has the prompt "run").</summary>
    /// <remarks>Each command runs behind <see cref="ErrorEdge"/>: a failure is one line on stderr with the command's documented exit code.</remarks>
    public static async Task<int> Main(string[] args)
    {
        if (args.Length > 0)
        {
            switch (args[0])
            {
                case "sessions":
                    return ErrorEdge.Run("herd sessions", Console.Error, 1, 1, () => SessionsCommand.Run(args[1..]));
                case "run":
                    return await Run.RunCommand.RunAsync(args[1..]).ConfigureAwait(false);
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
