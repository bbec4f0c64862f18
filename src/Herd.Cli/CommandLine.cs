using Herd.Agent;

namespace Herd.Cli;

/// <summary>How many values an option takes.</summary>
public enum Arity
{
    /// <summary>A switch: <c>--verbose</c>.</summary>
    Flag,

    /// <summary>One value: <c>--model sonnet</c> or <c>--model=sonnet</c>.</summary>
    Value,

    /// <summary>Values up to the next option; each may hold several split on commas/spaces outside parentheses.</summary>
    Variadic,

    /// <summary>Values up to the next option, each kept whole: <c>--mcp-config a.json '{"mcpServers":{…}}'</c>.</summary>
    VariadicWhole,

    /// <summary>A switch that may take one of its <see cref="OptionSpec.Choices"/>: <c>--sandbox</c>, <c>--sandbox off</c>.</summary>
    OptionalValue,
}

/// <summary>One option of a command: its spellings, arity and help.</summary>
/// <param name="AcceptOnly">Parsed for compatibility with Claude Code but without effect in Herd: warns once.</param>
/// <param name="Choices">For <see cref="Arity.OptionalValue"/>: the words taken as its value; anything else is the next argument.</param>
public sealed record OptionSpec(string[] Names, Arity Arity, string Help, string? ValueName = null, bool Hidden = false, bool AcceptOnly = false, IReadOnlyList<string>? Choices = null)
{
    public string Key => Names.First(n => n.StartsWith("--", StringComparison.Ordinal));
}

/// <summary>What a parse produced: option values by key and positional arguments.</summary>
public sealed class ParsedArguments
{
    private readonly Dictionary<string, List<string>> _values = new(StringComparer.Ordinal);

    public List<string> Positionals { get; } = [];

    public List<string> AcceptedWithoutEffect { get; } = [];

    public bool Has(OptionSpec option) => _values.ContainsKey(option.Key);

    public string? Value(OptionSpec option) => Value(option.Key);

    public IReadOnlyList<string> Values(OptionSpec option) => Values(option.Key);

    /// <summary>A copy without <paramref name="option"/>: for a command that gives a shared flag its own meaning.</summary>
    public ParsedArguments Without(OptionSpec option)
    {
        var copy = new ParsedArguments();
        foreach (var (key, values) in _values.Where(kv => kv.Key != option.Key))
            copy._values[key] = [.. values];
        copy.Positionals.AddRange(Positionals);
        copy.AcceptedWithoutEffect.AddRange(AcceptedWithoutEffect);
        return copy;
    }

    // Looked up by key only here: every caller names an OptionSpec field, so a misspelt flag does not compile.
    private bool Has(string key) => _values.ContainsKey(key);

    private string? Value(string key) => _values.TryGetValue(key, out var v) && v.Count > 0 ? v[^1] : null;

    private IReadOnlyList<string> Values(string key) => _values.TryGetValue(key, out var v) ? v : [];

    internal void Add(string key, string? value)
    {
        if (!_values.TryGetValue(key, out var list))
            _values[key] = list = [];
        if (value is not null)
            list.Add(value);
    }
}

/// <summary>
/// A small parser with commander.js semantics, because every <c>claude -p</c> command line must parse the same way:
/// <c>--flag=value</c>, variadic rule lists split on commas outside parentheses (<c>"Bash(git log *),Read"</c>),
/// hidden options, and <c>error: unknown option '--x'</c> for anything else.
/// </summary>
public static class CommandLineParser
{
    /// <param name="command">
    /// The Herd command whose flags these are. Null for <c>herd -p</c>, whose errors are commander's, word for word as
    /// Claude Code prints them (<c>error: unknown option '--x'</c>); every other command uses the house form and points
    /// to its help (<c>Error: unknown option '--x'. See `herd run --help`.</c>).
    /// </param>
    /// <exception cref="HerdUsageException">An unknown option or a missing value.</exception>
    public static ParsedArguments Parse(IReadOnlyList<string> args, IReadOnlyList<OptionSpec> specs, CommandExits? command = null)
    {
        HerdUsageException Refuse(string commanderText) =>
            new(command is null ? $"error: {commanderText}" : $"Error: {commanderText}. {command.HelpHint}");

        var byName = new Dictionary<string, OptionSpec>(StringComparer.Ordinal);
        foreach (var spec in specs)
            foreach (var name in spec.Names)
                byName[name] = spec;

        var parsed = new ParsedArguments();
        var onlyPositionals = false;
        for (var i = 0; i < args.Count; i++)
        {
            var arg = args[i];
            if (onlyPositionals || arg == "-" || !arg.StartsWith('-') || IsNegativeNumber(arg))
            {
                parsed.Positionals.Add(arg);
                continue;
            }
            if (arg == "--")
            {
                onlyPositionals = true;
                continue;
            }
            string name = arg;
            string? inline = null;
            var eq = arg.IndexOf('=');
            if (arg.StartsWith("--", StringComparison.Ordinal) && eq > 2)
            {
                name = arg[..eq];
                inline = arg[(eq + 1)..];
            }
            if (!byName.TryGetValue(name, out var option))
                throw Refuse($"unknown option '{name}'");
            if (option.AcceptOnly && !parsed.AcceptedWithoutEffect.Contains(option.Key))
                parsed.AcceptedWithoutEffect.Add(option.Key);
            switch (option.Arity)
            {
                case Arity.Flag:
                    if (inline is not null)
                        throw Refuse($"option '{name}' does not take a value");
                    parsed.Add(option.Key, null);
                    break;
                case Arity.Value:
                    if (inline is null)
                    {
                        if (i + 1 >= args.Count)
                            throw Refuse($"option '{OptionLabel(option)}' argument missing");
                        inline = args[++i];
                    }
                    parsed.Add(option.Key, inline);
                    break;
                case Arity.OptionalValue:
                    if (inline is null && i + 1 < args.Count && option.Choices?.Contains(args[i + 1]) == true)
                        inline = args[++i];
                    parsed.Add(option.Key, null);
                    if (inline is not null)
                        parsed.Add(option.Key, inline);
                    break;
                case Arity.Variadic or Arity.VariadicWhole:
                    var any = false;
                    var split = option.Arity == Arity.Variadic;
                    if (inline is not null)
                    {
                        AddValue(parsed, option.Key, inline, split);
                        any = true;
                    }
                    while (inline is null && i + 1 < args.Count && !(args[i + 1].StartsWith('-') && args[i + 1].Length > 1))
                    {
                        AddValue(parsed, option.Key, args[++i], split);
                        any = true;
                    }
                    if (!any)
                        parsed.Add(option.Key, null);
                    break;
            }
        }
        return parsed;
    }

    private static string OptionLabel(OptionSpec o) => string.Join(", ", o.Names) + (o.ValueName is null ? "" : $" <{o.ValueName}>");

    private static bool IsNegativeNumber(string arg) => arg.Length > 1 && arg[0] == '-' && char.IsAsciiDigit(arg[1]);

    private static void AddValue(ParsedArguments parsed, string key, string value, bool split)
    {
        if (!split)
        {
            parsed.Add(key, value);
            return;
        }
        // Register the option even when the value splits into nothing: `--tools ""` means "no tools", not "absent".
        parsed.Add(key, null);
        foreach (var part in SplitList(value))
            parsed.Add(key, part);
    }

    /// <summary>Splits <c>"Bash(git log *),Read Edit"</c> into rules, never inside parentheses (spec §1.1).</summary>
    public static IReadOnlyList<string> SplitList(string value)
    {
        var parts = new List<string>();
        var depth = 0;
        var start = 0;
        for (var i = 0; i < value.Length; i++)
        {
            var c = value[i];
            if (c == '\\' && i + 1 < value.Length)
            {
                i++;
                continue;
            }
            if (c == '(')
                depth++;
            else if (c == ')' && depth > 0)
                depth--;
            else if (depth == 0 && (c == ',' || char.IsWhiteSpace(c)))
            {
                if (i > start)
                    parts.Add(value[start..i]);
                start = i + 1;
            }
        }
        if (start < value.Length)
            parts.Add(value[start..]);
        return parts;
    }

    /// <summary>Help text from the option table.</summary>
    public static string FormatHelp(string usage, string description, IReadOnlyList<OptionSpec> specs, string? footer = null)
    {
        var sb = new System.Text.StringBuilder();
        sb.AppendLine($"Usage: {usage}").AppendLine().AppendLine(description).AppendLine().AppendLine("Options:");
        var rows = specs.Where(s => !s.Hidden)
            .Select(s => (Left: string.Join(", ", s.Names) + (s.ValueName is null ? "" : s.Arity is Arity.Variadic or Arity.VariadicWhole ? $" <{s.ValueName}...>" : s.Arity == Arity.OptionalValue ? $" [{s.ValueName}]" : $" <{s.ValueName}>"), s.Help))
            .ToList();
        var width = Math.Min(44, rows.Max(r => r.Left.Length) + 2);
        foreach (var (left, help) in rows)
        {
            if (left.Length + 2 > width)
                sb.Append("  ").AppendLine(left).Append(' ', width + 2).AppendLine(help);
            else
                sb.Append("  ").Append(left.PadRight(width)).AppendLine(help);
        }
        // Flags kept only so that Claude Code command lines keep working are named too: help lists every flag.
        var accepted = specs.Where(s => s.Hidden).Select(s => s.Key).ToArray();
        if (accepted.Length > 0)
        {
            sb.AppendLine().Append("Accepted for compatibility, without effect (a warning says so):");
            var column = int.MaxValue;
            foreach (var key in accepted)
            {
                if (column + key.Length + 1 > 100)
                {
                    sb.AppendLine().Append(' ');
                    column = 1;
                }
                sb.Append(' ').Append(key);
                column += key.Length + 1;
            }
            sb.AppendLine();
        }
        if (footer is not null)
            sb.AppendLine().Append(footer);
        return sb.ToString();
    }
}
