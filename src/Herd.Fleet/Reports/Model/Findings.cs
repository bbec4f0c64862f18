using System.Text.Json;
using Herd.Agent;

namespace Herd.Fleet.Reports;

/// <summary>
/// Herd's one severity scale, ordered. It is GitLab Code Quality's five levels, the finest of the formats Herd writes;
/// SARIF levels and GitHub annotation kinds are derived from it (see <see cref="SeverityExtensions"/>).
/// </summary>
public enum Severity
{
    Info,
    Minor,
    Major,
    Critical,
    Blocker,
}

public static class SeverityExtensions
{
    public static string Name(this Severity s) => s switch
    {
        Severity.Info => "info",
        Severity.Minor => "minor",
        Severity.Major => "major",
        Severity.Critical => "critical",
        _ => "blocker",
    };

    /// <summary>SARIF <c>result.level</c>: GitHub code scanning shows error, warning and note.</summary>
    public static string SarifLevel(this Severity s) => s switch
    {
        Severity.Info or Severity.Minor => "note",
        Severity.Major => "warning",
        _ => "error",
    };

    /// <summary>The GitHub workflow command (<c>::error</c>, <c>::warning</c>, <c>::notice</c>).</summary>
    public static string GitHubCommand(this Severity s) => s switch
    {
        Severity.Info or Severity.Minor => "notice",
        Severity.Major => "warning",
        _ => "error",
    };

    public static bool TryParse(string value, out Severity severity)
    {
        foreach (var s in Enum.GetValues<Severity>())
        {
            if (string.Equals(s.Name(), value.Trim(), StringComparison.OrdinalIgnoreCase))
            {
                severity = s;
                return true;
            }
        }
        severity = default;
        return false;
    }
}

/// <summary>
/// Maps the severity words models and prompts use onto <see cref="Severity"/>. The built-in words cover the common
/// scales (low/medium/high, note/warning/error, P0–P3, …); <c>--severity-map word=level,…</c> adds or overrides words.
/// An unknown word counts as major, so an unexpected label never hides a finding from a gate.
/// </summary>
public sealed class SeverityMap
{
    private static readonly (string Word, Severity Level)[] Builtin =
    [
        ("info", Severity.Info), ("information", Severity.Info), ("informational", Severity.Info), ("note", Severity.Info),
        ("notice", Severity.Info), ("hint", Severity.Info), ("suggestion", Severity.Info), ("style", Severity.Info), ("nit", Severity.Info),
        ("none", Severity.Info), ("trivial", Severity.Info), ("p4", Severity.Info),
        ("low", Severity.Minor), ("minor", Severity.Minor), ("warning", Severity.Minor), ("warn", Severity.Minor), ("p3", Severity.Minor),
        ("medium", Severity.Major), ("moderate", Severity.Major), ("major", Severity.Major), ("error", Severity.Major), ("p2", Severity.Major),
        ("high", Severity.Critical), ("critical", Severity.Critical), ("severe", Severity.Critical), ("important", Severity.Critical), ("p1", Severity.Critical),
        ("blocker", Severity.Blocker), ("fatal", Severity.Blocker), ("p0", Severity.Blocker),
    ];

    private readonly Dictionary<string, Severity> _words = new(StringComparer.OrdinalIgnoreCase);

    public SeverityMap(IReadOnlyDictionary<string, Severity>? overrides = null)
    {
        foreach (var (word, level) in Builtin)
            _words[word] = level;
        if (overrides is not null)
        {
            foreach (var (word, level) in overrides)
                _words[word] = level;
        }
    }

    public static SeverityMap Default { get; } = new();

    /// <summary>Parses <c>word=level,word=level</c>; levels are info, minor, major, critical, blocker.</summary>
    /// <exception cref="Herd.Agent.HerdUsageException">A pair without '=' or an unknown level; the message names it.</exception>
    public static SeverityMap Parse(string spec)
    {
        var map = new Dictionary<string, Severity>(StringComparer.OrdinalIgnoreCase);
        foreach (var pair in spec.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var eq = pair.IndexOf('=', StringComparison.Ordinal);
            if (eq <= 0 || !SeverityExtensions.TryParse(pair[(eq + 1)..], out var level))
                throw new HerdUsageException($"Error: --severity-map: '{pair}' is not word=level (levels: info, minor, major, critical, blocker), e.g. --severity-map P1=critical,P2=major");
            map[pair[..eq].Trim()] = level;
        }
        return new SeverityMap(map);
    }

    public Severity Map(string? word) => word is not null && _words.TryGetValue(word.Trim(), out var s) ? s : Severity.Major;
}

/// <summary>One finding a review task reported.</summary>
/// <param name="Line">1-based, or null when the finding names no line.</param>
/// <param name="Rule">The finding's own rule/check/category, if it gave one.</param>
public sealed record Finding(string TaskKey, string TaskName, Severity Severity, string SeverityLabel, string? File, int? Line, string Message, string? Rule);

/// <summary>Where the findings sit in a task's structured output, and how their severities read.</summary>
/// <param name="Path">Dotted path to the list, e.g. <c>issues</c> (default), <c>review.findings</c>, <c>$.results</c>; <c>$</c> for a top-level array.</param>
public sealed record FindingsOptions(string Path, SeverityMap Severities)
{
    public static FindingsOptions Default { get; } = new("issues", SeverityMap.Default);
}

/// <summary>
/// Pulls findings out of the structured output of tasks run with <c>--json-schema</c>. The default shape is the seed's
/// slide 10, <c>{"issues":[{"severity","file","line","message"}]}</c>; the usual synonyms of each field (path,
/// start_line, description, level, rule, …) are read too, so most review schemas need only <c>--findings PATH</c>.
/// </summary>
public static class FindingExtractor
{
    private static readonly string[] FileNames = ["file", "path", "filename", "file_path", "filePath", "location"];
    private static readonly string[] LineNames = ["line", "start_line", "startLine", "line_number", "lineNumber", "begin", "lines"];
    private static readonly string[] MessageNames = ["message", "description", "text", "title", "summary", "issue", "finding", "body"];
    private static readonly string[] SeverityNames = ["severity", "level", "priority", "impact"];
    // Not "id": a finding's own id is usually unique, which would make one rule per finding.
    private static readonly string[] RuleNames = ["rule", "rule_id", "ruleId", "check", "check_name", "category", "type"];

    public static IEnumerable<Finding> Extract(ReportTask task, FindingsOptions options)
    {
        if (task.StructuredOutput is not { } output || Locate(output, options.Path) is not { ValueKind: JsonValueKind.Array } list)
            yield break;
        foreach (var item in list.EnumerateArray())
        {
            if (item.ValueKind == JsonValueKind.String)
            {
                yield return new Finding(task.Key, task.Name, Severity.Major, "", null, null, item.GetString()!, null);
                continue;
            }
            if (item.ValueKind != JsonValueKind.Object)
                continue;
            var label = Text(item, SeverityNames);
            var message = Text(item, MessageNames) ?? item.GetRawText();
            yield return new Finding(task.Key, task.Name, options.Severities.Map(label), label ?? "", FilePath(item), LineOf(item), message, Text(item, RuleNames));
        }
    }

    private static JsonElement? Locate(JsonElement root, string path)
    {
        var p = path.Trim();
        if (p.StartsWith('$'))
            p = p[1..].TrimStart('.');
        var current = root;
        foreach (var segment in p.Split('.', StringSplitOptions.RemoveEmptyEntries))
        {
            var name = segment.EndsWith("[*]", StringComparison.Ordinal) ? segment[..^3] : segment.EndsWith("[]", StringComparison.Ordinal) ? segment[..^2] : segment;
            if (current.ValueKind != JsonValueKind.Object || !current.TryGetProperty(name, out current))
                return null;
        }
        return current;
    }

    private static string? Text(JsonElement item, string[] names)
    {
        foreach (var n in names)
        {
            if (item.TryGetProperty(n, out var v))
            {
                if (v.ValueKind == JsonValueKind.String && v.GetString() is { Length: > 0 } s)
                    return s;
                if (v.ValueKind == JsonValueKind.Number)
                    return v.GetRawText();
            }
        }
        return null;
    }

    private static string? FilePath(JsonElement item)
    {
        foreach (var n in FileNames)
        {
            if (!item.TryGetProperty(n, out var v))
                continue;
            if (v.ValueKind == JsonValueKind.String && v.GetString() is { Length: > 0 } s)
                return s;
            // GitLab-like nesting: {"location":{"path":"a.cs","lines":{"begin":3}}}
            if (v.ValueKind == JsonValueKind.Object && FilePath(v) is { } nested)
                return nested;
        }
        return null;
    }

    private static int? LineOf(JsonElement item)
    {
        foreach (var n in LineNames)
        {
            if (!item.TryGetProperty(n, out var v))
                continue;
            if (v.ValueKind == JsonValueKind.Number && v.TryGetInt32(out var i))
                return i > 0 ? i : null;
            if (v.ValueKind == JsonValueKind.String && int.TryParse(v.GetString(), System.Globalization.NumberStyles.Integer, System.Globalization.CultureInfo.InvariantCulture, out var j))
                return j > 0 ? j : null;
            if (v.ValueKind == JsonValueKind.Object && LineOf(v) is { } nested)
                return nested;
        }
        return item.TryGetProperty("location", out var loc) && loc.ValueKind == JsonValueKind.Object ? LineOf(loc) : null;
    }
}

/// <summary>
/// The most severe findings of a run read one at a time, at most <c>capacity</c> of them kept whatever the run's size:
/// by severity, then file, line and task, then the order they were read.
/// </summary>
public sealed class TopFindings(int capacity)
{
    private readonly List<(Finding Finding, long Order)> _kept = [];

    /// <value>Findings added, kept or not.</value>
    public long Count { get; private set; }

    public void Add(Finding finding)
    {
        _kept.Add((finding, Count++));
        // Sorting only now and then keeps adding cheap; the list never holds more than about twice the capacity.
        if (_kept.Count >= 2 * capacity + 64)
            Trim();
    }

    /// <value>The kept findings, most severe first.</value>
    public IReadOnlyList<Finding> Items
    {
        get
        {
            Trim();
            return _kept.Select(f => f.Finding).ToArray();
        }
    }

    /// <summary>Most severe first, then by file, line and task; equal ones in the order read.</summary>
    public static int Compare(Finding x, long xOrder, Finding y, long yOrder)
    {
        var c = y.Severity.CompareTo(x.Severity);
        return c != 0 ? c : ComparePlace(x.File, x.Line, x.TaskName, xOrder, y.File, y.Line, y.TaskName, yOrder);
    }

    /// <summary>Among equally severe ones: by file, line and task, then the order read (every format orders them so).</summary>
    internal static int ComparePlace(string? xFile, int? xLine, string xTask, long xOrder, string? yFile, int? yLine, string yTask, long yOrder)
    {
        var c = string.CompareOrdinal(xFile, yFile);
        if (c == 0)
            c = (xLine ?? 0).CompareTo(yLine ?? 0);
        if (c == 0)
            c = string.CompareOrdinal(xTask, yTask);
        return c != 0 ? c : xOrder.CompareTo(yOrder);
    }

    private void Trim()
    {
        _kept.Sort((x, y) => Compare(x.Finding, x.Order, y.Finding, y.Order));
        if (_kept.Count > capacity)
            _kept.RemoveRange(capacity, _kept.Count - capacity);
    }
}
