using System.Collections;

namespace Herd.Fleet.Engines;

/// <summary>
/// The environment an engine process gets, built explicitly (issue #13 §3): an allow-list of the basics, the
/// credentials and endpoints of that one CLI, Herd's per-process settings, and the user's <c>--engine-env</c>. Nothing
/// else of Herd's environment leaks in (no other provider's key, no <c>HERD_*</c>, never <c>CLAUDECODE</c>, which
/// makes Claude Code believe it runs inside itself). <see cref="IsSecretName"/> tells which values Herd scrubs from any
/// engine text it records.
/// </summary>
public sealed class EngineEnvironment
{
    private static readonly string[] Basics =
    [
        "PATH", "HOME", "USER", "LOGNAME", "SHELL", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TMPDIR",
        "XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME", "XDG_STATE_HOME",
        "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy",
        "SSL_CERT_FILE", "SSL_CERT_DIR", "NODE_EXTRA_CA_CERTS", "NODE_OPTIONS",
    ];

    private static readonly string[] ClaudeVariables =
    [
        "ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "CLAUDE_CODE_OAUTH_TOKEN", "ANTHROPIC_BASE_URL", "ANTHROPIC_MODEL",
        "ANTHROPIC_SMALL_FAST_MODEL", "ANTHROPIC_DEFAULT_SONNET_MODEL", "ANTHROPIC_DEFAULT_OPUS_MODEL", "ANTHROPIC_DEFAULT_HAIKU_MODEL",
        "ANTHROPIC_CUSTOM_HEADERS", "CLAUDE_CODE_USE_BEDROCK", "CLAUDE_CODE_USE_VERTEX", "AWS_REGION", "AWS_PROFILE",
        "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_BEARER_TOKEN_BEDROCK", "CLOUD_ML_REGION",
        "ANTHROPIC_VERTEX_PROJECT_ID", "GOOGLE_APPLICATION_CREDENTIALS", "CLAUDE_CODE_MAX_RETRIES", "API_TIMEOUT_MS",
    ];

    private static readonly string[] CodexVariables =
    [
        "OPENAI_API_KEY", "CODEX_API_KEY", "OPENAI_BASE_URL", "OPENAI_ORGANIZATION", "OPENAI_PROJECT", "CODEX_HOME",
        "AZURE_OPENAI_API_KEY",
    ];

    private static readonly string[] GeminiVariables =
    [
        "GEMINI_API_KEY", "GOOGLE_API_KEY", "GOOGLE_GEMINI_BASE_URL", "GOOGLE_CLOUD_PROJECT", "GOOGLE_CLOUD_LOCATION",
        "GOOGLE_GENAI_USE_VERTEXAI", "GOOGLE_APPLICATION_CREDENTIALS", "GEMINI_MODEL", "GEMINI_CLI_HOME",
        // Headless gemini refuses a folder it has not been told to trust (unattended runs set this).
        "GEMINI_CLI_TRUST_WORKSPACE",
    ];

    private readonly Dictionary<string, string> _values;

    private EngineEnvironment(Dictionary<string, string> values) => _values = values;

    public IReadOnlyDictionary<string, string> Values => _values;

    /// <summary>The source environment: the spec's (tests) or this process's.</summary>
    public static IReadOnlyDictionary<string, string> Source(EngineSpec spec)
    {
        if (spec.Environment is { } given)
            return given;
        var all = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (DictionaryEntry e in System.Environment.GetEnvironmentVariables())
            all[(string)e.Key] = (string?)e.Value ?? "";
        return all;
    }

    /// <param name="perProcess">Herd's own settings for this process (config dirs, retry counts); they win over the source.</param>
    public static EngineEnvironment Build(EngineSpec spec, IReadOnlyDictionary<string, string> perProcess)
    {
        var source = Source(spec);
        var values = new Dictionary<string, string>(StringComparer.Ordinal);
        IEnumerable<string> allowed = spec.Kind switch
        {
            EngineKind.Claude => [.. Basics, .. ClaudeVariables],
            EngineKind.Codex => [.. Basics, .. CodexVariables],
            EngineKind.Gemini => [.. Basics, .. GeminiVariables],
            // A plain command is the user's own script (as under GNU parallel): it keeps the environment.
            _ => source.Keys,
        };
        foreach (var name in allowed)
        {
            if (source.TryGetValue(name, out var v))
                values[name] = v;
        }
        values.Remove("CLAUDECODE");
        values.Remove("CLAUDE_CODE_ENTRYPOINT");
        foreach (var (k, v) in perProcess)
            values[k] = v;
        foreach (var (k, v) in spec.ExtraEnvironment)
            values[k] = v;
        return new EngineEnvironment(values);
    }

    /// <summary>Variables that hold credentials: …_KEY, …TOKEN…, …SECRET…, …PASSWORD…, …_KEY_ID.</summary>
    public static bool IsSecretName(string name) =>
        name.EndsWith("_KEY", StringComparison.Ordinal) || name.Contains("TOKEN", StringComparison.Ordinal)
        || name.Contains("SECRET", StringComparison.Ordinal) || name.Contains("PASSWORD", StringComparison.Ordinal)
        || name.EndsWith("_KEY_ID", StringComparison.Ordinal);
}
