namespace Herd.Agent;

/// <summary>
/// Bad input from the user (a flag, a file, a schema). The message is printed to stderr as is, so it names the
/// thing that is wrong and what to do instead; the process exits 1 and leaves no state behind.
/// </summary>
public sealed class HerdUsageException(string message) : Exception(message);
