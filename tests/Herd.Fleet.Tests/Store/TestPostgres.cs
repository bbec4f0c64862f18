using Herd.Fleet.Store.Postgres;
using Npgsql;

namespace Herd.Fleet.Tests.Store;

/// <summary>
/// The real PostgreSQL the tests use: HERD_TEST_PG (set by .ci/run from tests/postgres.sh), else the server tests/postgres.sh
/// sets up locally. Never skipped: a missing server fails the tests with the command that provides one.
/// </summary>
public static class TestPostgres
{
    public const string DefaultUrl = "postgres://herd_test:herd_test@127.0.0.1:5432/herd_test";

    public static string Url => Environment.GetEnvironmentVariable("HERD_TEST_PG") is { Length: > 0 } url ? url : DefaultUrl;

    public static PgLocation Location
    {
        get
        {
            var location = PgLocation.Parse(Url);
            try
            {
                using var db = new NpgsqlConnection(location.ConnectionString);
                db.Open();
            }
            catch (Exception ex) when (ex is NpgsqlException or TimeoutException)
            {
                throw new InvalidOperationException($"No PostgreSQL for the tests at {location.Redacted} ({ex.Message}). Run `export HERD_TEST_PG=$(sudo tests/postgres.sh)` first (it installs and starts one on loopback).", ex);
            }
            return location;
        }
    }

    /// <summary>A run id no other test (or test process) uses.</summary>
    public static string NewRunId(string prefix = "t") => $"{prefix}-{Guid.NewGuid():N}";
}
