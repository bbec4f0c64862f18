namespace Herd.Agent;

/// <summary>
/// The one exception root of Herd. Its message is a finished sentence for stderr: it names the flag, file or run and
/// says what to do next. The CLI prints it at one edge (no stack trace) and picks the exit code from
/// <see cref="IsFatal"/>; nothing below the CLI formats or prints errors.
/// </summary>
public abstract class HerdException(string message, Exception? inner = null) : Exception(message, inner)
{
    /// <summary>
    /// False for a command line or input the user can fix and run again (usage); true when the command was right but
    /// could not be carried out: damaged or locked state, an unwritable or full disk, an unreachable service.
    /// </summary>
    public abstract bool IsFatal { get; }
}

/// <summary>Bad input from the user (a flag, a file, a schema): nothing was written, fix it and run again.</summary>
public sealed class HerdUsageException(string message) : HerdException(message)
{
    public override bool IsFatal => false;
}

/// <summary>
/// The command was valid but its state or environment was not: a damaged run database, a run held by another process,
/// a disk that is full or read-only. Whatever had been committed before stays as it was.
/// </summary>
public sealed class HerdFatalException(string message, Exception? inner = null) : HerdException(message, inner)
{
    public override bool IsFatal => true;
}
