using System.Text;

namespace Herd.Agent.Permissions;

/// <summary>One shell word: its value after quote removal, and what the shell could still change about it.</summary>
/// <param name="Value">The word as the command will receive it, when <paramref name="IsDynamic"/> is false.</param>
/// <param name="Raw">The source text of the word, quotes included.</param>
/// <param name="IsDynamic">Holds a <c>$var</c>, <c>$(…)</c>, backticks or process substitution: its value is unknown.</param>
/// <param name="HasGlob">Holds an unquoted <c>*</c>, <c>?</c>, <c>[</c> or <c>{</c>: the shell may expand it to other words.</param>
/// <param name="AssignmentName">For a leading <c>NAME=value</c> word, the unquoted name.</param>
internal sealed record ShellWord(string Value, string Raw, bool IsDynamic, bool HasGlob, string? AssignmentName = null);

/// <summary>A redirection: <c>&gt; file</c>, <c>2&gt;&gt; file</c>, <c>&lt; file</c>, <c>&gt;&amp;2</c>.</summary>
/// <param name="Target">The file, or null for a descriptor duplication such as <c>2&gt;&amp;1</c>.</param>
internal sealed record ShellRedirect(string Op, ShellWord? Target)
{
    public bool IsOutput => Op.Contains('>');
}

/// <summary>A simple command of the list: words and redirections. It may have come from inside <c>$(…)</c> or a subshell.</summary>
internal sealed record SimpleCommand(IReadOnlyList<ShellWord> Words, IReadOnlyList<ShellRedirect> Redirects, bool IsNested);

/// <summary>Every simple command of a command line, or why it could not be split with certainty.</summary>
internal sealed record ShellParse(IReadOnlyList<SimpleCommand> Commands, string? Error)
{
    public bool Succeeded => Error is null;
}

/// <summary>
/// Splits a bash command line into its simple commands the way bash would (spec §6.2, compound commands): on
/// <c>&amp;&amp; || ; | |&amp; &amp;</c> and newlines outside quotes, descending into <c>( … )</c>, <c>$(…)</c>, backticks and
/// <c>&lt;(…)</c>/<c>&gt;(…)</c>. It is deliberately a subset of bash: anything it cannot split with certainty (heredocs,
/// <c>${…}</c>, arithmetic, ANSI-C quoting, control keywords, unbalanced quotes, control characters) is an error, and
/// the caller denies the command. Getting a split wrong would let <c>safe; evil</c> pass as <c>safe</c>, so when in doubt
/// this parser refuses rather than guesses.
/// </summary>
internal sealed class ShellParser
{
    private const int MaxDepth = 20;

    private static readonly HashSet<string> Keywords = new(StringComparer.Ordinal)
    {
        "if", "then", "else", "elif", "fi", "for", "while", "until", "do", "done", "case", "esac", "select", "function",
        "{", "}", "[[", "]]", "!", "coproc",
    };

    private readonly string _s;
    private readonly List<SimpleCommand> _commands = [];
    private int _pos;

    private ShellParser(string s) => _s = s;

    public static ShellParse Parse(string command)
    {
        var parser = new ShellParser(command);
        try
        {
            parser.ParseList(depth: 0, closer: null);
            return new ShellParse(parser._commands, null);
        }
        catch (ShellSyntaxException ex)
        {
            return new ShellParse(parser._commands, ex.Message);
        }
    }

    private sealed class ShellSyntaxException(string message) : HerdException(message)
{
    public override bool IsFatal => false;
}

    private static ShellSyntaxException Fail(string why) => new(why);

    private char Peek(int ahead = 0) => _pos + ahead < _s.Length ? _s[_pos + ahead] : '\0';

    private bool AtEnd => _pos >= _s.Length;

    /// <summary>Reads commands until the end of input, or until <paramref name="closer"/> (consumed) when nested.</summary>
    private void ParseList(int depth, char? closer)
    {
        if (depth > MaxDepth)
            throw Fail("nesting too deep");
        var words = new List<ShellWord>();
        var redirects = new List<ShellRedirect>();
        var nested = depth > 0;
        var afterSubshell = false;

        void EndCommand()
        {
            if (words.Count > 0 || redirects.Count > 0)
                _commands.Add(new SimpleCommand(words.ToArray(), redirects.ToArray(), nested));
            words.Clear();
            redirects.Clear();
            afterSubshell = false;
        }

        while (true)
        {
            if (AtEnd)
            {
                if (closer is not null)
                    throw Fail($"missing '{closer}'");
                EndCommand();
                return;
            }
            var c = Peek();
            switch (c)
            {
                case ' ' or '\t':
                    _pos++;
                    continue;
                case '\\' when Peek(1) == '\n':
                    _pos += 2;
                    continue;
                case '#':
                    while (!AtEnd && Peek() != '\n')
                        _pos++;
                    continue;
                case '\n' or ';':
                    if (c == ';' && Peek(1) == ';')
                        throw Fail("';;' outside case");
                    _pos++;
                    EndCommand();
                    continue;
                case '|':
                    _pos += Peek(1) is '|' or '&' ? 2 : 1;
                    EndCommand();
                    continue;
                case '&' when Peek(1) == '>':
                    ParseRedirect(redirects, depth, "");
                    continue;
                case '&':
                    _pos += Peek(1) == '&' ? 2 : 1;
                    EndCommand();
                    continue;
                case ')':
                    if (closer != ')')
                        throw Fail("unexpected ')'");
                    _pos++;
                    EndCommand();
                    return;
                case '(':
                    if (words.Count > 0 || afterSubshell)
                        throw Fail("'(' in an unsupported position");
                    if (Peek(1) == '(')
                        throw Fail("arithmetic command '((…))'");
                    _pos++;
                    EndCommand();
                    ParseList(depth + 1, ')');
                    afterSubshell = true;
                    continue;
                case '<' or '>' when !(Peek(1) == '(' ):
                    ParseRedirect(redirects, depth, "");
                    continue;
            }
            if (afterSubshell)
                throw Fail("a word after a subshell");
            var word = ParseWord(depth, atCommandStart: words.Count == 0 || words.All(w => w.AssignmentName is not null));
            // A word of digits directly followed by a redirection operator is the descriptor: `2>file`.
            if (!AtEnd && Peek() is '<' or '>' && Peek(1) != '(' && word.Raw.Length > 0 && word.Raw.All(char.IsAsciiDigit))
            {
                ParseRedirect(redirects, depth, word.Raw);
                continue;
            }
            if (words.Count == 0 && Keywords.Contains(word.Raw))
                throw Fail($"shell keyword '{word.Raw}'");
            words.Add(word);
        }
    }

    private void ParseRedirect(List<ShellRedirect> redirects, int depth, string fd)
    {
        var start = _pos;
        if (Peek() == '&')
            _pos++;
        var first = Peek();
        _pos++;
        if (first == '<' && Peek() == '<')
            throw Fail("heredoc or here-string");
        if (Peek() == first || (first == '>' && Peek() == '|') || (first == '<' && Peek() == '>'))
            _pos++;
        var dup = false;
        if (Peek() == '&' && _s[start] != '&')
        {
            _pos++;
            dup = true;
        }
        var op = fd + _s[start.._pos];
        while (Peek() is ' ' or '\t')
            _pos++;
        if (AtEnd || Peek() is '\n' or ';' or '|' or '&' or ')' or '<' or '>')
            throw Fail($"redirection '{op}' without a target");
        var target = ParseWord(depth, atCommandStart: false);
        if (dup && !target.IsDynamic && (target.Value == "-" || (target.Value.Length > 0 && target.Value.All(char.IsAsciiDigit))))
        {
            redirects.Add(new ShellRedirect(op, null));
            return;
        }
        redirects.Add(new ShellRedirect(op, target));
    }

    private ShellWord ParseWord(int depth, bool atCommandStart)
    {
        var value = new StringBuilder();
        var start = _pos;
        var dynamic = false;
        var glob = false;
        var anyQuoted = false;
        int? eqAt = null;
        while (!AtEnd)
        {
            var c = Peek();
            if (c is ' ' or '\t' or '\n' or ';' or '|' or '&' or ')')
                break;
            if (c is '<' or '>')
            {
                if (Peek(1) != '(')
                    break;
                // Process substitution: its commands run; the word becomes a /dev/fd path we cannot know.
                _pos += 2;
                ParseList(depth + 1, ')');
                dynamic = true;
                value.Append("/dev/fd/63");
                continue;
            }
            if (c == '(')
                throw Fail("'(' inside a word");
            CheckControl(c);
            switch (c)
            {
                case '\\':
                    _pos++;
                    if (AtEnd)
                        throw Fail("trailing backslash");
                    if (Peek() == '\n')
                    {
                        _pos++;
                        continue;
                    }
                    CheckControl(Peek());
                    value.Append(Peek());
                    anyQuoted = true;
                    _pos++;
                    continue;
                case '\'':
                {
                    var end = _s.IndexOf('\'', _pos + 1);
                    if (end < 0)
                        throw Fail("unbalanced single quote");
                    var inner = _s[(_pos + 1)..end];
                    foreach (var ch in inner)
                        CheckControl(ch, allowNewline: true);
                    value.Append(inner);
                    anyQuoted = true;
                    _pos = end + 1;
                    continue;
                }
                case '"':
                    _pos++;
                    anyQuoted = true;
                    dynamic |= ParseDoubleQuoted(value, depth);
                    continue;
                case '$':
                    dynamic |= ParseDollar(value, depth);
                    continue;
                case '`':
                    ParseBackticks(depth);
                    dynamic = true;
                    value.Append("`…`");
                    continue;
                case '*' or '?' or '[' or '{':
                    glob = true;
                    break;
                case '}' when value.Length == 0 && atCommandStart:
                    throw Fail("'}' closing a group");
                case '=' when eqAt is null && !anyQuoted && !dynamic:
                    eqAt = value.Length;
                    break;
            }
            value.Append(c);
            _pos++;
        }
        var raw = _s[start.._pos];
        string? assignment = null;
        if (atCommandStart && eqAt is { } eq && eq > 0 && IsAssignmentTarget(raw[..eq]))
        {
            assignment = raw[..eq];
            if (_pos < _s.Length && raw.Length == eq + 1 && Peek() == '(')
                throw Fail("array assignment");
        }
        return new ShellWord(value.ToString(), raw, dynamic, glob, assignment);
    }

    /// <summary>
    /// <c>NAME</c>, <c>NAME+</c> (for <c>+=</c>) or an array element <c>NAME[…]</c>: bash treats each as an assignment, so
    /// <c>a[0]=1 rm x</c> runs <c>rm</c> and must be read that way (issue #9, deny rules by command name).
    /// </summary>
    private static bool IsAssignmentTarget(string s)
    {
        if (s.EndsWith('+'))
            s = s[..^1];
        var bracket = s.IndexOf('[');
        if (bracket > 0 && s.EndsWith(']'))
            return IsName(s.AsSpan(0, bracket));
        return IsName(s);
    }

    private static bool IsName(ReadOnlySpan<char> s)
    {
        if (s.Length == 0 || !(char.IsAsciiLetter(s[0]) || s[0] == '_'))
            return false;
        foreach (var ch in s)
        {
            if (!(char.IsAsciiLetterOrDigit(ch) || ch == '_'))
                return false;
        }
        return true;
    }

    /// <summary>Control characters (other than TAB and, inside quotes, newline) can hide separators from a reader of the log.</summary>
    private static void CheckControl(char c, bool allowNewline = false)
    {
        if (c == '\t' || (allowNewline && c == '\n'))
            return;
        if (char.IsControl(c) || c is '\u2028' or '\u2029' or '\uFEFF')
            throw Fail($"control character U+{(int)c:X4}");
    }

    /// <summary>Reads up to the closing quote; returns whether the text holds an expansion.</summary>
    private bool ParseDoubleQuoted(StringBuilder value, int depth)
    {
        var dynamic = false;
        while (true)
        {
            if (AtEnd)
                throw Fail("unbalanced double quote");
            var c = Peek();
            switch (c)
            {
                case '"':
                    _pos++;
                    return dynamic;
                case '\\':
                    var next = Peek(1);
                    if (next is '$' or '`' or '"' or '\\')
                    {
                        value.Append(next);
                        _pos += 2;
                    }
                    else if (next == '\n')
                        _pos += 2;
                    else
                    {
                        value.Append('\\');
                        _pos++;
                    }
                    continue;
                case '$':
                    if (Peek(1) is '\'' or '"')
                    {
                        value.Append('$');
                        _pos++;
                        continue;
                    }
                    dynamic |= ParseDollar(value, depth);
                    continue;
                case '`':
                    ParseBackticks(depth);
                    value.Append("`…`");
                    dynamic = true;
                    continue;
                default:
                    CheckControl(c, allowNewline: true);
                    value.Append(c);
                    _pos++;
                    continue;
            }
        }
    }

    /// <summary>At a <c>$</c>: a command substitution is parsed as commands; a plain variable makes the word dynamic.</summary>
    private bool ParseDollar(StringBuilder value, int depth)
    {
        var next = Peek(1);
        if (next == '(')
        {
            if (Peek(2) == '(')
                throw Fail("arithmetic expansion '$((…))'");
            _pos += 2;
            ParseList(depth + 1, ')');
            value.Append("$(…)");
            return true;
        }
        if (next == '{')
            throw Fail("parameter expansion '${…}'");
        if (next == '\'')
            throw Fail("ANSI-C quoting $'…'");
        if (next == '"')
            throw Fail("locale quoting $\"…\"");
        if (char.IsAsciiLetter(next) || next == '_')
        {
            var start = _pos;
            _pos++;
            while (char.IsAsciiLetterOrDigit(Peek()) || Peek() == '_')
                _pos++;
            value.Append(_s[start.._pos]);
            return true;
        }
        if (next is '@' or '*' or '#' or '?' or '-' or '$' or '!' || char.IsAsciiDigit(next))
        {
            value.Append('$').Append(next);
            _pos += 2;
            return true;
        }
        value.Append('$');
        _pos++;
        return false;
    }

    /// <summary>Old-style command substitution: the inner text (with <c>\`</c> unescaped) is parsed as commands of its own.</summary>
    private void ParseBackticks(int depth)
    {
        var inner = new StringBuilder();
        _pos++;
        while (true)
        {
            if (AtEnd)
                throw Fail("unbalanced backtick");
            var c = Peek();
            if (c == '`')
            {
                _pos++;
                break;
            }
            if (c == '\\' && Peek(1) is '`' or '\\' or '$')
            {
                inner.Append(Peek(1));
                _pos += 2;
                continue;
            }
            inner.Append(c);
            _pos++;
        }
        if (depth + 1 > MaxDepth)
            throw Fail("nesting too deep");
        var sub = Parse(inner.ToString());
        if (!sub.Succeeded)
            throw Fail("inside backticks: " + sub.Error);
        foreach (var cmd in sub.Commands)
            _commands.Add(cmd with { IsNested = true });
    }
}
