using System.Text;
using System.Text.RegularExpressions;

namespace Herd.Agent.Permissions;

/// <summary>
/// The specifier of a <c>Bash(…)</c> rule in the glob model (spec §6.2): <c>*</c> matches any sequence including
/// spaces, everything else is literal, and a trailing <c> *</c> is a word boundary, so <c>Bash(ls *)</c> matches
/// <c>ls -la</c> and a bare <c>ls</c> but not <c>lsof</c>. A trailing legacy <c>:*</c> means <c> *</c>, and also keeps
/// its old literal reading (<c>test:*</c> matches <c>test:unit</c>) so rules written for the prefix form keep working;
/// <c>npm run testing</c> matches neither.
/// </summary>
internal sealed class BashPattern
{
    private readonly Regex[] _regexes;

    public BashPattern(string specifier)
    {
        Specifier = specifier;
        var forms = new List<string>();
        if (specifier.EndsWith(":*", StringComparison.Ordinal))
        {
            forms.Add(specifier[..^2] + " *");
            forms.Add(specifier);
        }
        else
            forms.Add(specifier);
        _regexes = forms.Select(f => new Regex(ToRegex(f), RegexOptions.NonBacktracking | RegexOptions.CultureInvariant | RegexOptions.Singleline)).ToArray();
        HasWildcard = specifier.Contains('*');
    }

    public string Specifier { get; }

    /// <summary>A rule with <c>*</c> approves by prefix; commands that run other code are never approved that way.</summary>
    public bool HasWildcard { get; }

    public bool Matches(string command) => _regexes.Any(r => r.IsMatch(command));

    private static string ToRegex(string glob)
    {
        var sb = new StringBuilder("^");
        for (var i = 0; i < glob.Length; i++)
        {
            var c = glob[i];
            if (c == ' ' && i == glob.Length - 2 && glob[i + 1] == '*')
            {
                // Trailing " *": the command itself, or the command followed by arguments.
                sb.Append("(?: .*)?");
                break;
            }
            sb.Append(c == '*' ? ".*" : Regex.Escape(c.ToString()));
        }
        return sb.Append('$').ToString();
    }
}
