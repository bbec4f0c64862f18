using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Herd.Agent;
using Herd.Agent.Loop;
using Herd.Agent.Models;
using Herd.Agent.Output;
using Herd.Agent.Permissions;
using Herd.Agent.Sessions;
using Herd.Agent.Telemetry;
using Herd.Agent.Tools;

namespace Herd.Cli.Print;

/// <summary><c>herd -p</c>: one headless query (or a stream of them), printed as Claude Code prints it.</summary>
public static class PrintCommand
{
    /// <summary>Piped stdin above this size fails the run (spec §1).</summary>
    public const int StdinLimitBytes = 10 * 1024 * 1024;

    public static async Task<int> RunAsync(string[] argv)
    {
        var stderr = Console.Error;
        ParsedArguments args;
        try
        {
            args = CommandLineParser.Parse(argv, PrintOptions.All);
        }
        catch (HerdUsageException ex)
        {
            stderr.WriteLine(ex.Message);
            stderr.WriteLine("Run 'herd --help' to see the options.");
            return 1;
        }
        if (args.Has(PrintOptions.Help))
        {
            Console.Out.Write(CommandLineParser.FormatHelp(
                "herd -p [options] [prompt]",
                "Herd runs a coding agent headless. Its print mode accepts Claude Code's `claude -p` flags and prints the same\ntext, json and stream-json output.",
                PrintOptions.All, PrintOptions.Footer));
            return 0;
        }
        if (args.Has(PrintOptions.Version))
        {
            Console.Out.WriteLine($"{HerdVersion.Current} (Herd)");
            return 0;
        }
        foreach (var flag in args.AcceptedWithoutEffect)
            stderr.WriteLine($"herd: warning: {flag} has no effect in Herd; ignored.");

        using var signals = new RunSignals();
        try
        {
            return await RunCoreAsync(args, signals).ConfigureAwait(false);
        }
        catch (HerdUsageException ex)
        {
            stderr.WriteLine(ex.Message);
            return 1;
        }
    }

    private static async Task<int> RunCoreAsync(ParsedArguments args, RunSignals signals)
    {
        var print = args.Has(PrintOptions.Print) || Console.IsOutputRedirected;
        if (!print)
            throw new HerdUsageException("Error: herd has no interactive mode. Run `herd -p \"your prompt\"` (see herd --help).");

        var outputFormat = args.Value(PrintOptions.OutputFormat) switch
        {
            null or "text" => OutputFormat.Text,
            "json" => OutputFormat.Json,
            "stream-json" => OutputFormat.StreamJson,
            var other => throw new HerdUsageException($"Error: Invalid output format \"{other}\". Use text, json or stream-json."),
        };
        var inputFormat = args.Value(PrintOptions.InputFormat) ?? "text";
        if (inputFormat is not ("text" or "stream-json"))
            throw new HerdUsageException($"Error: Invalid input format \"{inputFormat}\".");
        var verbose = args.Has(PrintOptions.Verbose);
        if (outputFormat == OutputFormat.StreamJson && !verbose)
            throw new HerdUsageException("Error: When using --print, --output-format=stream-json requires --verbose");
        if (inputFormat == "stream-json" && outputFormat != OutputFormat.StreamJson)
            throw new HerdUsageException("Error: --input-format=stream-json requires output-format=stream-json.");
        if (args.Has(PrintOptions.ReplayUserMessages) && !(inputFormat == "stream-json" && outputFormat == OutputFormat.StreamJson))
            throw new HerdUsageException("Error: --replay-user-messages requires both --input-format=stream-json and --output-format=stream-json.");
        var includePartial = args.Has(PrintOptions.IncludePartialMessages);
        if (includePartial && outputFormat != OutputFormat.StreamJson)
            throw new HerdUsageException("Error: --include-partial-messages requires --print and --output-format=stream-json.");

        var extendedExitCodes = args.Value(PrintOptions.ExitCodes) switch
        {
            null or "compatible" => false,
            "extended" => true,
            var other => throw new HerdUsageException($"Error: --exit-codes '{other}' is not one of compatible, extended."),
        };
        var cwd = Directory.GetCurrentDirectory();
        // Flags are all checked before stdin is read or anything is written.
        var template = AgentSetup.Validate(args, cwd);
        var prompt = inputFormat == "text" ? ReadPrompt(args) : null;

        // Sessions (spec §7): decide the id and history before anything is printed.
        var store = SessionStore.FromEnvironment();
        var persist = !args.Has(PrintOptions.NoSessionPersistence);
        if (File.Exists(store.Root))
            throw new HerdUsageException($"Error: HERD_CONFIG_DIR '{store.Root}' is a file, not a directory. Point HERD_CONFIG_DIR at a directory (sessions are stored under it) or unset it.");
        var resumeId = args.Value(PrintOptions.Resume);
        if (resumeId is not null && !Guid.TryParseExact(resumeId, "D", out _))
            throw new HerdUsageException($"Error: --resume requires a valid session ID when used with --print. Usage: herd -p --resume <session-id>. Provided value \"{resumeId}\" is not a UUID (herd sessions list shows them).");
        var fork = args.Has(PrintOptions.ForkSession);
        var requestedId = args.Value(PrintOptions.SessionId);
        if (requestedId is not null && !Guid.TryParseExact(requestedId, "D", out _))
            throw new HerdUsageException($"Error: Invalid session ID. Must be a valid UUID (got '{requestedId}').");
        if (requestedId is not null && (resumeId is not null || args.Has(PrintOptions.Continue)) && !fork)
            throw new HerdUsageException("Error: --session-id can only be used with --continue or --resume if --fork-session is also specified.");
        if (requestedId is not null && store.Find(cwd, requestedId) is not null)
            throw new HerdUsageException($"Error: Session ID {requestedId} is already in use.");

        LoadedSession? loaded = null;
        string? resumedFrom = null;
        if (resumeId is not null)
        {
            resumedFrom = store.Find(cwd, resumeId);
            if (resumedFrom is null)
                return ResumeMiss(resumeId, outputFormat);
        }
        else if (args.Has(PrintOptions.Continue))
        {
            // [2.1.332] --continue with no earlier session in this directory starts a new one.
            resumedFrom = store.FindLatest(cwd);
        }
        if (resumedFrom is not null)
            loaded = LoadForResume(resumedFrom);

        var sessionId = resumedFrom is not null && !fork ? Path.GetFileNameWithoutExtension(resumedFrom) : requestedId ?? Guid.NewGuid().ToString();
        // What this session writes for itself (transcripts, the audit log) is read-only to its tools (issue #19, class 10).
        var ownFiles = new List<Herd.Agent.Tools.ProtectedPath> { new(store.ProjectDirectory(cwd), "the session transcripts") };
        if (args.Value(PrintOptions.AuditLog) is { } ownAudit)
            ownFiles.Add(new Herd.Agent.Tools.ProtectedPath(Path.GetFullPath(ownAudit, cwd), "the audit log"));
        template = template with { ProtectedPaths = ownFiles };
        template = await template.StartMcpAsync(signals.Token).ConfigureAwait(false);
        await using var mcp = template.Mcp;
        var options = template.ToAgentOptions(restoredModel: loaded?.Model);
        var clientOptions = template.ClientOptionsFromEnvironment();
        using var client = ModelClientFactory.Create(clientOptions with { OnEndpointNotice = EndpointNotices.EveryRetry(Console.Error, clientOptions.BaseUrlVariable) });

        var stdout = Console.OpenStandardOutput();
        var writer = OutputWriter.Create(outputFormat, stdout, verbose, includePartial);
        var sinks = new List<IAgentEventSink> { new UnlessTerminated(writer, signals) };
        TranscriptWriter? transcript = null;
        AuditLog? audit = null;
        try
        {
            if (persist)
            {
                var path = store.PathFor(cwd, sessionId);
                var parent = loaded?.LeafUuid;
                if (fork && loaded is not null)
                    parent = TranscriptWriter.CopyForFork(loaded.Lines, path, sessionId);
                transcript = new TranscriptWriter(path, sessionId, cwd, options.PermissionModeName, parent, options.TimeProvider);
                sinks.Add(transcript);
                options = options with { TranscriptPath = path };
            }
            if (args.Value(PrintOptions.AuditLog) is { } auditPath)
            {
                audit = new AuditLog(auditPath, sessionId, options.TimeProvider);
                sinks.Add(audit);
            }
            HerdTelemetry.CaptureContent = args.Has(PrintOptions.OtelCaptureContent);
            using var invocation = HerdTelemetry.StartInvokeAgent(sessionId, options.Model);
            var sink = HerdTelemetry.Observe(new CompositeSink(sinks.ToArray()), sessionId, invocation, options.TimeProvider);
            var session = new AgentSession(client, options, sessionId, loaded?.Messages);

            AgentResult? last;
            if (inputFormat == "stream-json")
                last = await StreamJsonInput.RunAsync(session, sink, args.Has(PrintOptions.ReplayUserMessages), signals.Token).ConfigureAwait(false);
            else
                last = await session.RunAsync(JsonValue.Create(prompt!), sink, signals.Token).ConfigureAwait(false);

            // [2.1.332] SessionEnd runs after the result line, with reason "other" in print mode.
            await session.EndAsync("other", sink, CancellationToken.None).ConfigureAwait(false);
            if (signals.ExitCode is { } signalled)
                return signalled;
            if (last is null)
                return 0;
            if (!extendedExitCodes)
                return last.IsError ? 1 : 0;
            var code = ExtendedExitCode(last, options.OutputSchema is not null);
            if (code != 0)
                Console.Error.WriteLine(HerdErrorLine(last, code));
            return code;
        }
        finally
        {
            transcript?.Dispose();
            audit?.Dispose();
        }
    }

    /// <summary>
    /// A transcript to continue must give back a conversation: one that cannot be read, or holds no readable
    /// message, is an error — starting afresh would append a new conversation to the damaged file.
    /// </summary>
    private static LoadedSession LoadForResume(string path)
    {
        LoadedSession loaded;
        try
        {
            loaded = SessionStore.Load(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new HerdUsageException($"Error: cannot read the session transcript '{path}' ({ex.Message}). Fix its permissions, or start a new session without --resume/--continue.");
        }
        if (loaded.Messages.Count == 0)
            throw new HerdUsageException($"Error: the session transcript '{path}' is damaged: it holds no readable message. Start a new session without --resume/--continue (the file is left as it is).");
        return loaded;
    }

    private static int ResumeMiss(string id, OutputFormat format)
    {
        var message = $"No conversation found with session ID: {id}";
        // [2.1.332] text and json print nothing on stdout; stream-json prints an error result that keeps the
        // requested session id (spec §7.4).
        if (format != OutputFormat.StreamJson)
        {
            Console.Error.WriteLine(message);
            return 1;
        }
        var freshId = id;
        var result = new AgentResult
        {
            Subtype = ResultSubtype.DuringExecution,
            IsError = true,
            DurationMs = 0,
            DurationApiMs = 0,
            NumTurns = 0,
            SessionId = freshId,
            TotalCostUsd = 0,
            Usage = Usage.Zero,
            ModelUsage = new Dictionary<string, ModelUsageEntry>(),
            PermissionDenials = [],
            Errors = [message],
            TerminalReason = "turn_setup_failed",
            Uuid = Guid.NewGuid().ToString(),
        };
        var bytes = EventJson.ToJson(new ResultEvent(result), freshId, false)!;
        using var stdout = Console.OpenStandardOutput();
        stdout.Write(bytes);
        stdout.Write("\n"u8);
        Console.Error.WriteLine(message);
        return 1;
    }

    /// <summary>Spec §3.5: 0 ok, 1 permanent, 2 retryable API error, 3 limit reached, 4 denied or no structured output.</summary>
    internal static int ExtendedExitCode(AgentResult r, bool schemaGiven)
    {
        if (r.ApiErrorKind is { } kind)
            // An endpoint that refused every connection may be up later: retryable, though Herd stopped retrying it.
            return kind == ModelErrorKind.Unreachable || new ModelApiException(kind, "").IsRetryable ? 2 : 1;
        if (r.Subtype is ResultSubtype.MaxTurns or ResultSubtype.MaxBudget or ResultSubtype.MaxStructuredOutputRetries)
            return 3;
        if (r.IsError)
            return 1;
        if (r.PermissionDenials.Count > 0 || (schemaGiven && r.StructuredOutput is null))
            return 4;
        return 0;
    }

    private static string HerdErrorLine(AgentResult r, int code)
    {
        var cls = code switch
        {
            2 => "retryable_api_error",
            3 => r.Subtype,
            4 => r.PermissionDenials.Count > 0 ? "denied" : "no_structured_output",
            _ => r.ApiErrorKind is not null ? "api_error" : r.Subtype,
        };
        var message = r.Errors is { Count: > 0 } errors ? string.Join("; ", errors) : r.Result ?? r.Subtype;
        var buffer = new System.Buffers.ArrayBufferWriter<byte>();
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            w.WriteStartObject("herd_error");
            w.WriteString("class", cls);
            w.WriteBoolean("retryable", code == 2);
            if (r.ApiErrorStatus is { } s)
                w.WriteNumber("api_error_status", s);
            else
                w.WriteNull("api_error_status");
            w.WriteString("message", message);
            w.WriteEndObject();
            w.WriteEndObject();
        }
        return Encoding.UTF8.GetString(buffer.WrittenSpan);
    }

    /// <summary>Prompt argument and/or piped stdin: the prompt, a newline, then stdin (as Claude Code 2.1.332 sends it).</summary>
    private static string ReadPrompt(ParsedArguments args)
    {
        if (args.Positionals.Count > 1)
            throw new HerdUsageException($"Error: too many arguments. Quote the prompt as one argument: herd -p \"{string.Join(' ', args.Positionals)}\"");
        var argument = args.Positionals.Count == 1 ? args.Positionals[0] : null;
        string? piped = null;
        if (Console.IsInputRedirected)
        {
            try
            {
                // Read in chunks up to one byte past the cap: an empty or small stdin costs nothing at start-up.
                using var stdin = Console.OpenStandardInput();
                using var collected = new MemoryStream();
                var chunk = new byte[64 * 1024];
                int n;
                while (collected.Length <= StdinLimitBytes && (n = stdin.Read(chunk, 0, (int)Math.Min(chunk.Length, StdinLimitBytes + 1 - collected.Length))) > 0)
                    collected.Write(chunk, 0, n);
                if (collected.Length > StdinLimitBytes)
                    throw new HerdUsageException("Error: Input from stdin exceeds the 10 MB limit. Pass a smaller input, or let the agent Read the file instead of piping it.");
                piped = Encoding.UTF8.GetString(collected.GetBuffer(), 0, (int)collected.Length);
            }
            catch (IOException ex)
            {
                Console.Error.WriteLine($"herd: warning: could not read stdin ({ex.Message}); continuing with the prompt argument.");
            }
        }
        // [2.1.332] the prompt argument, a newline, then stdin as it came.
        var prompt = (piped, argument) switch
        {
            ({ Length: > 0 } p, { Length: > 0 } a) => a + "\n" + p,
            ({ Length: > 0 } p, _) => p,
            (_, { } a) => a,
            _ => "",
        };
        if (prompt.Length == 0)
            throw new HerdUsageException("Error: Input must be provided either through stdin or as a prompt argument when using --print");
        if (string.IsNullOrWhiteSpace(prompt))
            throw new HerdUsageException("Error: Input contained only whitespace. Provide a prompt with text through stdin or as a prompt argument when using --print");
        return prompt;
    }

    /// <summary>After SIGTERM nothing more is printed (spec §3.1: no result for the turn in progress).</summary>
    private sealed class UnlessTerminated(IAgentEventSink inner, RunSignals signals) : IAgentEventSink
    {
        public void OnEvent(AgentEvent agentEvent)
        {
            if (!signals.Terminated)
                inner.OnEvent(agentEvent);
        }
    }
}
