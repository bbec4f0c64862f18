using Herd.Agent;
using Npgsql;

namespace Herd.Fleet.Store.Postgres;

/// <summary>
/// A <c>--store</c> / <c>HERD_STORE</c> value: <c>postgres://user:password@host:port/database?sslmode=…</c> (also
/// <c>postgresql://</c>) or an Npgsql key=value connection string. Parsed once into an Npgsql connection string and a
/// redacted form for messages — the password never appears in any output.
/// </summary>
public sealed record PgLocation(string ConnectionString, string Redacted)
{
    /// <summary>Whether <paramref name="store"/> names a PostgreSQL store (rather than the SQLite default).</summary>
    public static bool IsPostgres(string? store) =>
        store is not null && (store.StartsWith("postgres://", StringComparison.OrdinalIgnoreCase)
            || store.StartsWith("postgresql://", StringComparison.OrdinalIgnoreCase)
            || store.Contains("Host=", StringComparison.OrdinalIgnoreCase));

    /// <exception cref="HerdUsageException">Not a URL or connection string that can be read.</exception>
    public static PgLocation Parse(string store)
    {
        NpgsqlConnectionStringBuilder b;
        try
        {
            b = store.Contains("://", StringComparison.Ordinal) ? FromUrl(store) : new NpgsqlConnectionStringBuilder(store);
        }
        catch (Exception ex) when (ex is ArgumentException or FormatException or UriFormatException or KeyNotFoundException)
        {
            throw new HerdUsageException("Error: --store is not a PostgreSQL URL. Use postgres://user:password@host:5432/database (or set HERD_STORE).");
        }
        if (string.IsNullOrEmpty(b.Host) || string.IsNullOrEmpty(b.Database))
            throw new HerdUsageException("Error: --store needs a host and a database: postgres://user:password@host:5432/database.");
        // Workers hold few connections each; a short timeout makes a lost server a quick, retried failure.
        b.Timeout = b.Timeout == 15 ? 10 : b.Timeout;
        b.ApplicationName ??= "herd";
        // The same few statements run per task, thousands of times: prepare them once per connection, and keep them
        // across pool returns (no DISCARD ALL; herd sets no session state that a reset would have to clear).
        if (!store.Contains("Max Auto Prepare", StringComparison.OrdinalIgnoreCase) && !store.Contains("max_auto_prepare", StringComparison.OrdinalIgnoreCase))
            b.MaxAutoPrepare = 32;
        b.NoResetOnClose = true;
        var redacted = $"postgres://{(string.IsNullOrEmpty(b.Username) ? "" : b.Username + "@")}{b.Host}:{b.Port}/{b.Database}";
        return new PgLocation(b.ConnectionString, redacted);
    }

    private static NpgsqlConnectionStringBuilder FromUrl(string url)
    {
        var uri = new Uri(url);
        if (uri.Scheme is not ("postgres" or "postgresql"))
            throw new FormatException("scheme");
        var b = new NpgsqlConnectionStringBuilder { Host = uri.Host, Port = uri.IsDefaultPort || uri.Port <= 0 ? 5432 : uri.Port, Database = Uri.UnescapeDataString(uri.AbsolutePath.TrimStart('/')) };
        if (uri.UserInfo.Length > 0)
        {
            var colon = uri.UserInfo.IndexOf(':');
            b.Username = Uri.UnescapeDataString(colon < 0 ? uri.UserInfo : uri.UserInfo[..colon]);
            if (colon >= 0)
                b.Password = Uri.UnescapeDataString(uri.UserInfo[(colon + 1)..]);
        }
        foreach (var pair in uri.Query.TrimStart('?').Split('&', StringSplitOptions.RemoveEmptyEntries))
        {
            var eq = pair.IndexOf('=');
            var key = Uri.UnescapeDataString(eq < 0 ? pair : pair[..eq]);
            var value = eq < 0 ? "" : Uri.UnescapeDataString(pair[(eq + 1)..]);
            b[key switch { "sslmode" => "SSL Mode", "application_name" => "Application Name", "connect_timeout" => "Timeout", _ => key }] = value;
        }
        return b;
    }
}
