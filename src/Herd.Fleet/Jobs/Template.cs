using System.Text;

namespace Herd.Fleet.Jobs;

/// <summary>
/// GNU parallel replacement strings (spec §1): <c>{}</c> input, <c>{.}</c> without extension, <c>{/}</c> basename,
/// <c>{//}</c> dirname, <c>{/.}</c> basename without extension, <c>{#}</c> sequence number, <c>{%}</c> slot number, and
/// <c>{name}</c> for named inputs. Braces that are none of these (JSON in a prompt) are left alone.
/// </summary>
public static class Template
{
    /// <summary>True when the template uses any replacement string; if not, the input is appended, as GNU parallel does.</summary>
    public static bool ReferencesInput(string template, IReadOnlyDictionary<string, string> named)
    {
        foreach (var token in Tokens(template))
        {
            if (token is "" or "." or "/" or "//" or "/." or "#" or "%" || named.ContainsKey(token))
                return true;
        }
        return false;
    }

    /// <param name="slot">The slot number, or null to leave <c>{%}</c> in place (it is rendered when the attempt starts).</param>
    /// <param name="quote">Applied to each substituted value (the cmd engine quotes them for the shell); null = as is.</param>
    public static string Render(string template, TaskInput input, int seq, int? slot, Func<string, string>? quote = null)
    {
        var value = InputText(input);
        var sb = new StringBuilder(template.Length + value.Length);
        var i = 0;
        while (i < template.Length)
        {
            var open = template.IndexOf('{', i);
            if (open < 0)
                break;
            var close = template.IndexOf('}', open + 1);
            if (close < 0)
                break;
            sb.Append(template, i, open - i);
            var token = template.Substring(open + 1, close - open - 1);
            if (Replace(token, value, input, seq, slot) is { } replaced)
            {
                sb.Append(quote is null ? replaced : quote(replaced));
                i = close + 1;
            }
            else
            {
                // Not a replacement string: keep the brace and rescan after it, so "{{}" still finds "{}".
                sb.Append('{');
                i = open + 1;
            }
        }
        sb.Append(template, i, template.Length - i);
        if (!ReferencesInput(template, input.Named) && value.Length > 0)
            sb.Append(' ').Append(quote is null ? value : quote(value));
        return sb.ToString();
    }

    /// <summary><c>{}</c>: the single input, or the values joined by spaces (GNU parallel with several sources).</summary>
    public static string InputText(TaskInput input) => string.Join(' ', input.Values);

    private static string? Replace(string token, string value, TaskInput input, int seq, int? slot) => token switch
    {
        "" => value,
        "." => WithoutExtension(value),
        "/" => Basename(value),
        "//" => Dirname(value),
        "/." => WithoutExtension(Basename(value)),
        "#" => seq.ToString(System.Globalization.CultureInfo.InvariantCulture),
        "%" => slot?.ToString(System.Globalization.CultureInfo.InvariantCulture),
        _ => input.Named.TryGetValue(token, out var named) ? named : null,
    };

    private static IEnumerable<string> Tokens(string template)
    {
        var i = 0;
        while ((i = template.IndexOf('{', i)) >= 0)
        {
            var close = template.IndexOf('}', i + 1);
            if (close < 0)
                yield break;
            var inner = template.Substring(i + 1, close - i - 1);
            if (!inner.Contains('{'))
                yield return inner;
            i++;
        }
    }

    /// <summary>
    /// Tokens that look like replacement strings (<c>{fiel}</c>, <c>{1}</c>) but are neither a built-in one nor a
    /// named input of <paramref name="named"/>: almost always a typo, left in the prompt as written.
    /// JSON in a prompt (<c>{"a": 1}</c>) does not look like one and is not reported.
    /// </summary>
    public static IEnumerable<string> UnknownReplacements(string template, IReadOnlyCollection<string> named) =>
        Tokens(template).Where(t => LooksLikeReplacement(t) && Replace(t, "", EmptyInput, 0, 0) is null && !named.Contains(t)).Distinct(StringComparer.Ordinal);

    private static readonly TaskInput EmptyInput = new(null, [], new Dictionary<string, string>(), null, TaskCaps.None);

    private static bool LooksLikeReplacement(string token) =>
        token.Length is > 0 and <= 64 && token.All(c => char.IsAsciiLetterOrDigit(c) || c is '_' or '-' or '.' or '/');

    // GNU parallel's own rules, checked against parallel 20221122 (docs/fanout.md lists them):
    //   {.}  = s:\.[^/.]*$::   so ".bashrc" gives "" and "file." gives "file"
    //   {/}  = s:.*/::          so "dir/" gives ""
    //   {//} = File::Basename::dirname, which ignores a trailing slash: "dir/" gives ".", "/a/b/" gives "/a"
    //   {/.} = {/} then {.}
    private static string WithoutExtension(string path)
    {
        var slash = path.LastIndexOf('/');
        var dot = path.LastIndexOf('.');
        return dot > slash ? path[..dot] : path;
    }

    private static string Basename(string path) => path[(path.LastIndexOf('/') + 1)..];

    private static string Dirname(string path)
    {
        var trimmed = path.Length > 1 ? path.TrimEnd('/') : path;
        if (trimmed.Length == 0)
            return "/";
        var slash = trimmed.LastIndexOf('/');
        return slash < 0 ? "." : slash == 0 ? "/" : trimmed[..slash].TrimEnd('/') is { Length: > 0 } d ? d : "/";
    }
}
