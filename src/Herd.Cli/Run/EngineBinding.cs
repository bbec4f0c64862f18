using Herd.Agent;
using Herd.Cli.Print;
using Herd.Fleet.Engines;
using Herd.Fleet.Runs;

namespace Herd.Cli.Run;

/// <summary>
/// Binds <c>--engine</c>, <c>--cmd</c>, <c>--result-json</c>, <c>--engine-bin</c>, <c>--engine-env</c> and the agent
/// flags an external CLI understands into the run definition's <see cref="EngineDefinition"/> (issue #13, #18);
/// <see cref="RunAssembly"/> builds the engine from it on every host.
/// </summary>
public static class EngineBinding
{
        public static readonly OptionSpec Engine = new(["--engine"], Arity.Value, "What runs each task: herd (default, in-process), claude, codex, gemini or cmd (docs/engines.md)", "name");
    public static readonly OptionSpec Cmd = new(["--cmd"], Arity.Value, "With --engine cmd: the command template ({} {.} {/} {//} {/.} {#} {%} {name} {prompt}, each value shell-quoted)", "template");
    public static readonly OptionSpec ResultJson = new(["--result-json"], Arity.Flag, "With --engine cmd: the last JSON object line of stdout is the task's result");
    public static readonly OptionSpec EngineBin = new(["--engine-bin"], Arity.Value, "Path of the engine's CLI (default: found on PATH, then under $HERD_CLIS)", "path");
    public static readonly OptionSpec EngineEnv = new(["--engine-env"], Arity.Value, "Set KEY=VALUE in every engine process's environment (repeatable)", "key=value");

    public static readonly IReadOnlyList<OptionSpec> Options =
    [
        Engine,
        Cmd,
        ResultJson,
        EngineBin,
        EngineEnv,
    ];

    /// <summary>The engine kind of <c>--engine</c>; a usage error names the choices.</summary>
    public static EngineKind Kind(ParsedArguments args)
    {
        var name = args.Value(EngineBinding.Engine) ?? "herd";
        var kind = EngineKinds.Parse(name)
            ?? throw new HerdUsageException($"Error: --engine '{name}' is not one of herd, claude, codex, gemini, cmd.");
        if (kind != EngineKind.Cmd && (args.Has(EngineBinding.Cmd) || args.Has(EngineBinding.ResultJson)))
            throw new HerdUsageException("Error: --cmd and --result-json apply only to --engine cmd.");
        if (kind == EngineKind.Cmd && !args.Has(EngineBinding.Cmd))
            throw new HerdUsageException("Error: --engine cmd needs --cmd 'TEMPLATE', e.g. --cmd 'my-agent --file {} --prompt {prompt}'.");
        return kind;
    }

    /// <summary>
    /// Whether the tasks need a prompt: every engine but a <c>--cmd</c> template that never uses <c>{prompt}</c>, which
    /// runs like GNU parallel (<c>herd run --engine cmd --cmd 'wc -l {}' ::: *.py</c>).
    /// </summary>
    public static bool NeedsPrompt(ParsedArguments args, EngineKind kind) =>
        kind != EngineKind.Cmd || args.Value(Cmd) is not { } template || template.Contains("{prompt}", StringComparison.Ordinal);

    /// <summary>The engine part of the run's definition; where its CLI is found is checked by <see cref="RunDefinitionBinding.Check"/>.</summary>
    public static EngineDefinition Definition(ParsedArguments args, EngineKind kind, AgentSetup setup, double? taskBudget, bool denialIsSuccess, string cwd)
    {
        var extra = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var pair in args.Values(EngineBinding.EngineEnv))
        {
            var eq = pair.IndexOf('=');
            if (eq <= 0)
                throw new HerdUsageException($"Error: --engine-env '{pair}' must be KEY=VALUE.");
            extra[pair[..eq]] = pair[(eq + 1)..];
        }
        return new EngineDefinition(kind)
        {
            CommandTemplate = args.Value(EngineBinding.Cmd),
            ResultJson = args.Has(EngineBinding.ResultJson),
            BinaryPath = args.Value(EngineBinding.EngineBin) is { } bin ? Path.GetFullPath(bin, cwd) : null,
            ExtraEnvironment = extra,
            Flags = new AgentFlags
            {
                Model = setup.ModelFlag,
                AllowedTools = args.Values(PrintOptions.AllowedTools).ToArray(),
                DisallowedTools = args.Values(PrintOptions.DisallowedTools).ToArray(),
                MaxTurns = setup.MaxTurns,
                MaxBudgetUsd = taskBudget,
                JsonSchema = args.Value(PrintOptions.JsonSchema),
                SystemPrompt = args.Value(PrintOptions.SystemPrompt),
                AppendSystemPrompt = args.Value(PrintOptions.AppendSystemPrompt),
                PermissionMode = args.Value(PrintOptions.PermissionMode),
                DenialIsSuccess = denialIsSuccess,
            },
        };
    }
}
