using System.Text;
using System.Text.Json;
using Herd.Fleet.Scheduling;
using Herd.Fleet.Store;

namespace Herd.Fleet.Runs;

/// <summary>
/// The scheduler's state that the store's tables do not hold, as the JSON of the <c>live</c> row (issue #12): the
/// concurrency limit, the pause, the budget and projection, the ETA, and each running attempt's turns and spend.
/// Written by the run every second; read by <c>herd runs watch</c> in another process.
/// </summary>
public static class LiveSnapshot
{
    public static string Write(FleetStatus s)
    {
        using var buffer = new MemoryStream();
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            w.WriteNumber("limit", s.Limit);
            w.WriteNumber("max_limit", s.MaxLimit);
            w.WriteBoolean("adaptive", s.Adaptive);
            if (s.PausedUntil is { } p)
                w.WriteString("paused_until", StoreNames.Iso(p));
            if (s.CeilingUsd is { } c)
                w.WriteNumber("budget_usd", c);
            w.WriteNumber("reserved_usd", Math.Round(s.ReservedUsd, 9));
            if (s.ProjectedUsd is { } proj)
                w.WriteNumber("projected_usd", Math.Round(proj, 6));
            if (s.Eta is { } eta)
                w.WriteNumber("eta_s", Math.Round(eta.TotalSeconds, 1));
            w.WriteNumber("queued", s.Queued);
            w.WriteNumber("retrying", s.Retrying);
            w.WriteStartArray("running");
            foreach (var r in s.RunningTasks)
            {
                w.WriteStartObject();
                w.WriteString("key", r.Key);
                w.WriteNumber("attempt", r.Attempt);
                w.WriteNumber("turns", r.Turns);
                w.WriteNumber("spent_usd", Math.Round(r.SpentUsd, 9));
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteEndObject();
        }
        return Encoding.UTF8.GetString(buffer.ToArray());
    }
}
