using System.Globalization;
using Herd.Agent.Models;

namespace Herd.Cli;

/// <summary>
/// How the CLI prints the model endpoint's reachability on stderr: every retry for one conversation (<c>herd -p</c>),
/// only the changes of state for a fleet (<c>herd run</c>, <c>herd worker</c>), where 64 tasks retrying at once would
/// print a line each per retry and bury everything else.
/// </summary>
public static class EndpointNotices
{
    /// <summary><c>herd: API unreachable at http://127.0.0.1:9: connection refused; retry 3/10 in 4 s</c>, and the give-up line.</summary>
    public static Action<EndpointNotice> EveryRetry(TextWriter err, string baseUrlVariable) => notice =>
    {
        var line = notice.Kind switch
        {
            EndpointNoticeKind.Retrying => string.Create(CultureInfo.InvariantCulture,
                $"herd: API unreachable at {notice.Endpoint}: {notice.Cause}; retry {notice.Attempts}/{notice.MaxRetries} in {Seconds(notice.Delay)}"),
            EndpointNoticeKind.GivingUp => GivingUp(notice, baseUrlVariable),
            _ => null,
        };
        Write(err, line);
    };

    /// <summary>One line when the endpoint becomes unreachable, one when it answers again, one when Herd gives up on it.</summary>
    public static Action<EndpointNotice> StateChanges(TextWriter err, string baseUrlVariable) => notice =>
    {
        var line = notice.Kind switch
        {
            EndpointNoticeKind.Unreachable => $"herd: API unreachable at {notice.Endpoint}: {notice.Cause}; calls are retried with backoff",
            EndpointNoticeKind.Reachable => $"herd: API reachable again at {notice.Endpoint}",
            EndpointNoticeKind.GivingUp => GivingUp(notice, baseUrlVariable),
            _ => null,
        };
        Write(err, line);
    };

    private static string GivingUp(EndpointNotice notice, string baseUrlVariable) => string.Create(CultureInfo.InvariantCulture,
        $"herd: API unreachable at {notice.Endpoint}: the first {notice.Attempts} connections were all refused, so nothing is listening there; giving up without more retries. Check {baseUrlVariable}.");

    private static string Seconds(TimeSpan delay) => delay.TotalSeconds.ToString(delay.TotalSeconds < 10 ? "0.#" : "0", CultureInfo.InvariantCulture) + " s";

    private static void Write(TextWriter err, string? line)
    {
        if (line is null)
            return;
        // Notices come from concurrent calls; one line at a time.
        lock (err)
            err.WriteLine(line);
    }
}
