using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Herd.Agent;
using Herd.Agent.IO;
using Herd.Fleet.Engines;

namespace Herd.Fleet.Jobs;

/// <summary>Reads task inputs: plain lines (<c>:::</c>, stdin, <c>--input</c>) and NDJSON task files (spec §1).</summary>
public static class TaskSources
{
    public static IReadOnlyList<TaskInput> FromValues(IEnumerable<string> values) => FromValuesLazily(values).ToArray();

    /// <summary>One input per value, made as the sequence is read (issue #23: a plan is stored without a list of its inputs).</summary>
    public static IEnumerable<TaskInput> FromValuesLazily(IEnumerable<string> values)
    {
        foreach (var v in values)
            yield return new TaskInput(null, [v], NoNames, null, TaskCaps.None);
    }

    /// <summary>Plain inputs name nothing; one empty map serves them all (a map each cost ~100 bytes a task).</summary>
    private static readonly IReadOnlyDictionary<string, string> NoNames = new Dictionary<string, string>();

    /// <summary>One input per line; blank lines are skipped (GNU parallel would run an empty job, which costs money here).</summary>
    public static IReadOnlyList<TaskInput> FromLines(TextReader reader) => FromValues(NonBlankLines(reader));

    /// <summary>The non-blank lines of <paramref name="reader"/>, without their line ends, read as they are asked for.</summary>
    public static IEnumerable<string> NonBlankLines(TextReader reader) => NonBlank(reader.ReadLine);

    /// <summary>The non-blank lines of an <c>--input</c> file, read as they are asked for (issue #23).</summary>
    /// <exception cref="HerdUsageException">The file cannot be read any further.</exception>
    public static IEnumerable<string> NonBlankLines(TextLines file) => NonBlank(file.Next);

    private static IEnumerable<string> NonBlank(Func<string?> next)
    {
        while (next() is { } line)
        {
            if (!IsBlank(line))
                yield return line;
        }
    }

    private static bool IsBlank(string line) => line.AsSpan().IsWhiteSpace();

    /// <summary>Opens an <c>--input</c> file: refused now if it is missing, a directory, unreadable or binary.</summary>
    /// <exception cref="HerdUsageException">The file cannot be read.</exception>
    /// <param name="shownAs">The name as the user typed it, for the error message.</param>
    public static TextLines OpenInputFile(string path, string? shownAs = null) => TextLines.Open(path, $"--input '{shownAs ?? path}'");

    /// <summary>Opens a <c>--tasks</c> file: refused now if it is missing, a directory, unreadable or binary.</summary>
    /// <exception cref="HerdUsageException">The file cannot be read.</exception>
    /// <remarks>A pipe is spooled to a temporary file as it is checked, so it is planned from there (read twice).</remarks>
    public static TextLines OpenTasksFile(string path, string? shownAs = null) => TextLines.Open(path, $"--tasks '{shownAs ?? path}'", readTwice: true);

    /// <summary>Most distinct per-task prompts of a tasks file checked for replacements that match no input.</summary>
    public const int MaxCheckedTemplates = 256;

    /// <summary>
    /// <c>{"name":…,"inputs":{…},"prompt":…,"caps":{…}}</c> per line. Every line is checked, in one streaming pass,
    /// before anything runs; the first bad one is reported with file and line so nothing is half-planned. Only what
    /// the checks before the run need is kept (issue #23): the file is read again by <see cref="ReadTasksFile"/> (a pipe
    /// from the temporary file <see cref="OpenTasksFile"/> spools it to).
    /// </summary>
    /// <exception cref="HerdUsageException">The file cannot be read or a line is malformed.</exception>
    /// <param name="shownAs">The name as the user typed it, for error messages.</param>
    public static TasksFileCheck CheckTasksFile(TextLines file, string shownAs)
    {
        var count = 0;
        var anyWithoutPrompt = false;
        var named = new HashSet<string>(StringComparer.Ordinal);
        var templates = new HashSet<string>(StringComparer.Ordinal);
        while (file.Next() is { } line)
        {
            if (IsBlank(line))
                continue;
            var task = ParseTaskLine(line, shownAs, file.LineNumber);
            count++;
            anyWithoutPrompt |= task.PromptTemplate is null;
            named.UnionWith(task.Named.Keys);
            if (task.PromptTemplate is { } own && templates.Count < MaxCheckedTemplates)
                templates.Add(own);
        }
        return new TasksFileCheck(count, anyWithoutPrompt, named, [.. templates]);
    }

    /// <summary>The tasks of a file <see cref="CheckTasksFile"/> passed, parsed again one at a time as they are asked for.</summary>
    public static IEnumerable<TaskInput> ReadTasksFile(TextLines file, string shownAs)
    {
        file.Rewind();
        while (file.Next() is { } line)
        {
            if (!IsBlank(line))
                yield return ParseTaskLine(line, shownAs, file.LineNumber);
        }
    }

    internal static TaskInput ParseTaskLine(string line, string path, int lineNumber)
    {
        string Where() => $"Error: --tasks {path} line {lineNumber.ToString(CultureInfo.InvariantCulture)}";
        JsonNode? node;
        try
        {
            node = JsonNode.Parse(line);
        }
        catch (JsonException ex)
        {
            throw new HerdUsageException($"{Where()}: not valid JSON ({ex.Message}). Each line must be one object like {{\"name\":\"a\",\"inputs\":{{\"file\":\"a.cs\"}},\"prompt\":\"Review {{file}}\"}}.");
        }
        if (node is not JsonObject obj)
            throw new HerdUsageException($"{Where()}: expected a JSON object, got {Kind(node)}.");
        string? name = null, prompt = null;
        var named = new Dictionary<string, string>(StringComparer.Ordinal);
        var values = new List<string>();
        var caps = TaskCaps.None;
        EngineKind? engine = null;
        foreach (var (prop, value) in obj)
        {
            switch (prop)
            {
                case "name":
                    name = value is JsonValue nv && nv.TryGetValue<string>(out var n) ? n : throw new HerdUsageException($"{Where()}: \"name\" must be a string.");
                    break;
                case "prompt":
                    prompt = value is JsonValue pv && pv.TryGetValue<string>(out var p) ? p : throw new HerdUsageException($"{Where()}: \"prompt\" must be a string.");
                    break;
                case "inputs":
                    if (value is not JsonObject inputs)
                        throw new HerdUsageException($"{Where()}: \"inputs\" must be an object of named values, e.g. {{\"file\":\"a.cs\"}}.");
                    foreach (var (k, v) in inputs)
                    {
                        var text = Scalar(v) ?? throw new HerdUsageException($"{Where()}: input \"{k}\" must be a string, number or boolean.");
                        named[k] = text;
                        values.Add(text);
                    }
                    break;
                case "caps":
                    caps = ParseCaps(value, Where);
                    break;
                case "engine":
                    engine = EngineKinds.Parse(Scalar(value) is "agent" ? "herd" : Scalar(value))
                        ?? throw new HerdUsageException($"{Where()}: engine {value?.ToJsonString()} is not one of \"herd\", \"claude\", \"codex\", \"gemini\", \"cmd\".");
                    break;
                default:
                    throw new HerdUsageException($"{Where()}: unknown field \"{prop}\". Allowed: name, inputs, prompt, engine, caps.");
            }
        }
        if (values.Count == 0 && prompt is null)
            throw new HerdUsageException($"{Where()}: a task needs \"inputs\" or its own \"prompt\".");
        return new TaskInput(name, values, named, prompt, engine is null ? caps : caps with { Engine = engine });
    }

    private static TaskCaps ParseCaps(JsonNode? node, Func<string> where)
    {
        if (node is not JsonObject caps)
            throw new HerdUsageException($"{where()}: \"caps\" must be an object like {{\"max_turns\":10,\"max_budget_usd\":0.5,\"timeout_s\":600,\"idle_timeout_s\":300}}.");
        var result = TaskCaps.None;
        foreach (var (k, v) in caps)
        {
            double Number()
            {
                if (v is JsonValue jv && jv.TryGetValue<double>(out var d) && d > 0 && double.IsFinite(d))
                    return d;
                throw new HerdUsageException($"{where()}: caps.{k} must be a positive number.");
            }
            int Count()
            {
                var d = Number();
                if (d != Math.Floor(d) || d > int.MaxValue)
                    throw new HerdUsageException($"{where()}: caps.{k} must be a whole number from 1 to {int.MaxValue} (got {d.ToString(System.Globalization.CultureInfo.InvariantCulture)}).");
                return (int)d;
            }
            TimeSpan Seconds()
            {
                try
                {
                    return Durations.FromSeconds(Number(), $"caps.{k}");
                }
                catch (HerdUsageException ex)
                {
                    throw new HerdUsageException($"{where()}: {ex.Message["Error: ".Length..]}");
                }
            }
            result = k switch
            {
                "max_turns" => result with { MaxTurns = Count() },
                "max_budget_usd" => result with { MaxBudgetUsd = Number() },
                "timeout_s" => result with { Timeout = Seconds() },
                "idle_timeout_s" => result with { IdleTimeout = Seconds() },
                _ => throw new HerdUsageException($"{where()}: unknown cap \"{k}\". Allowed: max_turns, max_budget_usd, timeout_s, idle_timeout_s."),
            };
        }
        return result;
    }

    private static string? Scalar(JsonNode? v) => v is JsonValue value
        ? value.GetValueKind() switch
        {
            JsonValueKind.String => value.GetValue<string>(),
            JsonValueKind.Number or JsonValueKind.True or JsonValueKind.False => value.ToJsonString(),
            _ => null,
        }
        : null;

    private static string Kind(JsonNode? node) => node switch
    {
        null => "null",
        JsonArray => "an array",
        _ => "a " + node.GetValueKind().ToString().ToLowerInvariant(),
    };
}

/// <summary>What the streaming check of a <c>--tasks</c> file found (issue #23).</summary>
/// <param name="Count">Tasks in the file (non-blank lines).</param>
/// <param name="AnyWithoutPrompt">Some task has no prompt of its own.</param>
/// <param name="Named">Every input name the tasks use, for the replacement check.</param>
/// <param name="Templates">The first <see cref="TaskSources.MaxCheckedTemplates"/> distinct per-task prompts.</param>
public sealed record TasksFileCheck(int Count, bool AnyWithoutPrompt, IReadOnlySet<string> Named, IReadOnlyList<string> Templates);
