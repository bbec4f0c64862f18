using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Herd.Agent.Loop;
using Herd.Agent.Models;
using Herd.Fleet.Jobs;

namespace Herd.Fleet.Engines;

/// <summary>
/// <c>--engine cmd --cmd 'TEMPLATE'</c>: any agent or script (aider, goose, opencode, a shell one-liner). The template
/// takes GNU parallel's replacement strings plus <c>{prompt}</c>; every substituted value is quoted for the shell as
/// GNU parallel quotes it, so an input named <c>a;touch x</c> is one argument and runs nothing. The command runs under
/// <c>bash -c</c> in its own process group; its exit code decides the outcome, stdout is the result (or, with
/// <c>--result-json</c>, the last JSON object line of stdout is).
/// </summary>
public sealed class CommandEngine(EngineSpec spec, SpendLedger? runLedger, TimeProvider time) : ProcessEngine(spec, runLedger, time)
{
    public override string Name => "cmd";

    public static string Render(string template, TaskAttempt attempt)
    {
        var task = attempt.Task;
        var named = new Dictionary<string, string>(task.Named, StringComparer.Ordinal);
        named.TryAdd("prompt", attempt.Prompt);
        var input = new TaskInput(task.Name, task.Values, named, null, task.Caps);
        return Template.Render(template, input, task.Seq, attempt.Slot, ShellQuote);
    }

    /// <summary>
    /// GNU parallel's quoting of a replacement value: left bare when it holds only characters the shell never
    /// interprets, otherwise single-quoted with each <c>'</c> written as <c>'\''</c>. The empty string is <c>''</c>.
    /// </summary>
    public static string ShellQuote(string value) => Reports.ShellText.Quote(value);

    protected override EngineLaunch Prepare(TaskAttempt attempt, double? taskCapLeft)
    {
        var command = Render(Spec.CommandTemplate ?? throw new InvalidOperationException("--engine cmd needs --cmd TEMPLATE."), attempt);
        var env = EngineEnvironment.Build(Spec, new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["HERD_TASK"] = attempt.Task.Name,
            ["HERD_TASK_KEY"] = attempt.Task.Key,
            ["HERD_SLOT"] = attempt.Slot.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["HERD_SESSION_ID"] = attempt.SessionId,
        });
        // Stdin gets the prompt too, so `--cmd 'my-agent --stdin'` works without {prompt}.
        return new EngineLaunch(Binary, ["-c", command], attempt.Prompt, env.Values, command);
    }

    protected override EngineStreamReader CreateReader(TaskAttempt attempt, EngineLaunch launch, EngineProgress progress, AttemptMonitor monitor) =>
        new CommandStreamReader(progress, monitor, Spec.ResultJson, Spec.Catalog);
}

/// <summary>
/// Collects a command's stdout (up to 1 MB) as its result. With <c>--result-json</c> the last stdout line that is a JSON
/// object is the structured result; its <c>result</c>, <c>session_id</c>, <c>num_turns</c>, <c>cost_usd</c>,
/// <c>model</c>, <c>usage</c> and <c>is_error</c> fields, where present, fill the record like an agent's.
/// </summary>
public sealed class CommandStreamReader(EngineProgress progress, AttemptMonitor monitor, bool resultJson, ModelCatalog catalog) : EngineStreamReader(progress, monitor)
{
    private const int MaxStdout = 1024 * 1024;
    private readonly StringBuilder _stdout = new();
    private string? _lastJsonLine;

    public override void Feed(string line)
    {
        if (_stdout.Length < MaxStdout)
            _stdout.Append(line).Append('\n');
        var trimmed = line.Trim();
        if (resultJson && trimmed.StartsWith('{') && trimmed.EndsWith('}'))
            _lastJsonLine = trimmed;
        if (ExternalOutcomeClassifier.BackPressureOf(line) is { } status && line.Contains("retry", StringComparison.OrdinalIgnoreCase))
            Monitor.OnBackPressure(status, null);
    }

    public override void Finish(int exitCode, string stderr)
    {
        var stdout = _stdout.ToString().TrimEnd('\n');
        JsonObject? result = null;
        if (_lastJsonLine is not null)
        {
            try
            {
                result = JsonNode.Parse(_lastJsonLine) as JsonObject;
            }
            catch (JsonException)
            {
                result = null;
            }
        }
        Progress.Update(p =>
        {
            p.SawResult = true;
            p.IsError = exitCode != 0;
            p.ResultText = stdout;
            if (exitCode != 0)
            {
                p.Errors.Add($"The command exited with {exitCode}");
                if (ExternalOutcomeClassifier.FromText(stderr) is not null)
                    p.Errors.Add(stderr.Trim());
            }
            if (!resultJson)
                return;
            if (result is null)
            {
                if (exitCode == 0)
                    p.ExplicitClass = OutcomeClass.NoStructuredOutput;
                p.Errors.Add("--result-json: stdout has no JSON object line");
                return;
            }
            p.StructuredOutput = result;
            if ((string?)result["result"] is { } text)
                p.ResultText = text;
            if ((string?)result["session_id"] is { } session)
                p.SessionId = session;
            if ((string?)result["model"] is { } model)
                p.Model = model;
            if (result["num_turns"] is JsonValue turns && turns.TryGetValue<int>(out var n))
                p.Turns = n;
            if (result["is_error"] is JsonValue isError && isError.TryGetValue<bool>(out var e) && e)
                p.IsError = true;
            if (result["usage"] is JsonObject usage)
            {
                p.Usage = Usage.Parse(JsonDocument.Parse(usage.ToJsonString()).RootElement);
                p.PricedCostUsd = catalog.CostOf(p.Model ?? "unknown", p.Usage);
            }
            if ((result["cost_usd"] ?? result["total_cost_usd"]) is JsonValue cost && cost.TryGetValue<double>(out var c))
                p.ReportedCostUsd = c;
        });
        Monitor.OnCost();
    }
}
