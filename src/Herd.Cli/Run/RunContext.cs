using Herd.Agent.Models;

namespace Herd.Cli.Run;

/// <summary>
/// Where <c>herd run</c> reads and writes. The real console by default; tests pass their own streams, directory and
/// client settings so a command runs in-process without touching process-wide state.
/// </summary>
public sealed record RunContext(TextReader Stdin, bool StdinRedirected, TextWriter Out, TextWriter Err, bool ErrIsTerminal, string Cwd)
{
    /// <value>Client settings; null = from the environment (ANTHROPIC_API_KEY, ANTHROPIC_BASE_URL, HERD_*).</value>
    public ModelClientOptions? Client { get; init; }

    public TimeProvider Time { get; init; } = TimeProvider.System;

    /// <value>The environment external engines start from (tests: a loopback server's URLs); null = this process's (issue #13).</value>
    public IReadOnlyDictionary<string, string>? EngineEnvironment { get; init; }

    /// <value>Cancels the run as SIGINT would (tests); the real command also listens for signals.</value>
    public CancellationToken Cancel { get; init; }

    /// <value>Reads an environment variable (<c>--shard auto</c>); tests pass their own so CI variables stay per test.</value>
    public Func<string, string?> Environment { get; init; } = System.Environment.GetEnvironmentVariable;

    public static RunContext FromConsole() => new(Console.In, Console.IsInputRedirected, Console.Out, Console.Error,
        !Console.IsErrorRedirected, Directory.GetCurrentDirectory());
}
