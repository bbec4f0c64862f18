using Herd.Agent.Tools;

namespace Herd.Agent.Permissions;

/// <summary>Bash commands (spec §6.2): split into simple commands, each judged on its own, then combined.</summary>
public sealed partial class PermissionEngine
{
    public const int MaxCommandLength = 10_000;

    /// <summary>Assignments before a command that cannot change which program runs or what it loads.</summary>
    private static readonly HashSet<string> SafeEnvNames = new(StringComparer.Ordinal) { "LANG", "LC_ALL", "TZ", "NO_COLOR", "CI" };

    /// <summary>Commands that run other commands or code: a wildcard rule never approves them (spec §6.2).</summary>
    private static readonly HashSet<string> NeverByPrefix = new(StringComparer.Ordinal)
    {
        "watch", "setsid", "ionice", "flock", "eval", "exec", "source", ".", "env", "sudo", "doas", "su", "nsenter",
        "chroot", "unshare", "xargs", "parallel", "script", "busybox", "awk", "gawk", "mawk", "nawk", "trap", "alias",
    };

    private static readonly HashSet<string> Shells = new(StringComparer.Ordinal) { "sh", "bash", "zsh", "dash", "ksh", "mksh", "fish", "csh", "tcsh" };

    private static readonly HashSet<string> Interpreters = new(StringComparer.Ordinal)
    {
        "python", "python2", "python3", "node", "nodejs", "perl", "ruby", "php", "lua", "deno", "bun", "pwsh", "Rscript", "osascript", "tclsh", "jshell",
    };

    private static readonly HashSet<string> InterpreterCodeFlags = new(StringComparer.Ordinal)
    {
        "-c", "-e", "-E", "--eval", "-p", "--print", "-r", "--command", "-x",
    };

    private static readonly HashSet<string> FindActions = new(StringComparer.Ordinal)
    {
        "-exec", "-execdir", "-ok", "-okdir", "-delete", "-fprint", "-fprint0", "-fprintf", "-fls",
    };

    private static readonly HashSet<string> GitReadOnly = new(StringComparer.Ordinal)
    {
        "status", "diff", "log", "show", "blame", "ls-files", "rev-parse", "describe", "shortlog",
    };

    private static readonly HashSet<string> PathReadingCommands = new(StringComparer.Ordinal)
    {
        "ls", "cat", "head", "tail", "grep", "egrep", "fgrep", "wc", "diff", "stat", "du", "find",
    };

    private static readonly HashSet<string> EditingCommands = new(StringComparer.Ordinal) { "mkdir", "touch", "mv", "cp" };

    private enum Verdict
    {
        Allow,
        Unmatched,
        Ask,
        Deny,
    }

    private sealed record SubDecision(Verdict Verdict, string Reason, PermissionRule? Rule = null, string? Message = null);

    /// <summary>Decides a whole command line: any part denied → deny; any part not allowed → deny (no one to ask); else allow.</summary>
    public PermissionDecision EvaluateBash(string command, ToolContext context)
    {
        var bashRules = _rules.Where(r => r.NamesTool("Bash")).ToArray();
        var denyOrAsk = bashRules.Any(r => r.Behavior != RuleBehavior.Allow);
        var allowsAll = Mode != PermissionMode.Plan && (Mode == PermissionMode.BypassPermissions || bashRules.Any(r => r.Behavior == RuleBehavior.Allow && r.IsWholeTool));
        if (string.IsNullOrWhiteSpace(command))
            return new(PermissionBehavior.Allow, "empty command");

        string? unreadable = null;
        ShellParse? parse = null;
        if (command.Length > MaxCommandLength)
            unreadable = $"command longer than {MaxCommandLength} characters";
        else
        {
            parse = ShellParser.Parse(command);
            if (!parse.Succeeded)
                unreadable = "command not parsed with certainty: " + parse.Error;
        }
        if (unreadable is not null)
        {
            // Nothing to check the command against? Then an allow-everything setting may run it; otherwise a rule we
            // cannot apply must not be bypassed by writing the command in a form we cannot read.
            if (allowsAll && !denyOrAsk)
                return new(PermissionBehavior.Allow, unreadable + "; allowed because every Bash command is allowed");
            return Denied(unreadable, null, NotGranted("Bash"));
        }

        var cwds = new List<string> { context.WorkingDirectory };
        var decisions = new List<SubDecision>();
        foreach (var cmd in parse!.Commands)
        {
            var sub = EvaluateSimple(cmd, cwds, context, allowsAll);
            decisions.Add(sub);
            if (sub.Verdict == Verdict.Allow && !cmd.IsNested && cmd.Words.Count == 2 && cmd.Words[0].Value == "cd")
                cwds.Add(context.ResolvePath(cmd.Words[1].Value, cwds[0]));
        }
        if (decisions.FirstOrDefault(d => d.Verdict == Verdict.Deny) is { } deny)
            return Denied(deny.Reason, deny.Rule, deny.Message ?? $"Permission to use Bash with command {command} has been denied.");
        if (decisions.FirstOrDefault(d => d.Verdict is Verdict.Ask or Verdict.Unmatched) is { } open)
            return Denied(open.Reason, open.Rule, open.Message ?? NotGranted("Bash"));
        var rules = decisions.Where(d => d.Rule is not null).Select(d => d.Rule!.Text).Distinct().ToArray();
        return new(PermissionBehavior.Allow, string.Join("; ", decisions.Select(d => d.Reason).Distinct()), rules.Length == 0 ? null : string.Join("; ", rules));
    }

    private SubDecision EvaluateSimple(SimpleCommand cmd, List<string> cwds, ToolContext context, bool allowsAll)
    {
        var words = cmd.Words;
        var denyForms = DenyForms(words);

        // Deny and ask rules first, on every form the command could be read as.
        foreach (var behavior in new[] { RuleBehavior.Deny, RuleBehavior.Ask })
        {
            foreach (var rule in _rules.Where(r => r.Behavior == behavior && r.Specifier is not null && r.NamesTool("Bash")))
            {
                var pattern = BashPatternFor(rule);
                if (denyForms.Any(f => pattern.Matches(Normalized(f)) || pattern.Matches(RawText(f))))
                {
                    return behavior == RuleBehavior.Deny
                        ? new SubDecision(Verdict.Deny, rule.Describe(), rule)
                        : new SubDecision(Verdict.Ask, rule.Describe() + " (no approver in print mode)", rule);
                }
            }
        }

        // A Read deny protects the file from every command that names it, even one an allow rule approves
        // (`git diff --no-index .env x` under Bash(git diff *)). Words that are not paths rarely match a deny pattern.
        if (ReadDenyOnArguments(words, cwds, context) is { } argumentDeny)
            return argumentDeny;

        // Redirections are file accesses in their own right, whatever the command.
        foreach (var redirect in cmd.Redirects)
        {
            if (redirect.Target is null)
                continue;
            if (redirect.Target.IsDynamic || redirect.Target.HasGlob)
                return new SubDecision(Verdict.Ask, $"redirection target '{redirect.Target.Raw}' is not a fixed path");
            if (redirect.IsOutput && redirect.Target.Value == "/dev/null")
                continue;
            var access = redirect.IsOutput ? PathAccess.Edit : PathAccess.Read;
            var check = CheckPaths(access, [redirect.Target.Value], cwds, context);
            if (check is not null)
                return check with { Reason = $"redirection {redirect.Op} {redirect.Target.Value}: {check.Reason}" };
        }
        if (words.Count == 0)
            return new SubDecision(Verdict.Allow, "redirection only");

        var form = AllowForm(words, out var unsafeAssignment);
        if (form is null)
            return allowsAll && !_rules.Any(r => r.Behavior != RuleBehavior.Allow && r.NamesTool("Bash"))
                ? new SubDecision(Verdict.Allow, "every Bash command is allowed")
                : new SubDecision(Verdict.Unmatched, $"assignment of {unsafeAssignment} before the command is not allowed by rules");

        // A flag that makes an otherwise harmless command write a file is a write like a redirection.
        var outputFlag = OutputFlagTarget(form);
        if (outputFlag is not null && CheckPaths(PathAccess.Edit, [outputFlag], cwds, context) is { } writeCheck)
            return writeCheck with { Reason = $"--output {outputFlag}: {writeCheck.Reason}" };

        if (allowsAll)
        {
            var whole = _rules.FirstOrDefault(r => r.Behavior == RuleBehavior.Allow && r.IsWholeTool && r.NamesTool("Bash"));
            return whole is not null ? new SubDecision(Verdict.Allow, whole.Describe(), whole) : new SubDecision(Verdict.Allow, "mode bypassPermissions");
        }

        var head = form[0];
        var approvableByPrefix = !head.IsDynamic && !head.HasGlob && !RunsOtherCode(form);
        if (Mode != PermissionMode.Plan)
        {
            foreach (var rule in _rules.Where(r => r.Behavior == RuleBehavior.Allow && r.Specifier is not null && r.NamesTool("Bash")))
            {
                var pattern = BashPatternFor(rule);
                if (pattern.HasWildcard && !approvableByPrefix)
                    continue;
                if (pattern.Matches(Normalized(form)) || pattern.Matches(RawText(form)))
                    return new SubDecision(Verdict.Allow, rule.Describe(), rule);
            }
        }

        if (ReadOnlyCheck(form, cwds, context) is { } readOnly)
            return readOnly;

        if (Mode == PermissionMode.AcceptEdits && !head.IsDynamic && EditingCommands.Contains(head.Value))
        {
            var paths = OperandPaths(form.Skip(1).ToArray(), out var unknown);
            if (unknown is null && paths.Count > 0 && CheckPaths(PathAccess.Edit, paths, cwds, context) is null)
                return new SubDecision(Verdict.Allow, $"mode acceptEdits: {head.Value} inside the working directories");
        }
        return new SubDecision(Verdict.Unmatched, $"no rule allows '{Normalized(form)}'" + (approvableByPrefix ? "" : " (runs other commands; wildcard rules do not apply)"));
    }

    private SubDecision? ReadDenyOnArguments(IReadOnlyList<ShellWord> words, List<string> cwds, ToolContext context)
    {
        var denies = _rules.Where(r => r.Behavior == RuleBehavior.Deny && r.ToolName == "Read" && r.Specifier is not null).ToArray();
        if (denies.Length == 0)
            return null;
        foreach (var word in words.Skip(1).Where(w => !w.IsDynamic))
        {
            var v = word.Value;
            if (v.StartsWith('-') && v.IndexOf('=') is var eq and > 0)
                v = v[(eq + 1)..];
            if (v.Length == 0 || v.StartsWith('-'))
                continue;
            foreach (var cwd in cwds)
            {
                var candidates = PathCandidates(context.ResolvePath(v, cwd));
                if (candidates is null)
                    continue;
                if (denies.FirstOrDefault(r => candidates.Any(p => PathPatternFor(r, context.WorkingDirectory).Matches(p))) is { } rule)
                    return new SubDecision(Verdict.Deny, rule.Describe(), rule, $"Permission to read {context.ResolvePath(v, cwd)} has been denied.");
            }
        }
        return null;
    }

    /// <summary>The command as allow rules see it: safe assignments and wrappers stripped; null after an unsafe assignment.</summary>
    private static IReadOnlyList<ShellWord>? AllowForm(IReadOnlyList<ShellWord> words, out string? unsafeAssignment)
    {
        unsafeAssignment = null;
        var i = 0;
        while (i < words.Count && words[i].AssignmentName is { } name)
        {
            if (!SafeEnvNames.Contains(name) || words[i].IsDynamic)
            {
                unsafeAssignment = name;
                return null;
            }
            i++;
        }
        IReadOnlyList<ShellWord> form = words.Skip(i).ToArray();
        if (form.Count == 0)
        {
            unsafeAssignment = "variables";
            return null;
        }
        for (var guard = 0; guard < 16 && StripWrapper(form, forDeny: false) is { } inner; guard++)
            form = inner;
        return form;
    }

    /// <summary>Every reading of the command a deny rule should see: as written, and with assignments and wrappers peeled off.</summary>
    private static List<IReadOnlyList<ShellWord>> DenyForms(IReadOnlyList<ShellWord> words)
    {
        var forms = new List<IReadOnlyList<ShellWord>>();
        IReadOnlyList<ShellWord> form = words;
        for (var guard = 0; guard < 32 && form.Count > 0; guard++)
        {
            forms.Add(form);
            if (form[0].AssignmentName is not null)
                form = form.Skip(1).ToArray();
            else if (StripWrapper(form, forDeny: true) is { } inner)
                form = inner;
            else
                break;
        }
        // Code handed to a shell (`bash -c "…"`, `eval …`) is read as commands too, for deny rules.
        foreach (var f in forms.ToArray())
        {
            if (f.Count == 0 || f[0].IsDynamic)
                continue;
            string? code = null;
            var name = Path.GetFileName(f[0].Value);
            if (name == "eval")
                code = string.Join(' ', f.Skip(1).Select(w => w.Value));
            else if (Shells.Contains(name))
            {
                var c = f.Skip(1).ToList().FindIndex(w => w.Value.StartsWith('-') && !w.Value.StartsWith("--", StringComparison.Ordinal) && w.Value.Contains('c'));
                if (c >= 0 && c + 2 < f.Count)
                    code = f[c + 2].Value;
            }
            if (code is null || ShellParser.Parse(code) is not { Succeeded: true } inner)
                continue;
            foreach (var cmd in inner.Commands.Where(x => x.Words.Count > 0))
                forms.AddRange(DenyForms(cmd.Words));
        }
        return forms;
    }

    /// <summary>Peels one wrapper (<c>timeout 5 cmd</c> → <c>cmd</c>); null when the command is not wrapped.</summary>
    private static IReadOnlyList<ShellWord>? StripWrapper(IReadOnlyList<ShellWord> words, bool forDeny)
    {
        if (words.Count < 2 || words[0].IsDynamic)
            return null;
        var name = words[0].Value;
        var i = 1;
        bool Opt() => i < words.Count && words[i].Value.StartsWith('-') && words[i].Value.Length > 1;
        string V() => words[i].Value;
        switch (name)
        {
            case "timeout":
                while (Opt())
                {
                    if (V() is "-s" or "-k" or "--signal" or "--kill-after")
                        i++;
                    i++;
                }
                i++; // the duration
                break;
            case "time":
                while (Opt())
                    i++;
                break;
            case "nice":
                while (Opt())
                {
                    if (V() == "-n")
                        i++;
                    i++;
                }
                break;
            case "nohup" or "builtin" or "noglob":
                break;
            case "stdbuf":
                while (Opt())
                {
                    if (V() is "-i" or "-o" or "-e")
                        i++;
                    i++;
                }
                break;
            case "command":
                while (Opt())
                {
                    if (V() is not "-p" && !forDeny)
                        return null;
                    i++;
                }
                break;
            case "xargs":
                if (!forDeny && Opt())
                    return null;
                while (Opt())
                {
                    if (V() is "-n" or "-L" or "-P" or "-s" or "-d" or "-I" or "-E" or "-a" or "--delimiter" or "--max-args" or "--max-procs" or "--arg-file")
                        i++;
                    i++;
                }
                break;
            case "env" when forDeny:
                while (i < words.Count && (Opt() || words[i].Value.Contains('=')))
                {
                    if (V() is "-u" or "-C" or "-S" or "--unset" or "--chdir")
                        i++;
                    i++;
                }
                break;
            case "sudo" or "doas" when forDeny:
                while (Opt())
                {
                    if (V() is "-u" or "-g" or "-C" or "-D" or "-h" or "-p" or "-r" or "-t" or "-U")
                        i++;
                    i++;
                }
                break;
            default:
                return null;
        }
        if (i < words.Count && words[i].Value == "--")
            i++;
        // An option of the wrapper we cannot read could change what it runs.
        if (!forDeny && words.Take(Math.Min(i, words.Count)).Any(w => w.IsDynamic))
            return null;
        return i < words.Count ? words.Skip(i).ToArray() : null;
    }

    /// <summary>Whether the command runs code or commands given as arguments, which a wildcard rule would wave through.</summary>
    private static bool RunsOtherCode(IReadOnlyList<ShellWord> form)
    {
        var name = Path.GetFileName(form[0].Value);
        var args = form.Skip(1).Select(w => w.Value).ToArray();
        if (Interpreters.Contains(name) || name.StartsWith("python", StringComparison.Ordinal))
            return args.Any(a => InterpreterCodeFlags.Contains(a) || a.StartsWith("--eval", StringComparison.Ordinal) || (a.StartsWith("-c", StringComparison.Ordinal) && !a.StartsWith("--", StringComparison.Ordinal)));
        if (NeverByPrefix.Contains(name) || Shells.Contains(name))
            return true;
        if (name == "find")
            return args.Any(FindActions.Contains);
        return false;
    }

    /// <summary>The read-only command set (spec §6.2): runs in every mode, but only on paths the Read checks allow.</summary>
    private SubDecision? ReadOnlyCheck(IReadOnlyList<ShellWord> form, List<string> cwds, ToolContext context)
    {
        var head = form[0];
        if (head.IsDynamic || head.HasGlob)
            return null;
        var name = head.Value;
        var args = form.Skip(1).ToArray();
        switch (name)
        {
            case "echo" or "pwd" or "true" or "false" or "which":
                return new SubDecision(Verdict.Allow, $"read-only command {name}");
            case "cd":
            {
                if (args.Length != 1 || args[0].IsDynamic || args[0].HasGlob || args[0].Value is "-" or "")
                    return null;
                var inside = cwds.All(c => PathCandidates(context.ResolvePath(args[0].Value, c)) is { } cands && cands.All(p => IsInsideWorkingDirectories(p, context)));
                return inside ? new SubDecision(Verdict.Allow, "cd inside the working directories") : null;
            }
            case "git":
                return GitReadOnlyCheck(args, cwds, context);
        }
        if (!PathReadingCommands.Contains(name))
            return null;
        if (name == "find" && args.Any(a => FindActions.Contains(a.Value)))
            return null;
        var paths = OperandPaths(args, out var unknown);
        if (unknown is not null)
            return null;
        if (CheckPaths(PathAccess.Read, paths, cwds, context) is not null)
            return null;
        return new SubDecision(Verdict.Allow, $"read-only command {name}");
    }

    private SubDecision? GitReadOnlyCheck(ShellWord[] args, List<string> cwds, ToolContext context)
    {
        var i = 0;
        while (i < args.Length && args[i].Value == "--no-pager")
            i++;
        if (i >= args.Length || args[i].IsDynamic || !GitReadOnly.Contains(args[i].Value))
            return null;
        var paths = new List<string>();
        foreach (var arg in args.Skip(i + 1))
        {
            var v = arg.Value;
            if (arg.IsDynamic || v.StartsWith("--output", StringComparison.Ordinal) || v.StartsWith("--ext-diff", StringComparison.Ordinal)
                || v.StartsWith("--textconv", StringComparison.Ordinal) || v.StartsWith("-O", StringComparison.Ordinal) || v.StartsWith("--open-files-in-pager", StringComparison.Ordinal))
                return null;
            if (v.StartsWith('-'))
            {
                var eq = v.IndexOf('=');
                if (eq > 0 && LooksLikePath(v[(eq + 1)..]))
                    paths.Add(v[(eq + 1)..]);
                continue;
            }
            if (arg.HasGlob && (arg.Value.Contains('{') || arg.Value.Split('/').Any(s => s.StartsWith('.') && s.IndexOfAny(['*', '?', '[']) >= 0)))
                return null;
            if (!v.Contains(':') && LooksLikePath(v))
                paths.Add(v);
        }
        if (CheckPaths(PathAccess.Read, paths, cwds, context) is not null)
            return null;
        return new SubDecision(Verdict.Allow, $"read-only command git {args[i].Value}");
    }

    private static bool LooksLikePath(string v) =>
        v.StartsWith('/') || v.StartsWith('~') || v == ".." || v.StartsWith("../", StringComparison.Ordinal) || v.Contains("/../") || v.EndsWith("/..", StringComparison.Ordinal) || v.StartsWith("./", StringComparison.Ordinal);

    /// <summary>
    /// Every argument that may name a file: operands, and the value of <c>--opt=value</c> or <c>-fvalue</c> options that
    /// hold a slash. Sets <paramref name="unknown"/> when an argument's value cannot be known (expansions, globs that
    /// could reach <c>..</c>, <c>~user</c>, brace expansion).
    /// </summary>
    private static List<string> OperandPaths(ShellWord[] args, out string? unknown)
    {
        unknown = null;
        var paths = new List<string>();
        foreach (var arg in args)
        {
            if (arg.IsDynamic)
            {
                unknown = arg.Raw;
                return paths;
            }
            var v = arg.Value;
            if (arg.HasGlob && (v.Contains('{') || v.Split('/').Any(s => s.StartsWith('.') && s.IndexOfAny(['*', '?', '[']) >= 0)))
            {
                unknown = arg.Raw;
                return paths;
            }
            if (v.StartsWith('~') && !(v == "~" || v.StartsWith("~/", StringComparison.Ordinal)))
            {
                unknown = arg.Raw;
                return paths;
            }
            if (v.StartsWith('-') && v.Length > 1)
            {
                var eq = v.IndexOf('=');
                if (eq > 0)
                    paths.Add(v[(eq + 1)..]);
                else if (!v.StartsWith("--", StringComparison.Ordinal) && v.IndexOfAny(['/', '~']) is var at and > 0)
                    paths.Add(v[at..]);
                continue;
            }
            paths.Add(v);
        }
        return paths;
    }

    /// <summary>Null when every path, resolved against every directory the command may run in, passes the file check.</summary>
    private SubDecision? CheckPaths(PathAccess access, IEnumerable<string> paths, List<string> cwds, ToolContext context)
    {
        foreach (var path in paths)
        {
            if (path.Length == 0)
                continue;
            foreach (var cwd in cwds)
            {
                var decision = EvaluatePath(access, context.ResolvePath(path, cwd), context, access == PathAccess.Read ? "Read" : "Edit");
                if (!decision.IsAllowed)
                {
                    var isRuleDeny = decision.Message?.StartsWith("Permission to", StringComparison.Ordinal) == true;
                    var rule = decision.Rule is null ? null : _rules.FirstOrDefault(r => r.Text == decision.Rule);
                    return new SubDecision(isRuleDeny ? Verdict.Deny : Verdict.Unmatched, decision.Reason, rule, decision.Message);
                }
            }
        }
        return null;
    }

    /// <summary><c>--output=FILE</c> / <c>--output FILE</c> (git diff, curl -o's long form, …): a file the command writes.</summary>
    private static string? OutputFlagTarget(IReadOnlyList<ShellWord> form)
    {
        for (var i = 1; i < form.Count; i++)
        {
            var v = form[i].Value;
            if (v.StartsWith("--output=", StringComparison.Ordinal))
                return v["--output=".Length..];
            if (v == "--output" && i + 1 < form.Count)
                return form[i + 1].Value;
        }
        return null;
    }

    private BashPattern BashPatternFor(PermissionRule rule) => _bashPatterns.GetOrAdd(rule, static r => new BashPattern(r.Specifier!));

    /// <summary>The command re-quoted from its words, so quoting tricks (<c>gi''t</c>) read as what runs.</summary>
    internal static string Normalized(IReadOnlyList<ShellWord> words) => string.Join(' ', words.Select(w => w.IsDynamic ? w.Raw : Quote(w.Value)));

    private static string RawText(IReadOnlyList<ShellWord> words) => string.Join(' ', words.Select(w => w.Raw));

    private static string Quote(string value)
    {
        if (value.Length > 0 && value.All(c => char.IsAsciiLetterOrDigit(c) || "_@%+=:,./~^-*?[]{}!#".Contains(c)))
            return value;
        return "'" + value.Replace("'", "'\\''", StringComparison.Ordinal) + "'";
    }
}
