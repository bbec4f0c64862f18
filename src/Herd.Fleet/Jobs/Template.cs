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

    // GNU parallel semantics: the extension is cut only from the last path component.
    private static string WithoutExtension(string path)
    {
        var slash = path.LastIndexOf('/');
        var dot = path.LastIndexOf('.');
        return dot > slash + 1 ? path[..dot] : path;
    }

    private static string Basename(string path)
    {
        var trimmed = path.Length > 1 ? path.TrimEnd('/') : path;
        var slash = trimmed.LastIndexOf('/');
        return slash < 0 ? trimmed : trimmed[(slash + 1)..];
    }

    private static string Dirname(string path)
    {
        var trimmed = path.Length > 1 ? path.TrimEnd('/') : path;
        var slash = trimmed.LastIndexOf('/');
        return slash < 0 ? "." : slash == 0 ? "/" : trimmed[..slash];
    }
}
