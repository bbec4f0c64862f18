using System.Globalization;
using System.Text;
using Herd.Agent;
using Herd.Agent.Loop;
using Herd.Agent.Models;
using Herd.Agent.Permissions;
using Herd.Agent.Sandbox;
using Herd.Agent.Tools;
using Herd.Cli.Print;

namespace Herd.Cli;

/// <summary>
/// The agent flags of <c>herd -p</c> (model, prompts, tools, rules, limits), checked once and turned into
/// <see cref="AgentOptions"/>. <c>herd run</c> uses the same setup for every task, so a flag means the same in both.
/// </summary>
public sealed record AgentSetup(
    string Cwd,
    ModelCatalog Catalog,
    string? ModelFlag,
    IReadOnlyList<string> FallbackModels,
    string SystemPrompt,
    bool ReadMemoryFiles,
    IReadOnlyList<ITool> Tools,
    PermissionPolicy Policy,
    IReadOnlyList<string> AdditionalDirectories,
    OutputSchema? Schema,
    int? MaxTurns,
    int? MaxTokens,
    double? MaxBudgetUsd,
    BudgetMode BudgetMode,
    TimeSpan? Timeout,
    string PermissionModeName,
    bool FailOnDenial)
{
    /// <value>How Bash is confined (issue #9); null = unconfined. See <see cref="Validate"/> for how it is decided.</value>
    public SandboxOptions? Sandbox { get; init; }

    /// <summary>Checks every agent flag; each problem is a message naming the flag.</summary>
    /// <param name="sandboxByDefault">
    /// Whether Bash is confined when neither <c>--sandbox</c> nor <c>sandbox.enabled</c> says: false for <c>herd -p</c>
    /// (parity with Claude Code), true for <c>herd run</c> (unattended fleets confine by default).
    /// </param>
    /// <exception cref="HerdUsageException">A flag or a file it names is invalid, or the sandbox is required but unavailable.</exception>
    public static AgentSetup Validate(ParsedArguments args, string cwd, bool sandboxByDefault = false)
    {
        var schema = args.Value(PrintOptions.JsonSchema) is { } schemaText ? OutputSchema.Parse(schemaText) : null;
        var maxTurns = ParsePositiveInt(args, PrintOptions.MaxTurns);
        var maxTokens = ParsePositiveInt(args, PrintOptions.MaxTokens);
        var budget = ParseNonNegativeDouble(args, PrintOptions.MaxBudgetUsd);
        var budgetMode = args.Value(PrintOptions.BudgetMode) switch
        {
            null or "compatible" => BudgetMode.Compatible,
            "strict" => BudgetMode.Strict,
            var other => throw new HerdUsageException($"Error: --budget-mode '{other}' is not one of compatible, strict."),
        };
        var timeout = args.Value(PrintOptions.Timeout) is { } t ? Durations.Parse(t, "--timeout") : (TimeSpan?)null;
        var addDirs = args.Values(PrintOptions.AddDir).Select(d => Path.GetFullPath(d, cwd)).ToArray();
        foreach (var dir in addDirs)
        {
            if (!Directory.Exists(dir))
                throw new HerdUsageException($"Error: --add-dir '{dir}' is not a directory. Pass an existing directory.");
        }
        var catalog = ModelCatalog.Load(args.Value(PrintOptions.Prices) ?? NullIfEmpty(Environment.GetEnvironmentVariable("HERD_PRICES")));
        var fallbacks = CommandLineParser.SplitList(args.Value(PrintOptions.FallbackModel) ?? "").Select(catalog.Resolve).ToArray();
        var (policy, settings) = PermissionSetup.Load(args, cwd);
        var tools = SelectTools(args);
        var sandbox = SandboxSetup.Decide(args.Has(PrintOptions.Sandbox), args.Value(PrintOptions.Sandbox), settings, sandboxByDefault, policy.AdditionalDirectories);
        // A confining run refuses to start rather than run Bash unconfined (issue #9); without Bash nothing needs the kernel.
        if (sandbox is not null && tools.Any(t => t.Name == "Bash") && Herd.Agent.Sandbox.Bubblewrap.Problem is { } problem)
            throw new HerdUsageException(Herd.Agent.Sandbox.Bubblewrap.UnavailableMessage(problem));
        return new AgentSetup(
            cwd,
            catalog,
            args.Value(PrintOptions.Model) ?? NullIfEmpty(Environment.GetEnvironmentVariable("ANTHROPIC_MODEL")),
            fallbacks,
            BuildSystemPrompt(args, cwd),
            // --bare skips the memory files, as Claude Code's does.
            !args.Has(PrintOptions.Bare),
            tools,
            policy,
            addDirs,
            schema,
            maxTurns,
            maxTokens,
            budget,
            budgetMode,
            timeout,
            policy.ModeName,
            args.Has(PrintOptions.FailOnDenial))
        {
            Sandbox = sandbox,
        };
    }

    /// <summary>Options for one agent session. Each call makes fresh tools and context, so sessions share no state.</summary>
    /// <param name="restoredModel">The model of a resumed session, used unless --model or ANTHROPIC_MODEL says otherwise.</param>
    public AgentOptions ToAgentOptions(string? restoredModel = null, string? workingDirectory = null)
    {
        var model = Catalog.Resolve(ModelFlag ?? restoredModel);
        var permissions = new PermissionEngine(Policy);
        var cwd = workingDirectory ?? Cwd;
        return new AgentOptions
        {
            Model = model,
            FallbackModels = FallbackModels.Where(m => m != model).ToArray(),
            Catalog = Catalog,
            // A task in its own tree (--isolate) is told that tree, not the run's directory.
            SystemPrompt = cwd == Cwd ? SystemPrompt : SystemPrompt.Replace($"Working directory: {Cwd}\n", $"Working directory: {cwd}\n", StringComparison.Ordinal),
            MemoryText = ReadMemoryFiles ? MemoryFor(workingDirectory ?? Cwd) : null,
            Tools = Tools,
            Permissions = permissions,
            // The file tools' walks and the sandbox hide exactly what the engine's Read deny rules cover.
            ToolContext = new ToolContext(cwd, AdditionalDirectories)
            {
                Sandbox = Sandbox,
                IsReadDenied = path => permissions.IsReadDenied(path, cwd),
                HasReadDenyRules = permissions.HasReadDenies,
                ReadDenyBases = permissions.ReadDenyBases(cwd),
            },
            MaxTurns = MaxTurns,
            MaxBudgetUsd = MaxBudgetUsd,
            BudgetMode = BudgetMode,
            MaxTokens = MaxTokens,
            OutputSchema = Schema?.Node,
            OutputValidator = Schema is null ? null : Schema.Validate,
            Timeout = Timeout,
            PermissionModeName = PermissionModeName,
            FailOnDenial = FailOnDenial,
        };
    }

    private static readonly System.Collections.Concurrent.ConcurrentDictionary<string, string?> MemoryByDirectory = new(StringComparer.Ordinal);

    /// <summary>
    /// The memory block of a working directory, read once per directory and process: a fan-out's tasks in one
    /// directory share it, and each task directory gets its own, as a Claude Code started there would.
    /// </summary>
    private static string? MemoryFor(string directory) =>
        MemoryByDirectory.GetOrAdd(directory, d => MemoryFiles.Format(MemoryFiles.Discover(d, MemoryFiles.UserConfigDirectory())));

    /// <summary>API key, endpoint and retry settings from the environment.</summary>
    /// <exception cref="HerdUsageException">No API key, or a malformed setting.</exception>
    public static AnthropicClientOptions ClientOptionsFromEnvironment()
    {
        var apiKey = Environment.GetEnvironmentVariable("ANTHROPIC_API_KEY");
        if (string.IsNullOrEmpty(apiKey))
            throw new HerdUsageException("Error: ANTHROPIC_API_KEY is not set. Export your Anthropic API key as ANTHROPIC_API_KEY (to try Herd without one, see \"Try it without an API key\" in the README).");
        // Tools run model-written commands; none of them may read the key back from /proc/<herd pid>/environ.
        Herd.Agent.IO.ProcessEnvironment.Scrub("ANTHROPIC_API_KEY");
        return ClientOptions(apiKey);
    }

    private static AnthropicClientOptions ClientOptions(string apiKey)
    {
        var baseUrl = NullIfEmpty(Environment.GetEnvironmentVariable("ANTHROPIC_BASE_URL")) ?? "https://api.anthropic.com";
        if (!Uri.TryCreate(baseUrl, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https"))
            throw new HerdUsageException($"Error: ANTHROPIC_BASE_URL '{baseUrl}' is not an http(s) URL.");
        var options = new AnthropicClientOptions { ApiKey = apiKey, BaseUrl = uri };
        if (EnvSeconds("HERD_STREAM_IDLE_TIMEOUT") is { } idle)
            options = options with { StreamIdleTimeout = idle };
        if (NullIfEmpty(Environment.GetEnvironmentVariable("HERD_MAX_RETRIES")) is { } retries)
        {
            if (!int.TryParse(retries, CultureInfo.InvariantCulture, out var n) || n < 0)
                throw new HerdUsageException($"Error: HERD_MAX_RETRIES '{retries}' must be a whole number ≥ 0.");
            options = options with { MaxRetries = n };
        }
        if (NullIfEmpty(Environment.GetEnvironmentVariable("HERD_RETRY_BASE_MS")) is { } baseMs)
        {
            if (!double.TryParse(baseMs, NumberStyles.Float, CultureInfo.InvariantCulture, out var ms) || ms < 0 || ms > 3_600_000)
                throw new HerdUsageException($"Error: HERD_RETRY_BASE_MS '{baseMs}' must be a number of milliseconds from 0 to 3600000.");
            options = options with { RetryBaseDelay = TimeSpan.FromMilliseconds(ms) };
        }
        return options;
    }

    private static TimeSpan? EnvSeconds(string name) =>
        NullIfEmpty(Environment.GetEnvironmentVariable(name)) is { } text ? Durations.Parse(text, name) : null;

    private static string BuildSystemPrompt(ParsedArguments args, string cwd)
    {
        if (args.Has(PrintOptions.SystemPrompt) && args.Has(PrintOptions.SystemPromptFile))
            throw new HerdUsageException("Error: Cannot use both --system-prompt and --system-prompt-file. Pass one of them.");
        var baseline = args.Value(PrintOptions.SystemPrompt) ?? (args.Value(PrintOptions.SystemPromptFile) is { } f ? ReadTextFile(f, "--system-prompt-file") : DefaultSystemPrompt(cwd));
        var appended = new List<string>();
        if (args.Value(PrintOptions.AppendSystemPrompt) is { } a)
            appended.Add(a);
        if (args.Value(PrintOptions.AppendSystemPromptFile) is { } af)
            appended.Add(ReadTextFile(af, "--append-system-prompt-file"));
        return appended.Count == 0 ? baseline : baseline + "\n\n" + string.Join("\n\n", appended);
    }

    /// <summary>Kept free of per-run values (the date changes daily at most) so the prompt cache prefix stays stable.</summary>
    internal static string DefaultSystemPrompt(string cwd) =>
        $"""
        You are Herd, a headless coding agent. You work without a human in the loop: do the task with the tools you have,
        then answer with the result. Be concise. Use absolute paths with the file tools.

        <env>
        Working directory: {cwd}
        Platform: {Environment.OSVersion.Platform.ToString().ToLowerInvariant()}
        Today's date: {DateTime.UtcNow:yyyy-MM-dd}
        </env>
        """;

    private static string ReadTextFile(string path, string flag)
    {
        if (!File.Exists(path))
            throw new HerdUsageException($"Error: {flag} '{path}' does not exist.");
        var bytes = File.ReadAllBytes(path);
        if (ReadTool.LooksBinary(bytes))
            throw new HerdUsageException($"Error: {flag} '{path}' is a binary file; pass a text file.");
        return Encoding.UTF8.GetString(bytes);
    }

    private static IReadOnlyList<ITool> SelectTools(ParsedArguments args)
    {
        var all = ToolRegistry.BuiltIns();
        if (!args.Has(PrintOptions.Tools))
            return all;
        var names = args.Values(PrintOptions.Tools);
        if (names.Count == 0 || (names.Count == 1 && names[0] is "" or "\"\""))
            return [];
        if (names.Contains("default"))
            return all;
        foreach (var name in names.Where(n => !ToolRegistry.KnownNames.Contains(n)))
            Console.Error.WriteLine($"herd: warning: --tools names an unknown tool '{name}'; ignored.");
        return all.Where(t => names.Contains(t.Name)).ToArray();
    }

    private static int? ParsePositiveInt(ParsedArguments args, OptionSpec flag)
    {
        if (args.Value(flag) is not { } text)
            return null;
        if (!int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var n) || n < 1)
            throw new HerdUsageException($"Error: {flag.Key} must be a positive whole number (got '{text}').");
        return n;
    }

    private static double? ParseNonNegativeDouble(ParsedArguments args, OptionSpec flag)
    {
        if (args.Value(flag) is not { } text)
            return null;
        if (!double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var d) || d < 0 || !double.IsFinite(d))
            throw new HerdUsageException($"Error: {flag.Key} must be a number of US dollars ≥ 0 (got '{text}').");
        return d;
    }

    private static string? NullIfEmpty(string? s) => string.IsNullOrWhiteSpace(s) ? null : s;

}
