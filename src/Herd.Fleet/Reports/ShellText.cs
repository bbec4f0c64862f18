namespace Herd.Fleet.Reports;

/// <summary>
/// Shell text Herd writes for others to run (a record's <c>Command</c>, the joblog, templates of <c>--engine cmd</c>).
/// One quoting for all of them, so every command line Herd writes reads back through <c>bash -c</c> (or <c>sh -c</c>)
/// as exactly the argv it stands for, whatever the value holds: quotes, <c>$( )</c>, backticks, newlines.
/// </summary>
public static class ShellText
{
    /// <summary>
    /// A value as one shell word: bare when it holds only characters no shell interprets, otherwise POSIX single quotes
    /// with each <c>'</c> written as <c>'\''</c> (GNU parallel's own quoting). The empty string is <c>''</c>.
    /// </summary>
    public static string Quote(string value) =>
        value.Length > 0 && value.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.' or '/' or ':' or '=' or ',' or '@' or '+' or '%')
            ? value
            : "'" + value.Replace("'", "'\\''", StringComparison.Ordinal) + "'";

    /// <summary>A command line of <paramref name="argv"/>, each word quoted.</summary>
    public static string Join(IEnumerable<string> argv) => string.Join(' ', argv.Select(Quote));
}
