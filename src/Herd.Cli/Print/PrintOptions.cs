namespace Herd.Cli.Print;

/// <summary>The option table of print mode (<c>herd -p</c>), Claude Code's flags plus Herd's extensions (spec §2, §11).</summary>
public static class PrintOptions
{
        public static readonly OptionSpec Print = new(["-p", "--print"], Arity.Flag, "Print the response and exit (headless mode; also chosen when stdout is not a terminal)");
    public static readonly OptionSpec OutputFormat = new(["--output-format"], Arity.Value, "Output format: text (default), json (one result object) or stream-json (NDJSON events)", "format");
    public static readonly OptionSpec Verbose = new(["--verbose"], Arity.Flag, "Required with stream-json output; with json, print an array of every message");
    public static readonly OptionSpec InputFormat = new(["--input-format"], Arity.Value, "Input format: text (default) or stream-json (NDJSON user messages on stdin)", "format");
    public static readonly OptionSpec IncludePartialMessages = new(["--include-partial-messages"], Arity.Flag, "With stream-json: forward the raw API stream events as stream_event lines");
    public static readonly OptionSpec ReplayUserMessages = new(["--replay-user-messages"], Arity.Flag, "With stream-json in and out: echo each stdin user message back");
    public static readonly OptionSpec JsonSchema = new(["--json-schema"], Arity.Value, "Return structured output that validates against this JSON Schema (draft 2020-12)", "schema");
    public static readonly OptionSpec MaxTurns = new(["--max-turns"], Arity.Value, "Stop after this many tool-use round trips (error_max_turns)", "n");
    public static readonly OptionSpec MaxBudgetUsd = new(["--max-budget-usd"], Arity.Value, "Stop once the run's estimated cost reaches this many US dollars", "usd");
    public static readonly OptionSpec BudgetMode = new(["--budget-mode"], Arity.Value, "compatible (default; the crossing call completes) or strict (reserve each call's worst case: never exceeded)", "mode");
    public static readonly OptionSpec Model = new(["--model"], Arity.Value, "Model alias (sonnet, opus, haiku) or full id; overrides ANTHROPIC_MODEL", "model");
    public static readonly OptionSpec Provider = new(["--provider"], Arity.Value, "The model's protocol: anthropic (default) or openai (Chat Completions: OpenAI, vLLM, Ollama, llama.cpp, LiteLLM); also HERD_PROVIDER", "name");
    public static readonly OptionSpec FallbackModel = new(["--fallback-model"], Arity.Value, "Model(s) to use, in order, when the main model is overloaded or unavailable (comma list)", "models");
    public static readonly OptionSpec SystemPrompt = new(["--system-prompt"], Arity.Value, "Replace the default system prompt", "text");
    public static readonly OptionSpec SystemPromptFile = new(["--system-prompt-file"], Arity.Value, "Replace the default system prompt with this file's text", "file");
    public static readonly OptionSpec AppendSystemPrompt = new(["--append-system-prompt"], Arity.Value, "Append text to the system prompt", "text");
    public static readonly OptionSpec AppendSystemPromptFile = new(["--append-system-prompt-file"], Arity.Value, "Append this file's text to the system prompt", "file");
    public static readonly OptionSpec Tools = new(["--tools"], Arity.Variadic, "Built-in tools offered to the model: \"\" for none, \"default\" for all, or a list (Bash,Edit,Read)", "tools");
    public static readonly OptionSpec AllowedTools = new(["--allowedTools", "--allowed-tools"], Arity.Variadic, "Allow rules, e.g. \"Bash(git diff *)\" Read (comma or space separated, repeatable)", "rules");
    public static readonly OptionSpec DisallowedTools = new(["--disallowedTools", "--disallowed-tools"], Arity.Variadic, "Deny rules; a bare tool name removes the tool from the model's list", "rules");
    public static readonly OptionSpec PermissionMode = new(["--permission-mode"], Arity.Value, "default, acceptEdits, plan, bypassPermissions or dontAsk", "mode");
    public static readonly OptionSpec DangerouslySkipPermissions = new(["--dangerously-skip-permissions"], Arity.Flag, "Same as --permission-mode bypassPermissions");
    public static readonly OptionSpec AllowDangerouslySkipPermissions = new(["--allow-dangerously-skip-permissions"], Arity.Flag, "Accepted for compatibility", Hidden: true, AcceptOnly: true);
    public static readonly OptionSpec AddDir = new(["--add-dir"], Arity.Variadic, "Extra directories the tools may use (each must exist)", "dirs");
    public static readonly OptionSpec Sandbox = new(["--sandbox"], Arity.OptionalValue, "Confine Bash with the kernel (bubblewrap): on, off, or no-network (also settings sandbox.enabled; herd run: on by default)", "mode", Choices: ["on", "off", "no-network"]);
    public static readonly OptionSpec Settings = new(["--settings"], Arity.Value, "A settings file or JSON string, above every settings file (permissions, hooks, env, mcpServers)", "file-or-json");
    public static readonly OptionSpec SettingSources = new(["--setting-sources"], Arity.Value, "Which settings files load: user,project,local", "sources");
    public static readonly OptionSpec Continue = new(["-c", "--continue"], Arity.Flag, "Continue the most recent session of this directory (a new one when there is none)");
    public static readonly OptionSpec Resume = new(["-r", "--resume"], Arity.Value, "Resume a session by id", "session-id");
    public static readonly OptionSpec ForkSession = new(["--fork-session"], Arity.Flag, "With --resume/--continue: continue in a new session, leaving the original untouched");
    public static readonly OptionSpec SessionId = new(["--session-id"], Arity.Value, "Use this UUID as the session id", "uuid");
    public static readonly OptionSpec NoSessionPersistence = new(["--no-session-persistence"], Arity.Flag, "Do not save the session transcript (it cannot be resumed)");
    public static readonly OptionSpec ExitCodes = new(["--exit-codes"], Arity.Value, "compatible (default: 0/1) or extended (2 retryable API error, 3 limit, 4 denied or no structured output)", "mode");
    public static readonly OptionSpec Timeout = new(["--timeout"], Arity.Value, "Wall-clock limit for the run, e.g. 90s, 10m (error_during_execution)", "duration");
    public static readonly OptionSpec Prices = new(["--prices"], Arity.Value, "Price table JSON merged over the built-in one (also HERD_PRICES)", "file");
    public static readonly OptionSpec OtelCaptureContent = new(["--otel-capture-content"], Arity.Flag, "With OTLP export on: put prompt, completion and tool-input text on spans (off by default)");
    public static readonly OptionSpec AuditLog = new(["--audit-log"], Arity.Value, "Append one NDJSON line per tool call: tool, input, decision, rule, duration, exit code", "file");
    public static readonly OptionSpec FailOnDenial = new(["--fail-on-denial"], Arity.Flag, "End a run that had any permission denial with is_error:true and exit 1");
    public static readonly OptionSpec MaxTokens = new(["--max-tokens"], Arity.Value, "max_tokens of each API call (default: the model's maximum)", "n");
    public static readonly OptionSpec PermissionPromptTool = new(["--permission-prompt-tool"], Arity.Value, "Accepted for compatibility; undecided calls are denied in print mode", "tool", AcceptOnly: true);
    public static readonly OptionSpec McpConfig = new(["--mcp-config"], Arity.VariadicWhole, "MCP servers from JSON files or strings ({\"mcpServers\":{...}}); their tools are offered as mcp__server__tool", "configs");
    public static readonly OptionSpec StrictMcpConfig = new(["--strict-mcp-config"], Arity.Flag, "Use only the servers of --mcp-config, not those of .mcp.json or settings files");
    public static readonly OptionSpec Agents = new(["--agents"], Arity.Value, "Accepted for compatibility", "json", Hidden: true, AcceptOnly: true);
    public static readonly OptionSpec Agent = new(["--agent"], Arity.Value, "Accepted for compatibility", "name", Hidden: true, AcceptOnly: true);
    public static readonly OptionSpec Bare = new(["--bare"], Arity.Flag, "Skip the memory files (CLAUDE.md, .claude/CLAUDE.md, CLAUDE.local.md up to the root, and the user's)");
    public static readonly OptionSpec Betas = new(["--betas"], Arity.Variadic, "Accepted for compatibility", "betas", Hidden: true, AcceptOnly: true);
    public static readonly OptionSpec PluginDir = new(["--plugin-dir"], Arity.Value, "Accepted for compatibility", "dir", Hidden: true, AcceptOnly: true);
    public static readonly OptionSpec DisableSlashCommands = new(["--disable-slash-commands"], Arity.Flag, "Accepted for compatibility", Hidden: true, AcceptOnly: true);
    public static readonly OptionSpec Debug = new(["-d", "--debug"], Arity.Flag, "Accepted for compatibility", Hidden: true, AcceptOnly: true);
    public static readonly OptionSpec DebugFile = new(["--debug-file"], Arity.Value, "Accepted for compatibility", "file", Hidden: true, AcceptOnly: true);
    public static readonly OptionSpec Effort = new(["--effort"], Arity.Value, "Accepted for compatibility", "level", Hidden: true, AcceptOnly: true);
    public static readonly OptionSpec Thinking = new(["--thinking"], Arity.Value, "Accepted for compatibility", "mode", Hidden: true, AcceptOnly: true);
    public static readonly OptionSpec MaxThinkingTokens = new(["--max-thinking-tokens"], Arity.Value, "Accepted for compatibility", "n", Hidden: true, AcceptOnly: true);
    public static readonly OptionSpec IncludeHookEvents = new(["--include-hook-events"], Arity.Flag, "With stream-json: print every hook's hook_started / hook_response events (SessionStart's are always printed)");
    public static readonly OptionSpec ForwardSubagentText = new(["--forward-subagent-text"], Arity.Flag, "Accepted for compatibility", Hidden: true, AcceptOnly: true);
    public static readonly OptionSpec Name = new(["--name"], Arity.Value, "Accepted for compatibility", "name", Hidden: true, AcceptOnly: true);
    public static readonly OptionSpec Worktree = new(["-w", "--worktree"], Arity.Value, "Accepted for compatibility", "name", Hidden: true, AcceptOnly: true);
    public static readonly OptionSpec Help = new(["-h", "--help"], Arity.Flag, "Show this help");
    public static readonly OptionSpec Version = new(["-v", "--version"], Arity.Flag, "Print Herd's version");

    public static readonly IReadOnlyList<OptionSpec> All =
    [
        Print,
        OutputFormat,
        Verbose,
        InputFormat,
        IncludePartialMessages,
        ReplayUserMessages,
        JsonSchema,
        MaxTurns,
        MaxBudgetUsd,
        BudgetMode,
        Model,
        Provider,
        FallbackModel,
        SystemPrompt,
        SystemPromptFile,
        AppendSystemPrompt,
        AppendSystemPromptFile,
        Tools,
        AllowedTools,
        DisallowedTools,
        PermissionMode,
        DangerouslySkipPermissions,
        AllowDangerouslySkipPermissions,
        AddDir,
        Sandbox,
        Settings,
        SettingSources,
        Continue,
        Resume,
        ForkSession,
        SessionId,
        NoSessionPersistence,
        ExitCodes,
        Timeout,
        Prices,
        OtelCaptureContent,
        AuditLog,
        FailOnDenial,
        MaxTokens,
        PermissionPromptTool,
        McpConfig,
        StrictMcpConfig,
        Agents,
        Agent,
        Bare,
        Betas,
        PluginDir,
        DisableSlashCommands,
        Debug,
        DebugFile,
        Effort,
        Thinking,
        MaxThinkingTokens,
        IncludeHookEvents,
        ForwardSubagentText,
        Name,
        Worktree,
        Help,
        Version,
    ];

    public const string Footer = """
Commands (each has --help):
  herd run ...          Run many agent tasks at once
  herd runs list|show|watch|export
                        Inspect and follow runs (export: a run of a shared store as files)
  herd merge OUT RUN_DIR...
                        Merge the shards of a CI run into one run directory
  herd report RUN --format sarif|codequality|junit|github|markdown|html
                        Reports of a run for CI and people
  herd gate RUN --max-failed N|P% --max-severity L --max-findings N --max-cost USD
                        Exit 1 when a quality gate fails
  herd ci init github|gitlab|jenkins
                        Write a ready CI pipeline that reviews the repository in shards
  herd worker ...       Work runs kept in PostgreSQL from many machines
  herd sessions list|show
                        Find sessions to --resume

Environment:
  ANTHROPIC_API_KEY         API key (required)
  ANTHROPIC_BASE_URL        API endpoint (default https://api.anthropic.com)
  ANTHROPIC_MODEL           Default model
  HERD_PROVIDER             anthropic (default) or openai (see --provider)
  OPENAI_API_KEY            API key with --provider openai (optional for local servers)
  OPENAI_BASE_URL           Endpoint with --provider openai (default https://api.openai.com/v1)
  HERD_PRICES               Price table override (see --prices)
  HERD_CONFIG_DIR           Where sessions are stored (default ~/.herd)
  HERD_STREAM_IDLE_TIMEOUT  Seconds a silent API stream may stall before it is retried (default 120)
  HERD_MAX_RETRIES          Retries of a failed API call (default 10)
  HERD_RETRY_BASE_MS        Backoff base in ms (default 1000; waits rand(0, min(60 s, base*2^n)))
  HERD_BWRAP                The bubblewrap binary --sandbox uses (default: bwrap on PATH)
  HERD_STORE                PostgreSQL URL of a shared run store (as --store of herd run, worker, runs, report, gate)
  HERD_CLIS                 Where --engine claude|codex|gemini look after PATH (default /opt/herd-clis)
  OTEL_EXPORTER_OTLP_ENDPOINT (and the other OTEL_* variables)
                            Export OpenTelemetry traces and metrics over OTLP; off when unset

Exit codes: 0 success, 1 error (is_error true), 130 interrupted (SIGINT), 143 terminated (SIGTERM);
--exit-codes extended adds 2, 3 and 4. Every command's codes: docs/architecture.md.
""";
}
