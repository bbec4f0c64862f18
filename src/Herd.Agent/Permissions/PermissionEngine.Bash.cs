using Herd.Agent.IO;
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
        "chrt", "taskset", "strace", "ltrace", "unbuffer", "runuser", "firejail", "systemd-run", "nocache", "eatmydata",
        "fakeroot", "torsocks", "proxychains", "proxychains4", "catchsegv", "pkexec", "ssh", "tmux", "screen", "expect",
    };

    /// <summary>
    /// Commands that run the command named by a later word. For deny rules every suffix after the wrapper is read as a
    /// command too (<c>nice -n 5 rm</c> → <c>rm</c>), whatever options the wrapper takes (issue #9).
    /// </summary>
    private static readonly HashSet<string> DenyWrappers = new(StringComparer.Ordinal)
    {
        "timeout", "gtimeout", "time", "nice", "nohup", "stdbuf", "command", "builtin", "noglob", "exec", "setsid", "env",
        "sudo", "doas", "xargs", "watch", "ionice", "chrt", "taskset", "flock", "strace", "ltrace", "unbuffer", "chroot",
        "nsenter", "unshare", "runuser", "script", "parallel", "busybox", "firejail", "catchsegv", "torsocks",
        "proxychains", "proxychains4", "systemd-run", "nocache", "eatmydata", "fakeroot", "caffeinate", "pkexec", "then",
        "do", "else", "!", "coproc",
    };

    /// <summary>git options before the subcommand that take a value as the next word.</summary>
    private static readonly HashSet<string> GitGlobalWithValue = new(StringComparer.Ordinal)
    {
        "-C", "-c", "--git-dir", "--work-tree", "--namespace", "--exec-path", "--config-env", "--super-prefix", "--attr-source",
    };

    private static readonly HashSet<string> Shells = new(StringComparer.Ordinal) { "sh", "bash", "zsh", "dash", "ksh", "mksh", "fish", "csh", "tcsh" };

    private static readonly HashSet<string> Interpreters = new(StringComparer.Ordinal)
    {
        "python", "python2", "python3", "node", "nodejs", "perl", "ruby", "php", "lua", "deno", "bun", "pwsh", "Rscript", "osascript", "tclsh", "jshell",
    };

    /// <summary>Long options of interpreters that hand them code (or a file to run before the script).</summary>
    private static readonly HashSet<string> InterpreterCodeOptions = new(StringComparer.Ordinal)
    {
        "--eval", "--print", "--command", "--require", "--import", "--loader", "--experimental-loader", "--eval-command",
        "-Command", "-EncodedCommand", "-c", "-e",
    };

    /// <summary>Short options of interpreters that take the next word as a value (not the script).</summary>
    private static readonly HashSet<char> InterpreterValueFlags = ['W', 'X', 'I', 'Q', 'C'];

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

    /// <param name="ReadOnlyGit">Approved as read-only git: the command then runs in <see cref="SafeGitEnvironment"/>.</param>
    private sealed record SubDecision(Verdict Verdict, string Reason, PermissionRule? Rule = null, string? Message = null, bool ReadOnlyGit = false);

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
        var cwdUnknown = false;
        var decisions = new List<SubDecision>();
        foreach (var cmd in parse!.Commands)
        {
            var sub = EvaluateSimple(cmd, cwds, context, allowsAll, cwdUnknown);
            decisions.Add(sub);
            // Every cd, in a subshell or not, allowed or not: later relative paths are checked against each folder the
            // command may then be in (issue #9, nested cd); a folder we cannot know makes them unknowable.
            if (CdTargets(cmd.Words, cwds, context) is { } targets)
                cwds.AddRange(targets.Where(t => !cwds.Contains(t)));
            else
                cwdUnknown = true;
        }
        if (decisions.FirstOrDefault(d => d.Verdict == Verdict.Deny) is { } deny)
            return Denied(deny.Reason, deny.Rule, deny.Message ?? $"Permission to use Bash with command {command} has been denied.");
        if (decisions.FirstOrDefault(d => d.Verdict is Verdict.Ask or Verdict.Unmatched) is { } open)
            return Denied(open.Reason, open.Rule, open.Message ?? NotGranted("Bash"));
        var rules = decisions.Where(d => d.Rule is not null).Select(d => d.Rule!.Text).Distinct().ToArray();
        if (decisions.Any(d => d.ReadOnlyGit))
            context.ReadOnlyGitCommands.TryAdd(command, 0);
        return new(PermissionBehavior.Allow, string.Join("; ", decisions.Select(d => d.Reason).Distinct()), rules.Length == 0 ? null : string.Join("; ", rules));
    }

    /// <summary>
    /// Where a <c>cd</c>/<c>pushd</c> leads, resolved against every folder the command may be in; the list is empty for
    /// other commands and null when the target cannot be known (<c>cd $X</c>, <c>cd -</c>, a glob).
    /// </summary>
    private static List<string>? CdTargets(IReadOnlyList<ShellWord> words, List<string> cwds, ToolContext context)
    {
        var form = words.SkipWhile(w => w.AssignmentName is not null).ToArray();
        if (form.Length == 0 || form[0].IsDynamic || form[0].Value is not ("cd" or "pushd" or "popd"))
            return [];
        if (form[0].Value == "popd")
            return null;
        var args = form.Skip(1).Where(w => !(w.Value.StartsWith('-') && w.Value.Length > 1 && !w.IsDynamic)).ToArray();
        if (args.Length == 0)
            return [ToolContext.Home];
        if (args.Length > 1 || args[0].IsDynamic || args[0].HasGlob || args[0].Value is "-" or "" || (args[0].Value.StartsWith('~') && !args[0].Value.StartsWith("~/", StringComparison.Ordinal) && args[0].Value != "~"))
            return null;
        var targets = new List<string>();
        foreach (var cwd in cwds)
        {
            var raw = context.RawPath(args[0].Value, cwd);
            targets.Add(KernelPath.Resolve(raw) ?? context.ResolvePath(args[0].Value, cwd));
        }
        return targets;
    }

    private SubDecision EvaluateSimple(SimpleCommand cmd, List<string> cwds, ToolContext context, bool allowsAll, bool cwdUnknown)
    {
        var words = cmd.Words;
        var denyForms = DenyForms(words, context);
        var bashDenies = _rules.Where(r => r.Behavior != RuleBehavior.Allow && r.Specifier is not null && r.NamesTool("Bash")).ToArray();

        // Deny and ask rules first, on every form the command could be read as.
        foreach (var behavior in new[] { RuleBehavior.Deny, RuleBehavior.Ask })
        {
            foreach (var rule in bashDenies.Where(r => r.Behavior == behavior))
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
        // Code known only when the command runs (`$(echo rm) x`, `curl … | sh`, `bash -c "$X"`, `source <(…)`) cannot be
        // held against a deny rule (issue #19, class 2).
        if (bashDenies.Length > 0 && denyForms.Select(f => UnseenCode(f, context)).FirstOrDefault(u => u is not null) is { } unseen)
        {
            return new SubDecision(Verdict.Deny, $"{unseen}, and a Bash deny rule exists", bashDenies[0],
                $"Permission to use Bash with command {Normalized(words)} has been denied: {unseen}, so the Bash deny rules cannot be checked against it.");
        }
        // A command of redirections alone (`> file` truncates it) is a command too: deny rules see its text.
        if (words.Count == 0 && bashDenies.Length > 0)
        {
            var text = string.Join(' ', cmd.Redirects.Select(r => r.Target is null ? r.Op : r.Op + " " + r.Target.Raw));
            if (bashDenies.FirstOrDefault(r => r.Behavior == RuleBehavior.Deny && BashPatternFor(r).Matches(text)) is { } redirectDeny)
                return new SubDecision(Verdict.Deny, redirectDeny.Describe(), redirectDeny);
        }

        // A Read deny protects the file from every command that names it, even one an allow rule approves
        // (`git diff --no-index .env x` under Bash(git diff *)). Words that are not paths rarely match a deny pattern.
        if (HasReadDenies)
        {
            if (cwdUnknown)
                return new SubDecision(Verdict.Deny, "after a cd whose target is unknown, relative paths cannot be checked against Read deny rules", _readDenies[0],
                    $"Permission to use Bash with command {Normalized(words)} has been denied: the folder it runs in cannot be known.");
            foreach (var reading in denyForms)
            {
                if (ReadDenyOnArguments(reading, cwds, context) is { } argumentDeny)
                    return argumentDeny;
            }
        }

        // Redirections are file accesses in their own right, whatever the command.
        foreach (var redirect in cmd.Redirects)
        {
            if (redirect.Target is null)
                continue;
            if (redirect.Target.IsDynamic || redirect.Target.HasGlob)
                return new SubDecision(Verdict.Ask, $"redirection target '{redirect.Target.Raw}' is not a fixed path");
            // Writing to the null device or to the command's own output streams writes no file.
            if (redirect.IsOutput && redirect.Target.Value is "/dev/null" or "/dev/stdout" or "/dev/stderr" or "/dev/fd/1" or "/dev/fd/2")
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

        if (ProtectedWrite(form, cwds, context) is { } protectedWrite)
            return protectedWrite;

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
            var paths = OperandPaths(form.Skip(1).ToArray(), cwds, context, out var unknown);
            if (unknown is null && paths.Count > 0 && CheckPaths(PathAccess.Edit, paths, cwds, context) is null)
                return new SubDecision(Verdict.Allow, $"mode acceptEdits: {head.Value} inside the working directories");
        }
        return new SubDecision(Verdict.Unmatched, $"no rule allows '{Normalized(form)}'" + (approvableByPrefix ? "" : " (runs other commands; wildcard rules do not apply)"));
    }

    /// <summary>
    /// A Read deny rule against the words of one reading of a command (issue #9, unexpanded words and read denies):
    /// every word is expanded as bash will (braces, globs) and checked as a path, as is the path of a
    /// <c>rev:path</c> word (<c>git show HEAD:.env</c>); a word whose value cannot be known (<c>$VAR</c>, <c>$(…)</c>,
    /// <c>~user</c>, a glob with too many matches) is refused; recursive readers may not search a folder that holds a
    /// denied path, and git commands that print file contents from history need a pathspec that excludes it.
    /// </summary>
    private SubDecision? ReadDenyOnArguments(IReadOnlyList<ShellWord> words, List<string> cwds, ToolContext context)
    {
        SubDecision Deny(PermissionRule rule, string path) =>
            new(Verdict.Deny, rule.Describe(), rule, $"Permission to read {path} has been denied.");

        foreach (var word in words.SkipWhile(w => w.AssignmentName is not null))
        {
            if (word.IsDynamic)
            {
                return new SubDecision(Verdict.Deny, $"argument {word.Raw} holds an expansion whose value cannot be checked against Read deny rules", _readDenies[0],
                    $"Permission to use Bash with command {Normalized(words)} has been denied: {word.Raw} is only known when the command runs, and a Read deny rule is in force.");
            }
            var values = new List<string> { word.Value };
            var v = word.Value;
            if (v.StartsWith('-') && v.IndexOf('=') is var eq and > 0)
                values.Add(v[(eq + 1)..]);
            if (v.LastIndexOf(':') is var colon and >= 0 && colon < v.Length - 1)
            {
                values.Add(v[(colon + 1)..]);
                // `git show REV:path` reads path from the repository's top folder, wherever the command runs.
                foreach (var cwd in cwds)
                    values.Add(ObjectPath(v[(colon + 1)..], cwd, context));
            }
            foreach (var value in values)
            {
                if (value.Length == 0 || value.StartsWith('-'))
                    continue;
                if (value.StartsWith('~') && value != "~" && !value.StartsWith("~/", StringComparison.Ordinal))
                {
                    return new SubDecision(Verdict.Deny, $"argument {word.Raw} names another user's home, which cannot be checked against Read deny rules", _readDenies[0],
                        $"Permission to read {word.Raw} has been denied: ~user paths cannot be checked while a Read deny rule is in force.");
                }
                foreach (var cwd in cwds)
                {
                    var expanded = ShellGlob.Expand(word with { Value = value }, cwd, context);
                    if (expanded is null)
                    {
                        return new SubDecision(Verdict.Deny, $"argument {word.Raw} matches too many files to check against Read deny rules", _readDenies[0],
                            $"Permission to read {word.Raw} has been denied: it matches more than {ShellGlob.MaxExpansions} files.");
                    }
                    foreach (var raw in expanded)
                    {
                        var full = Path.GetFullPath(raw);
                        var candidates = PathCandidates(full, raw);
                        if (candidates is null)
                            continue;
                        if (_readDenies.FirstOrDefault(r => candidates.Any(p => PathPatternFor(r, context.WorkingDirectory).Matches(p))) is { } rule)
                            return Deny(rule, full);
                    }
                }
            }
        }
        return RecursiveReadCheck(words, cwds, context);
    }

    /// <summary>Folder searches and archivers read every file below their operands (the working folder when none).</summary>
    private static readonly HashSet<string> RecursiveReaders = new(StringComparer.Ordinal) { "rg", "ag", "ack", "rgrep", "tar", "zip", "rsync", "scp" };

    /// <summary>git subcommands that print file contents from the object store, where a masked file still lives.</summary>
    private static readonly HashSet<string> GitContentCommands = new(StringComparer.Ordinal)
    {
        "show", "diff", "grep", "cat-file", "archive", "format-patch", "blame", "annotate", "bundle", "fast-export", "stash", "whatchanged", "difftool",
    };

    private SubDecision? RecursiveReadCheck(IReadOnlyList<ShellWord> words, List<string> cwds, ToolContext context)
    {
        var form = words.SkipWhile(w => w.AssignmentName is not null).ToArray();
        if (form.Length == 0)
            return null;
        var name = Path.GetFileName(form[0].Value);
        var args = form.Skip(1).Select(w => w.Value).ToArray();
        var recursive = RecursiveReaders.Contains(name)
            || (name is "grep" or "egrep" or "fgrep" && args.Any(a => a is "-r" or "-R" or "--recursive" or "--dereference-recursive" || (a.StartsWith('-') && !a.StartsWith("--", StringComparison.Ordinal) && a.IndexOfAny(['r', 'R']) > 0)))
            || (name is "cp" && args.Any(a => a is "-r" or "-R" or "-a" or "--recursive" or "--archive" || (a.StartsWith('-') && !a.StartsWith("--", StringComparison.Ordinal) && a.IndexOfAny(['r', 'R', 'a']) > 0)));
        if (recursive)
        {
            var operands = args.Where(a => !a.StartsWith('-')).ToList();
            // A search's first operand is the pattern.
            if (name is "grep" or "egrep" or "fgrep" or "rg" or "ag" or "ack" or "rgrep" && !args.Any(a => a is "-e" or "-f" || a.StartsWith("--regexp", StringComparison.Ordinal)) && operands.Count > 0)
                operands.RemoveAt(0);
            var folders = operands.Count == 0 ? ["."] : operands;
            foreach (var cwd in cwds)
            {
                foreach (var folder in folders)
                {
                    if (DeniedPathUnder(context.ResolvePath(folder, cwd), context) is { } hit)
                        return new SubDecision(Verdict.Deny, $"{name} reads every file below {folder}, including {hit}, which a Read deny rule covers", _readDenies[0],
                            $"Permission to read {hit} has been denied.");
                }
            }
            return null;
        }
        if (name == "git")
        {
            var i = 0;
            while (i < args.Length && args[i].StartsWith('-'))
                i += GitGlobalWithValue.Contains(args[i]) ? 2 : 1;
            if (i >= args.Length)
                return null;
            var sub = args[i];
            var rest = args.Skip(i + 1).ToArray();
            // `git diff --no-index a b` compares two files on disk; its paths were checked as arguments above.
            var prints = (GitContentCommands.Contains(sub) && !(sub == "diff" && rest.Contains("--no-index")))
                || (sub == "log" && rest.Any(a => a is "-p" or "-u" or "--patch" or "-L" or "--full-diff" || a.StartsWith("-L", StringComparison.Ordinal) || a.StartsWith("--patch", StringComparison.Ordinal)));
            if (!prints)
                return null;
            // `git show HEAD:src/a.cs`: every object named by its path, each already checked as an argument.
            if (sub is "show" or "cat-file" && rest.Where(a => !a.StartsWith('-')).ToArray() is { Length: > 0 } named && named.All(a => a.Contains(':')))
                return null;
            // A pathspec after `--` limits what is printed; then the ordinary argument checks above have covered it.
            var dashDash = Array.IndexOf(rest, "--");
            if (dashDash >= 0 && dashDash < rest.Length - 1)
            {
                foreach (var cwd in cwds)
                {
                    foreach (var spec in rest[(dashDash + 1)..])
                    {
                        if (DeniedPathUnder(context.ResolvePath(spec, cwd), context) is { } hit)
                            return new SubDecision(Verdict.Deny, $"git {sub} prints {hit}, which a Read deny rule covers", _readDenies[0], $"Permission to read {hit} has been denied.");
                    }
                }
                return null;
            }
            return new SubDecision(Verdict.Deny, $"git {sub} can print file contents from history, where a file a Read deny rule covers may live; limit it with -- <paths>", _readDenies[0],
                $"Permission to use Bash with command {Normalized(words)} has been denied: git {sub} can print the contents of files a Read deny rule covers. Add -- <paths> to limit it.");
        }
        return null;
    }

    /// <summary>The first path under <paramref name="folder"/> (itself included) a Read deny rule covers; the folder itself when too large to check.</summary>
    private string? DeniedPathUnder(string folder, ToolContext context)
    {
        if (IsReadDenied(folder, context.WorkingDirectory))
            return folder;
        if (!Directory.Exists(folder))
            return null;
        var budget = 50_000;
        var stack = new Stack<string>();
        stack.Push(folder);
        while (stack.Count > 0)
        {
            IEnumerable<FileSystemInfo> entries;
            try
            {
                entries = new DirectoryInfo(stack.Pop()).EnumerateFileSystemInfos("*", new EnumerationOptions { IgnoreInaccessible = true, AttributesToSkip = 0 });
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                continue;
            }
            foreach (var entry in entries)
            {
                if (--budget < 0)
                    return folder;
                if (IsReadDenied(entry.FullName, context.WorkingDirectory))
                    return entry.FullName;
                if (entry is DirectoryInfo && entry.LinkTarget is null)
                    stack.Push(entry.FullName);
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
        for (var guard = 0; guard < 16 && StripWrapper(form) is { } inner; guard++)
            form = inner;
        return form;
    }

    /// <summary>
    /// Every reading of the command a deny rule should see (issue #9, deny rules by command name): as written; past
    /// assignments (<c>a[0]=1 rm</c>); with the command's directory dropped (<c>/bin/rm</c>); brace-expanded
    /// (<c>{rm,x}</c>); every suffix after a wrapper (<c>nice -n 5 rm</c>, <c>exec rm</c>, <c>setsid rm</c>); git without its
    /// global options (<c>git -C . push</c>) and the shell code of <c>-c alias.x='!…'</c>; find's <c>-exec</c> command; and
    /// the code given to a shell (<c>bash -c -- '…'</c>, <c>eval</c>, <c>su -c</c>).
    /// </summary>
    private static List<IReadOnlyList<ShellWord>> DenyForms(IReadOnlyList<ShellWord> words, ToolContext context)
    {
        var forms = new List<IReadOnlyList<ShellWord>>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var queue = new Queue<IReadOnlyList<ShellWord>>();
        queue.Enqueue(words);
        while (queue.Count > 0 && forms.Count < 256)
        {
            var f = queue.Dequeue();
            if (f.Count == 0 || !seen.Add(RawText(f) + "\0" + Normalized(f)))
                continue;
            forms.Add(f);
            if (f[0].AssignmentName is not null)
            {
                queue.Enqueue(f.Skip(1).ToArray());
                continue;
            }
            if (BraceExpanded(f) is { } braces)
                queue.Enqueue(braces);
            if (f[0].IsDynamic)
                continue;
            var head = f[0].Value;
            var name = Path.GetFileName(head);
            if (name != head && name.Length > 0)
                queue.Enqueue(f.Skip(1).Prepend(f[0] with { Value = name, Raw = name }).ToArray());
            if (DenyWrappers.Contains(name))
            {
                for (var i = 1; i < f.Count; i++)
                    queue.Enqueue(f.Skip(i).ToArray());
            }
            if (name == "find")
            {
                for (var i = 1; i < f.Count - 1; i++)
                {
                    if (FindActions.Contains(f[i].Value))
                        queue.Enqueue(f.Skip(i + 1).ToArray());
                }
            }
            if (name == "git")
            {
                var i = 1;
                while (i < f.Count && f[i].Value.StartsWith('-'))
                {
                    if (f[i].Value == "-c" && i + 1 < f.Count && GitAliasCode(f[i + 1].Value) is { } aliasCode)
                        EnqueueCode(queue, aliasCode);
                    else if (f[i].Value.StartsWith("-c", StringComparison.Ordinal) && GitAliasCode(f[i].Value[2..]) is { } inline)
                        EnqueueCode(queue, inline);
                    i += GitGlobalWithValue.Contains(f[i].Value) ? 2 : 1;
                }
                if (i > 1 && i < f.Count)
                    queue.Enqueue(f.Skip(i).Prepend(f[0]).ToArray());
            }
            if (ShellCode(f) is { } code)
                EnqueueCode(queue, code);
            // A script a shell or `source` runs: its commands are judged like inline code (issue #19, class 2).
            if (ScriptCode(f, context) is { } script)
                EnqueueCode(queue, script);
        }
        return forms;
    }

    private static void EnqueueCode(Queue<IReadOnlyList<ShellWord>> queue, string code)
    {
        if (ShellParser.Parse(code) is not { Succeeded: true } inner)
            return;
        foreach (var cmd in inner.Commands.Where(x => x.Words.Count > 0))
            queue.Enqueue(cmd.Words);
    }

    /// <summary>The shell command of a git alias set on the command line: <c>alias.x=!rm -rf .</c> → <c>rm -rf .</c>.</summary>
    private static string? GitAliasCode(string setting)
    {
        var eq = setting.IndexOf('=');
        if (eq < 0 || !setting.StartsWith("alias.", StringComparison.OrdinalIgnoreCase))
            return null;
        var value = setting[(eq + 1)..].TrimStart();
        return value.StartsWith('!') ? value[1..] : "git " + value;
    }

    /// <summary>The code a shell, <c>eval</c> or <c>su -c</c> is given to run, or null.</summary>
    private static string? ShellCode(IReadOnlyList<ShellWord> f)
    {
        var name = Path.GetFileName(f[0].Value);
        if (name == "eval")
            return string.Join(' ', f.Skip(1).Select(w => w.Value));
        if (!Shells.Contains(name) && name is not ("su" or "runuser"))
            return null;
        var sawCodeFlag = false;
        for (var i = 1; i < f.Count; i++)
        {
            var v = f[i].Value;
            if (v == "--")
                return sawCodeFlag && i + 1 < f.Count ? f[i + 1].Value : null;
            if (v is "-c" or "--command" || (v.StartsWith('-') && !v.StartsWith("--", StringComparison.Ordinal) && v.Contains('c')))
            {
                sawCodeFlag = true;
                continue;
            }
            if (v is "-o" or "+o" or "-O" or "+O" or "-s" or "--rcfile" or "--init-file" or "-u" or "-g")
            {
                i++;
                continue;
            }
            if (v.StartsWith('-') || v.StartsWith('+'))
                continue;
            return sawCodeFlag ? v : null;
        }
        return null;
    }

    /// <summary>The words with unquoted brace expressions expanded (<c>{rm,-rf,x}</c> → <c>rm -rf x</c>); null when none.</summary>
    private static IReadOnlyList<ShellWord>? BraceExpanded(IReadOnlyList<ShellWord> words)
    {
        if (!words.Any(w => !w.IsDynamic && w.Value.Contains('{') && w.Value.Contains(',') && w.Raw.IndexOfAny(['\'', '"', '\\']) < 0))
            return null;
        var result = new List<ShellWord>();
        foreach (var w in words)
        {
            if (w.IsDynamic || !w.Value.Contains('{') || w.Raw.IndexOfAny(['\'', '"', '\\']) >= 0)
            {
                result.Add(w);
                continue;
            }
            foreach (var part in ShellGlob.FileSystemBraces(w.Value))
                result.Add(new ShellWord(part, part, false, part.IndexOfAny(['*', '?', '[']) >= 0));
        }
        return result;
    }

    /// <summary>Peels one wrapper for allow rules (<c>timeout 5 cmd</c> → <c>cmd</c>); null when the command is not wrapped. Never <c>xargs</c>: it takes its command from input.</summary>
    private static IReadOnlyList<ShellWord>? StripWrapper(IReadOnlyList<ShellWord> words)
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
                    if (V() is not "-p")
                        return null;
                    i++;
                }
                break;
            default:
                return null;
        }
        if (i < words.Count && words[i].Value == "--")
            i++;
        // An option of the wrapper we cannot read could change what it runs.
        if (words.Take(Math.Min(i, words.Count)).Any(w => w.IsDynamic))
            return null;
        return i < words.Count ? words.Skip(i).ToArray() : null;
    }

    /// <summary>Whether the command runs code or commands given as arguments, which a wildcard rule would wave through.</summary>
    private static bool RunsOtherCode(IReadOnlyList<ShellWord> form)
    {
        var name = Path.GetFileName(form[0].Value);
        var args = form.Skip(1).Select(w => w.Value).ToArray();
        if (Interpreters.Contains(name) || name.StartsWith("python", StringComparison.Ordinal))
            return InterpreterRunsUnnamedCode(name, args);
        if (NeverByPrefix.Contains(name) || Shells.Contains(name))
            return true;
        if (name == "find")
            return args.Any(FindActions.Contains);
        if (name == "git")
        {
            // `git -c alias.x='!…'`, `-c core.pager=…`, `--exec-path`: options before the subcommand that run programs.
            for (var i = 0; i < args.Length && args[i].StartsWith('-'); i++)
            {
                if (args[i].StartsWith("-c", StringComparison.Ordinal) || args[i].StartsWith("--exec-path", StringComparison.Ordinal) || args[i].StartsWith("--config-env", StringComparison.Ordinal))
                    return true;
            }
        }
        return false;
    }

    /// <summary>
    /// Whether an interpreter runs code that no file names (issue #9, interpreters): inline code in any spelling
    /// (<c>-c</c>, <c>-Bc</c>, <c>-pe</c>, <c>-we</c>, <c>--eval</c>), a preloaded module (<c>-r</c>, <c>-M</c>), or code
    /// read from stdin (no script at all, or <c>-</c>). A named script (<c>node app.js</c>) or module
    /// (<c>python3 -m pytest</c>) is not: everything after it is the program's own arguments (<c>node app.js -p 3000</c>).
    /// </summary>
    internal static bool InterpreterRunsUnnamedCode(string name, string[] args)
    {
        var family = name.StartsWith("python", StringComparison.Ordinal) ? "python" : name;
        var codeChars = family switch
        {
            "python" => "c",
            "node" or "nodejs" or "bun" or "deno" => "epr",
            "perl" => "eEMm",
            "ruby" => "er",
            "php" => "rBRFE",
            _ => "ce",
        };
        for (var i = 0; i < args.Length; i++)
        {
            var a = args[i];
            if (a == "-")
                return true;
            if (a == "--")
                return i + 1 >= args.Length;
            if (a.StartsWith("--", StringComparison.Ordinal))
            {
                var option = a.Split('=')[0];
                if (InterpreterCodeOptions.Contains(option))
                    return true;
                continue;
            }
            if (a.StartsWith('-') && a.Length > 1)
            {
                if (InterpreterCodeOptions.Contains(a))
                    return true;
                var cluster = a[1..];
                if (family == "deno" && cluster == "e")
                    return true;
                if (family == "python" && cluster.IndexOf('m') is var m and >= 0)
                    return m == cluster.Length - 1 ? i + 1 >= args.Length : false; // -m mod: named code; its args follow
                if (cluster.IndexOfAny(codeChars.ToCharArray()) >= 0)
                    return true;
                if (cluster.Length == 1 && InterpreterValueFlags.Contains(cluster[0]))
                    i++;
                continue;
            }
            if (family == "deno" && a is "eval" or "repl")
                return true;
            if (family == "deno" && a is "run" or "test" or "task")
                continue;
            return false; // the script
        }
        return true; // no script: the interpreter reads its program from stdin
    }

    /// <summary>Commands that create, replace, move or remove the files they name, and which of their operands they write.</summary>
    private static readonly Dictionary<string, bool> FileWriters = new(StringComparer.Ordinal)
    {
        // true: every operand is written (or removed); false: only the last one (the destination).
        ["rm"] = true, ["rmdir"] = true, ["unlink"] = true, ["shred"] = true, ["mv"] = true, ["touch"] = true, ["mkdir"] = true,
        ["tee"] = true, ["truncate"] = true, ["chmod"] = true, ["chown"] = true, ["chgrp"] = true, ["setfacl"] = true,
        ["cp"] = false, ["install"] = false, ["ln"] = false, ["rsync"] = false,
    };

    /// <summary>
    /// A command that would write the run's own state or the agent's own configuration (issue #19, classes 3 and 10),
    /// denied in every mode, bypass included, so the string checks hold these paths even without the sandbox.
    /// </summary>
    private SubDecision? ProtectedWrite(IReadOnlyList<ShellWord> form, List<string> cwds, ToolContext context)
    {
        if (form[0].IsDynamic)
            return null;
        var name = Path.GetFileName(form[0].Value);
        var operands = form.Skip(1).Where(w => !w.Value.StartsWith('-') || w.IsDynamic).ToArray();
        IEnumerable<ShellWord> written;
        if (FileWriters.TryGetValue(name, out var all))
            written = all ? operands : operands.TakeLast(1);
        else if (name == "sed" && form.Skip(1).Any(w => w.Value.StartsWith("-i", StringComparison.Ordinal) || w.Value.StartsWith("--in-place", StringComparison.Ordinal)))
            written = operands.Skip(1);
        else if (name == "dd")
            written = form.Skip(1).Where(w => w.Value.StartsWith("of=", StringComparison.Ordinal)).Select(w => w with { Value = w.Value[3..] });
        else
            return null;
        foreach (var word in written.Where(w => !w.IsDynamic))
        {
            foreach (var cwd in cwds)
            {
                foreach (var path in ShellGlob.Expand(word, cwd, context) ?? [context.RawPath(word.Value, cwd)])
                {
                    var full = Path.GetFullPath(path);
                    var decision = EvaluatePath(PathAccess.Edit, full, context, FileRuleScope.BashCommand, path);
                    if (!decision.IsAllowed && decision.Message?.Contains("which tools may not", StringComparison.Ordinal) == true)
                        return new SubDecision(Verdict.Deny, $"{name} {word.Raw}: {decision.Reason}", null, decision.Message);
                }
            }
        }
        return null;
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
        }
        // A bare Read deny (every file) leaves nothing for a read-only command to read (issue #19, class 1).
        if (_rules.Any(r => r.Behavior != RuleBehavior.Allow && r.IsWholeTool && r.NamesTool("Read")))
            return null;
        if (name == "git")
            return GitReadOnlyCheck(args, cwds, context);
        if (!PathReadingCommands.Contains(name))
            return null;
        if (name == "find" && args.Any(a => FindActions.Contains(a.Value)))
            return null;
        var paths = OperandPaths(args, cwds, context, out var unknown);
        if (unknown is not null)
            return null;
        if (CheckPaths(PathAccess.Read, paths, cwds, context) is not null)
            return null;
        if (FollowsLinksBelow(name, args) && LinkLeavingTree(SearchedFolders(name, args), cwds, context) is { } link)
            return new SubDecision(Verdict.Unmatched, $"{name} follows the symlink {link}, which leads outside the working directories");
        return new SubDecision(Verdict.Allow, $"read-only command {name}");
    }

    /// <summary>
    /// git's read-only subcommands, auto-approved when every path they name passes the Read checks, after the global
    /// options that only choose where git runs (<c>-C DIR</c>, <c>--no-pager</c>). Never when a bare Read deny forbids
    /// every read, and never in a repository the working tree itself holds (one the model could have made, whose config
    /// would choose the code git runs); the command then runs with git's code-running settings overridden (see
    /// <see cref="SafeGitEnvironment"/>).
    /// </summary>
    private SubDecision? GitReadOnlyCheck(ShellWord[] args, List<string> cwds, ToolContext context)
    {
        var i = 0;
        var gitCwds = cwds;
        while (i < args.Length && !args[i].IsDynamic)
        {
            var option = args[i].Value;
            if (option is "--no-pager" or "-P" or "--no-optional-locks" or "--literal-pathspecs")
            {
                i++;
                continue;
            }
            if (option != "-C" || i + 1 >= args.Length)
                break;
            var dir = args[i + 1];
            if (dir.IsDynamic || dir.HasGlob || dir.Value.Length == 0 || (dir.Value.StartsWith('~') && dir.Value != "~" && !dir.Value.StartsWith("~/", StringComparison.Ordinal)))
                return null;
            if (CheckPaths(PathAccess.Read, [dir.Value], gitCwds, context) is not null)
                return null;
            gitCwds = gitCwds.Select(c => KernelPath.Resolve(context.RawPath(dir.Value, c)) ?? context.ResolvePath(dir.Value, c)).Distinct(StringComparer.Ordinal).ToList();
            i += 2;
        }
        if (i >= args.Length || args[i].IsDynamic || !GitReadOnly.Contains(args[i].Value))
            return null;
        var paths = new List<string>();
        foreach (var arg in args.Skip(i + 1))
        {
            var v = arg.Value;
            if (arg.IsDynamic || v == "--output" || v.StartsWith("--output=", StringComparison.Ordinal) || v.StartsWith("--ext-diff", StringComparison.Ordinal)
                || v.StartsWith("--textconv", StringComparison.Ordinal) || v.StartsWith("-O", StringComparison.Ordinal) || v.StartsWith("--open-files-in-pager", StringComparison.Ordinal))
                return null;
            // `~user/…` is another user's home, which no rule here can be checked against (issue #19, class 6).
            if (v.StartsWith('~') && v != "~" && !v.StartsWith("~/", StringComparison.Ordinal))
                return null;
            if (v.StartsWith('-'))
            {
                var eq = v.IndexOf('=');
                if (eq > 0 && LooksLikePath(v[(eq + 1)..]))
                    paths.Add(v[(eq + 1)..]);
                continue;
            }
            if (arg.HasGlob && (arg.Value.Contains('{') || arg.Value.Split('/').Any(seg => seg.StartsWith('.') && seg.IndexOfAny(['*', '?', '[']) >= 0)))
                return null;
            if (v.IndexOf(':') is var colon and >= 0)
            {
                // `REV:path` names a file of the repository (relative to its top folder unless ./ or ../).
                foreach (var cwd in gitCwds)
                    paths.Add(ObjectPath(v[(colon + 1)..], cwd, context));
                continue;
            }
            // A word that names an existing file is read as one (`git diff --no-index link/x y`), whatever it looks like.
            if (LooksLikePath(v) || gitCwds.Any(c => Path.Exists(context.ResolvePath(v, c))))
                paths.Add(v);
        }
        if (CheckPaths(PathAccess.Read, paths, gitCwds, context) is not null)
            return null;
        if (gitCwds.Select(c => RepositoryProblem(c, context)).FirstOrDefault(p => p is not null) is { } problem)
            return new SubDecision(Verdict.Unmatched, $"git {args[i].Value} is not read-only here: {problem}");
        return new SubDecision(Verdict.Allow, $"read-only command git {args[i].Value}", ReadOnlyGit: true);
    }

    /// <summary>The file a <c>REV:path</c> object name reads: relative to the repository's top folder, or to the cwd for ./ and ../.</summary>
    private static string ObjectPath(string path, string cwd, ToolContext context)
    {
        if (path.StartsWith("./", StringComparison.Ordinal) || path.StartsWith("../", StringComparison.Ordinal) || path is "." or "..")
            return context.ResolvePath(path, cwd);
        var top = RepositoryTop(cwd) ?? cwd;
        return context.ResolvePath(path.TrimStart('/'), top);
    }

    /// <summary>The folder holding the <c>.git</c> that git finds from <paramref name="cwd"/>, or null outside any repository.</summary>
    private static string? RepositoryTop(string cwd)
    {
        for (var dir = cwd; !string.IsNullOrEmpty(dir); dir = Path.GetDirectoryName(dir))
        {
            if (IO.FileStatus.Of(Path.Combine(dir, ".git"), followSymlinks: false).Kind != IO.FileKind.Missing)
                return dir;
        }
        return null;
    }

    /// <summary>
    /// Why git run in <paramref name="cwd"/> could run code the repository chooses, or null: the repository git finds
    /// there (a <c>.git</c> folder or file, or a bare repository on the way up) lies inside the working tree but is not
    /// the working tree's own, so the model may have written its config (<c>core.fsmonitor</c>, diff drivers, hooks).
    /// </summary>
    private string? RepositoryProblem(string cwd, ToolContext context)
    {
        for (var dir = cwd; !string.IsNullOrEmpty(dir); dir = Path.GetDirectoryName(dir))
        {
            var dotGit = Path.Combine(dir, ".git");
            var kind = IO.FileStatus.Of(dotGit, followSymlinks: false).Kind;
            if (kind == IO.FileKind.Directory)
                return TrustedGitDirectory(dotGit, context) ? null : $"the repository at {dir} lies inside the working tree, so its config may have been written by a tool";
            if (kind == IO.FileKind.Regular)
            {
                var target = GitLinkTarget(dotGit);
                return target is not null && TrustedGitDirectory(target, context) ? null : $"{dotGit} points to a repository inside the working tree";
            }
            if (kind != IO.FileKind.Missing)
                return $"{dotGit} is not a folder or a file";
            if (Path.GetFileName(dir) != ".git" && Directory.Exists(Path.Combine(dir, "objects")) && Directory.Exists(Path.Combine(dir, "refs")) && File.Exists(Path.Combine(dir, "HEAD")))
                return IsInsideWorkingDirectories(dir, context) ? $"{dir} is a bare repository inside the working tree" : null;
        }
        return null;
    }

    /// <summary>A git folder whose config a tool cannot have written: outside the working directories, or the protected <c>.git</c> of one of their roots.</summary>
    private bool TrustedGitDirectory(string gitDir, ToolContext context)
    {
        var real = KernelPath.Resolve(gitDir) ?? gitDir;
        if (!IsInsideWorkingDirectories(real, context))
            return true;
        foreach (var root in context.AllowedDirectories.Concat(Policy.AdditionalDirectories))
        {
            var rootReal = KernelPath.Resolve(root) ?? root;
            if (IsUnder(real, Path.Combine(rootReal, ".git")) || IsUnder(real, Path.Combine(root, ".git")))
                return true;
        }
        return false;
    }

    /// <summary>The folder a <c>.git</c> file (worktree, submodule) names: <c>gitdir: PATH</c>.</summary>
    private static string? GitLinkTarget(string dotGitFile)
    {
        try
        {
            var text = File.ReadAllText(dotGitFile).Trim();
            if (!text.StartsWith("gitdir:", StringComparison.Ordinal))
                return null;
            var path = text["gitdir:".Length..].Trim();
            return Path.GetFullPath(path, Path.GetDirectoryName(dotGitFile)!);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or ArgumentException)
        {
            return null;
        }
    }

    /// <summary>Whether the command follows symlinks it meets below its operands (<c>grep -R</c>, <c>find -L</c>, <c>du -L</c>, <c>ls -RL</c>).</summary>
    private static bool FollowsLinksBelow(string name, ShellWord[] args)
    {
        bool ShortFlag(char c) => args.Any(a => a.Value.StartsWith('-') && !a.Value.StartsWith("--", StringComparison.Ordinal) && a.Value.IndexOf(c, 1) > 0);
        return name switch
        {
            "grep" or "egrep" or "fgrep" => ShortFlag('R') || args.Any(a => a.Value == "--dereference-recursive"),
            "find" => args.Any(a => a.Value is "-L" or "-follow"),
            "du" or "ls" => ShortFlag('L') || args.Any(a => a.Value == "--dereference"),
            _ => false,
        };
    }

    /// <summary>The operands a recursive command walks: grep's first operand is its pattern (unless -e/-f give it); none means ".".</summary>
    private static IReadOnlyList<string> SearchedFolders(string name, ShellWord[] args)
    {
        var operands = args.Where(a => !a.Value.StartsWith('-') || a.Value == "-").Select(a => a.Value).ToList();
        if (name is "grep" or "egrep" or "fgrep" && operands.Count > 0 && !args.Any(a => a.Value is "-e" or "-f" || a.Value.StartsWith("--regexp", StringComparison.Ordinal) || a.Value.StartsWith("--file", StringComparison.Ordinal)))
            operands.RemoveAt(0);
        return operands.Count == 0 ? ["."] : operands;
    }

    /// <summary>
    /// The first symlink below the operand folders that leads outside the working directories or to a denied path
    /// (issue #19, class 6: <c>grep -R x .</c> with <c>./lib -> /etc</c>); null when none does.
    /// </summary>
    private string? LinkLeavingTree(IEnumerable<string> operands, List<string> cwds, ToolContext context)
    {
        var budget = 50_000;
        foreach (var operand in operands)
        {
            foreach (var cwd in cwds)
            {
                var stack = new Stack<string>();
                stack.Push(context.ResolvePath(operand, cwd));
                while (stack.Count > 0)
                {
                    var dir = stack.Pop();
                    if (!Directory.Exists(dir))
                        continue;
                    IEnumerable<FileSystemInfo> entries;
                    try
                    {
                        entries = new DirectoryInfo(dir).EnumerateFileSystemInfos("*", new EnumerationOptions { IgnoreInaccessible = true, AttributesToSkip = 0 }).ToArray();
                    }
                    catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
                    {
                        continue;
                    }
                    foreach (var entry in entries)
                    {
                        if (--budget < 0)
                            return dir;
                        if (entry.LinkTarget is not null)
                        {
                            if (EvaluatePath(PathAccess.Read, entry.FullName, context, FileRuleScope.BashCommand) is { IsAllowed: false })
                                return entry.FullName;
                            continue;
                        }
                        if (entry is DirectoryInfo)
                            stack.Push(entry.FullName);
                    }
                }
            }
        }
        return null;
    }

    private static bool LooksLikePath(string v) =>
        v.StartsWith('/') || v.StartsWith('~') || v == ".." || v.StartsWith("../", StringComparison.Ordinal) || v.Contains("/../") || v.EndsWith("/..", StringComparison.Ordinal) || v.StartsWith("./", StringComparison.Ordinal);

    /// <summary>
    /// Every argument that may name a file: operands, and the value of <c>--opt=value</c> or <c>-fvalue</c> options that
    /// hold a slash; a word with braces or a glob stands for every file bash expands it to, each resolved against every
    /// folder the command may run in (absolute paths). Sets <paramref name="unknown"/> when an argument's value cannot
    /// be known (expansions, <c>~user</c>, a glob with too many matches).
    /// </summary>
    private static List<string> OperandPaths(ShellWord[] args, List<string> cwds, ToolContext context, out string? unknown)
    {
        var literal = OperandPaths(args, out unknown);
        if (unknown is not null)
            return literal;
        var paths = new List<string>(literal);
        foreach (var arg in args.Where(a => a.HasGlob))
        {
            foreach (var cwd in cwds)
            {
                if (ShellGlob.Expand(arg, cwd, context) is not { } expanded)
                {
                    unknown = arg.Raw;
                    return paths;
                }
                paths.AddRange(expanded);
            }
        }
        return paths;
    }

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
                var decision = EvaluatePath(access, context.ResolvePath(path, cwd), context, FileRuleScope.BashCommand, context.RawPath(path, cwd));
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
