namespace Herd.Cli.Print;

/// <summary>The option table of print mode (<c>herd -p</c>), Claude Code's flags plus Herd's extensions (spec §2, §11).</summary>
public static class PrintOptions
{
    public static readonly IReadOnlyList<OptionSpec> All =
    [
        new(["-p", "--print"], Arity.Flag, "Print the response and exit (headless mode; also chosen when stdout is not a terminal)"),
        new(["--output-format"], Arity.Value, "Output format: text (default), json (one result object) or stream-json (NDJSON events)", "format"),
        new(["--verbose"], Arity.Flag, "Required with stream-json output; with json, print an array of every message"),
        new(["--input-format"], Arity.Value, "Input format: text (default) or stream-json (NDJSON user messages on stdin)", "format"),
        new(["--include-partial-messages"], Arity.Flag, "With stream-json: forward the raw API stream events as stream_event lines"),
        new(["--replay-user-messages"], Arity.Flag, "With stream-json in and out: echo each stdin user message back"),
        new(["--json-schema"], Arity.Value, "Return structured output that validates against this JSON Schema (draft 2020-12)", "schema"),
        new(["--max-turns"], Arity.Value, "Stop after this many tool-use round trips (error_max_turns)", "n", Hidden: true),
        new(["--max-budget-usd"], Arity.Value, "Stop once the run's estimated cost reaches this many US dollars", "usd"),
        new(["--budget-mode"], Arity.Value, "compatible (default; the crossing call completes) or strict (reserve each call's worst case: never exceeded)", "mode"),
        new(["--model"], Arity.Value, "Model alias (sonnet, opus, haiku) or full id; overrides ANTHROPIC_MODEL", "model"),
        new(["--fallback-model"], Arity.Value, "Model(s) to use, in order, when the main model is overloaded or unavailable (comma list)", "models"),
        new(["--system-prompt"], Arity.Value, "Replace the default system prompt", "text"),
        new(["--system-prompt-file"], Arity.Value, "Replace the default system prompt with this file's text", "file"),
        new(["--append-system-prompt"], Arity.Value, "Append text to the system prompt", "text"),
        new(["--append-system-prompt-file"], Arity.Value, "Append this file's text to the system prompt", "file"),
        new(["--tools"], Arity.Variadic, "Built-in tools offered to the model: \"\" for none, \"default\" for all, or a list (Bash,Edit,Read)", "tools"),
        new(["--allowedTools", "--allowed-tools"], Arity.Variadic, "Allow rules, e.g. \"Bash(git diff *)\" Read (comma or space separated, repeatable)", "rules"),
        new(["--disallowedTools", "--disallowed-tools"], Arity.Variadic, "Deny rules; a bare tool name removes the tool from the model's list", "rules"),
        new(["--permission-mode"], Arity.Value, "default, acceptEdits, plan, bypassPermissions or dontAsk", "mode"),
        new(["--dangerously-skip-permissions"], Arity.Flag, "Same as --permission-mode bypassPermissions"),
        new(["--allow-dangerously-skip-permissions"], Arity.Flag, "Accepted for compatibility", Hidden: true, AcceptOnly: true),
        new(["--add-dir"], Arity.Variadic, "Extra directories the tools may use (each must exist)", "dirs"),
        new(["--sandbox"], Arity.OptionalValue, "Confine Bash with the kernel (bubblewrap): on, off, or no-network (also settings sandbox.enabled; herd run: on by default)", "mode", Choices: ["on", "off", "no-network"]),
        new(["--settings"], Arity.Value, "A settings file or JSON string (its permissions block is used)", "file-or-json"),
        new(["--setting-sources"], Arity.Value, "Which settings files load: user,project,local", "sources"),
        new(["-c", "--continue"], Arity.Flag, "Continue the most recent session of this directory (a new one when there is none)"),
        new(["-r", "--resume"], Arity.Value, "Resume a session by id", "session-id"),
        new(["--fork-session"], Arity.Flag, "With --resume/--continue: continue in a new session, leaving the original untouched"),
        new(["--session-id"], Arity.Value, "Use this UUID as the session id", "uuid"),
        new(["--no-session-persistence"], Arity.Flag, "Do not save the session transcript (it cannot be resumed)"),
        new(["--exit-codes"], Arity.Value, "compatible (default: 0/1) or extended (2 retryable API error, 3 limit, 4 denied or no structured output)", "mode"),
        new(["--timeout"], Arity.Value, "Wall-clock limit for the run, e.g. 90s, 10m (error_during_execution)", "duration"),
        new(["--prices"], Arity.Value, "Price table JSON merged over the built-in one (also HERD_PRICES)", "file"),
        new(["--otel-capture-content"], Arity.Flag, "With OTLP export on: put prompt, completion and tool-input text on spans (off by default)"),
        new(["--audit-log"], Arity.Value, "Append one NDJSON line per tool call: tool, input, decision, rule, duration, exit code", "file"),
        new(["--fail-on-denial"], Arity.Flag, "End a run that had any permission denial with is_error:true and exit 1"),
        new(["--max-tokens"], Arity.Value, "max_tokens of each API call (default: the model's maximum)", "n", Hidden: true),
        new(["--permission-prompt-tool"], Arity.Value, "Accepted for compatibility; undecided calls are denied in print mode", "tool", AcceptOnly: true),
        new(["--mcp-config"], Arity.Variadic, "Accepted for compatibility; MCP servers are not started", "configs", AcceptOnly: true),
        new(["--strict-mcp-config"], Arity.Flag, "Accepted for compatibility", Hidden: true, AcceptOnly: true),
        new(["--agents"], Arity.Value, "Accepted for compatibility", "json", Hidden: true, AcceptOnly: true),
        new(["--agent"], Arity.Value, "Accepted for compatibility", "name", Hidden: true, AcceptOnly: true),
        new(["--bare"], Arity.Flag, "Skip the memory files (CLAUDE.md, .claude/CLAUDE.md, CLAUDE.local.md up to the root, and the user's)"),
        new(["--betas"], Arity.Variadic, "Accepted for compatibility", "betas", Hidden: true, AcceptOnly: true),
        new(["--plugin-dir"], Arity.Value, "Accepted for compatibility", "dir", Hidden: true, AcceptOnly: true),
        new(["--disable-slash-commands"], Arity.Flag, "Accepted for compatibility", Hidden: true, AcceptOnly: true),
        new(["-d", "--debug"], Arity.Flag, "Accepted for compatibility", Hidden: true, AcceptOnly: true),
        new(["--debug-file"], Arity.Value, "Accepted for compatibility", "file", Hidden: true, AcceptOnly: true),
        new(["--effort"], Arity.Value, "Accepted for compatibility", "level", Hidden: true, AcceptOnly: true),
        new(["--thinking"], Arity.Value, "Accepted for compatibility", "mode", Hidden: true, AcceptOnly: true),
        new(["--max-thinking-tokens"], Arity.Value, "Accepted for compatibility", "n", Hidden: true, AcceptOnly: true),
        new(["--include-hook-events"], Arity.Flag, "Accepted for compatibility", Hidden: true, AcceptOnly: true),
        new(["--forward-subagent-text"], Arity.Flag, "Accepted for compatibility", Hidden: true, AcceptOnly: true),
        new(["--name"], Arity.Value, "Accepted for compatibility", "name", Hidden: true, AcceptOnly: true),
        new(["-w", "--worktree"], Arity.Value, "Accepted for compatibility", "name", Hidden: true, AcceptOnly: true),
        new(["-h", "--help"], Arity.Flag, "Show this help"),
        new(["-v", "--version"], Arity.Flag, "Print Herd's version"),
    ];

    public const string Footer = """
Commands:
  herd run ...          Run many agent tasks at once (herd run --help)
  herd runs list|show   Inspect run directories (export too, with --store URL)
  herd report RUN --format sarif|codequality|junit|github|markdown|html
                        Reports of a run for CI and people (herd report --help)
  herd gate RUN --max-failed N|P% --max-severity L --max-findings N --max-cost USD
                        Exit 1 when a quality gate fails
  herd worker ...       Work runs kept in PostgreSQL from many machines (herd worker --help)
  herd sessions list|show
                        Find sessions to --resume

Environment:
  ANTHROPIC_API_KEY         API key (required)
  ANTHROPIC_BASE_URL        API endpoint (default https://api.anthropic.com)
  ANTHROPIC_MODEL           Default model
  HERD_PRICES               Price table override (see --prices)
  HERD_CONFIG_DIR           Where sessions are stored (default ~/.herd)
  HERD_STREAM_IDLE_TIMEOUT  Seconds a silent API stream may stall before it is retried (default 120)
  HERD_MAX_RETRIES          Retries of a failed API call (default 10)
  HERD_RETRY_BASE_MS        Backoff base in ms (default 1000; waits rand(0, min(60 s, base*2^n)))
  HERD_BWRAP                The bubblewrap binary --sandbox uses (default: bwrap on PATH)

Exit codes: 0 success, 1 error (is_error true), 130 interrupted (SIGINT), 143 terminated (SIGTERM).
""";
}
