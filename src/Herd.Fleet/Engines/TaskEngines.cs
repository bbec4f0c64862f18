using Herd.Agent.Loop;

namespace Herd.Fleet.Engines;

/// <summary>An engine cannot be used as specified (its CLI is missing, --cmd is absent): one actionable line.</summary>
/// <summary>The engine cannot run here: its CLI is missing, or a cmd engine has no template. Fix the flags or install it.</summary>
public sealed class EngineUnavailableException(string message) : Herd.Agent.HerdException(message)
{
    public override bool IsFatal => false;
}

/// <summary>
/// The one place that turns an <see cref="EngineSpec"/> into an <see cref="ITaskEngine"/> (issue #13). The CLI binds
/// <c>--engine</c>, <c>--cmd</c>, <c>--result-json</c>, <c>--engine-bin</c> and <c>--engine-env</c> into the spec;
/// tests build specs directly.
/// </summary>
public static class TaskEngines
{
    /// <summary>
    /// Where the pinned CLIs are installed when not on PATH: <c>$HERD_CLIS/node_modules/.bin</c>, default
    /// <c>/opt/herd-clis</c> (.ci/run installs them there).
    /// </summary>
    public const string CliPrefixVariable = "HERD_CLIS";

    public const string DefaultCliPrefix = "/opt/herd-clis";

    /// <param name="inProcess">Builds the in-process engine for <see cref="EngineKind.Herd"/> (it needs the model client).</param>
    /// <param name="runLedger">The run-wide ceiling; external engines reserve on it and are stopped when it cannot hold them.</param>
    /// <exception cref="EngineUnavailableException">The engine's CLI cannot be found, or a cmd engine has no template.</exception>
    /// <remarks>The engine returned also runs the tasks that name another engine in <c>--tasks</c> (<see cref="PerTaskEngine"/>).</remarks>
    public static ITaskEngine Create(EngineSpec spec, Func<ITaskEngine> inProcess, SpendLedger? runLedger, TimeProvider time) =>
        new PerTaskEngine(CreateOne(spec, inProcess, runLedger, time), spec.Kind, kind => CreateOne(spec with { Kind = kind, CommandTemplate = kind == EngineKind.Cmd ? spec.CommandTemplate : null }, inProcess, runLedger, time), time);

    private static ITaskEngine CreateOne(EngineSpec spec, Func<ITaskEngine> inProcess, SpendLedger? runLedger, TimeProvider time)
    {
        switch (spec.Kind)
        {
            case EngineKind.Herd:
                return inProcess();
            case EngineKind.Cmd:
                if (string.IsNullOrWhiteSpace(spec.CommandTemplate))
                    throw new EngineUnavailableException("herd run: --engine cmd needs --cmd 'TEMPLATE' (e.g. --cmd 'my-agent --file {} --prompt {prompt}').");
                var shell = new[] { "/bin/bash", "/usr/bin/bash", "/bin/sh" }.FirstOrDefault(File.Exists) ?? "sh";
                return new CommandEngine(spec, runLedger, time) { Binary = shell };
        }
        if (spec.CommandTemplate is not null)
            throw new EngineUnavailableException($"herd run: --cmd applies only to --engine cmd (got --engine {spec.Kind.Name()}).");
        var binary = Resolve(spec);
        return spec.Kind switch
        {
            EngineKind.Claude => new ClaudeEngine(spec, runLedger, time) { Binary = binary },
            EngineKind.Codex => new CodexEngine(spec, runLedger, time) { Binary = binary },
            EngineKind.Gemini => new GeminiEngine(spec, runLedger, time) { Binary = binary },
            _ => throw new EngineUnavailableException($"herd run: unknown engine '{spec.Kind}'."),
        };
    }

    /// <summary>npm package of each CLI (for the message that says how to install it).</summary>
    public static string PackageOf(EngineKind kind) => kind switch
    {
        EngineKind.Claude => "@anthropic-ai/claude-code",
        EngineKind.Codex => "@openai/codex",
        EngineKind.Gemini => "@google/gemini-cli",
        _ => "",
    };

    /// <summary>--engine-bin, then PATH, then <c>$HERD_CLIS</c> (default /opt/herd-clis).</summary>
    public static string Resolve(EngineSpec spec)
    {
        var name = spec.Kind.Name();
        if (spec.BinaryPath is { } given)
        {
            return File.Exists(given) ? Path.GetFullPath(given)
                : throw new EngineUnavailableException($"herd run: --engine-bin '{given}' does not exist. Pass the path of the {name} executable.");
        }
        var source = EngineEnvironment.Source(spec);
        var found = FindBinary(name, source);
        return found ?? throw new EngineUnavailableException(
            $"herd run: --engine {name} needs the `{name}` CLI: not on PATH nor under ${CliPrefixVariable}. Install it (npm install -g {PackageOf(spec.Kind)}) or pass --engine-bin PATH.");
    }

    public static string? FindBinary(string name, IReadOnlyDictionary<string, string> env)
    {
        var path = env.TryGetValue("PATH", out var p) ? p : "";
        foreach (var dir in path.Split(':', StringSplitOptions.RemoveEmptyEntries))
        {
            var candidate = Path.Combine(dir, name);
            if (File.Exists(candidate))
                return candidate;
        }
        var prefix = env.TryGetValue(CliPrefixVariable, out var pre) && pre.Length > 0 ? pre : DefaultCliPrefix;
        var installed = Path.Combine(prefix, "node_modules", ".bin", name);
        return File.Exists(installed) ? installed : null;
    }
}
