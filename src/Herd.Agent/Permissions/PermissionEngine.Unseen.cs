using Herd.Agent.Tools;

namespace Herd.Agent.Permissions;

/// <summary>
/// Code the rules cannot see (issue #19, class 2): a command whose executed text is only known when it runs. A deny rule
/// is a promise that a command never runs; when the text that will run cannot be read before it runs, no string check
/// can keep that promise, so while a Bash deny rule is in force such a command is refused, in every mode.
/// </summary>
public sealed partial class PermissionEngine
{
    /// <summary>A script longer than this is not read to check its commands; running it is refused under a Bash deny rule.</summary>
    private const int MaxScriptBytes = 64 * 1024;

    private static readonly HashSet<string> SourceCommands = new(StringComparer.Ordinal) { "source", "." };

    /// <summary>
    /// Why one reading of a command runs text that cannot be known before it runs, or null when all of its code is visible:
    /// a command name that is an expansion; <c>eval</c> of an expansion; a shell, <c>source</c> or interpreter that reads
    /// its program from standard input (<c>curl … | sh</c>), from a process substitution (<c>source &lt;(…)</c>), from a
    /// path or inline code that holds an expansion (<c>bash -c "$VAR"</c>), or from a script that cannot be read;
    /// <c>xargs</c> and <c>parallel</c> running a shell, an interpreter or their input itself.
    /// </summary>
    private static string? UnseenCode(IReadOnlyList<ShellWord> f, ToolContext context)
    {
        if (f.Count == 0 || f[0].AssignmentName is not null)
            return null;
        if (f[0].IsDynamic)
            return "its command name is only known when it runs";
        var name = Path.GetFileName(f[0].Value);
        var args = f.Skip(1).ToArray();
        if (name == "eval")
            return args.Any(a => a.IsDynamic) ? "eval runs text that is only known when it runs" : null;
        if (SourceCommands.Contains(name))
            return args.Length == 0 ? null : ScriptProblem(args[0], context, name);
        if (Shells.Contains(name))
            return ShellProblem(name, args, context);
        if (Interpreters.Contains(name) || name.StartsWith("python", StringComparison.Ordinal))
        {
            var values = args.Select(a => a.Value).ToArray();
            if (!InterpreterRunsUnnamedCode(name, values))
                return null;
            if (args.Any(a => a.IsDynamic))
                return $"{name}'s inline code holds an expansion";
            var hasInline = values.Any(v => v.StartsWith('-') && v != "-" && v != "--");
            return hasInline && !values.Contains("-") ? null : $"{name} reads its program from its input";
        }
        if (name is "xargs" or "parallel")
        {
            var command = args.FirstOrDefault(a => !a.Value.StartsWith('-') && !(a.Value.All(char.IsAsciiDigit)));
            if (command is null || command.Value is ":::" or "::::" or ":::+" or "::::+")
                return name == "parallel" ? "parallel runs its input as commands" : null;
            if (command.IsDynamic || command.Value.Contains("{}", StringComparison.Ordinal))
                return $"{name} takes the command it runs from its input";
            var inner = Path.GetFileName(command.Value);
            if (Shells.Contains(inner) || SourceCommands.Contains(inner) || inner == "eval" || Interpreters.Contains(inner) || inner.StartsWith("python", StringComparison.Ordinal))
                return $"{name} hands its input to {inner} as code";
        }
        return null;
    }

    /// <summary>A shell's program: inline code (<c>-c</c>), a script file, or its input.</summary>
    private static string? ShellProblem(string name, ShellWord[] args, ToolContext context)
    {
        var codeFlag = false;
        for (var i = 0; i < args.Length; i++)
        {
            var a = args[i];
            if (a.IsDynamic)
                return codeFlag ? $"{name} -c runs code that holds an expansion" : $"{name} runs a script whose name is only known when it runs";
            var v = a.Value;
            if (v == "--")
            {
                if (i + 1 >= args.Length)
                    return codeFlag ? null : $"{name} reads its commands from its input";
                return codeFlag ? (args[i + 1].IsDynamic ? $"{name} -c runs code that holds an expansion" : null) : ScriptProblem(args[i + 1], context, name);
            }
            if (v is "-s" || (v.StartsWith('-') && !v.StartsWith("--", StringComparison.Ordinal) && v.Length > 1 && v.Contains('s') && !v.Contains('c')))
                return $"{name} -s reads its commands from its input";
            if (v is "-c" or "--command" || (v.StartsWith('-') && !v.StartsWith("--", StringComparison.Ordinal) && v.Contains('c')))
            {
                codeFlag = true;
                continue;
            }
            if (v is "-o" or "+o" or "-O" or "+O" or "--rcfile" or "--init-file")
            {
                i++;
                continue;
            }
            if (v.StartsWith('-') && v != "-" || v.StartsWith('+'))
                continue;
            // The first operand: the code after -c (checked through its parse), else the script.
            return codeFlag ? null : ScriptProblem(a, context, name);
        }
        return codeFlag ? null : $"{name} reads its commands from its input";
    }

    /// <summary>Why a script a shell or <c>source</c> runs cannot be checked: its path is unknown, or it is not a readable shell file.</summary>
    private static string? ScriptProblem(ShellWord script, ToolContext context, string runner)
    {
        if (script.IsDynamic)
            return $"{runner} runs a file only known when it runs";
        var v = script.Value;
        if (v is "-" or "/dev/stdin" || v.StartsWith("/dev/fd/", StringComparison.Ordinal) || v.StartsWith("/proc/", StringComparison.Ordinal))
            return $"{runner} reads its commands from its input";
        return ScriptText(v, context) is null ? $"{runner} runs {v}, which cannot be read and checked before it runs" : null;
    }

    /// <summary>The text of a shell script the command names, when it is a regular file small enough to check; else null.</summary>
    private static string? ScriptText(string path, ToolContext context)
    {
        try
        {
            var full = context.ResolvePath(path);
            var info = new FileInfo(full);
            if (!info.Exists || info.Length > MaxScriptBytes || (info.Attributes & FileAttributes.Directory) != 0)
                return null;
            var status = IO.FileStatus.Of(full, followSymlinks: true);
            return status.Kind == IO.FileKind.Regular ? File.ReadAllText(full) : null;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or ArgumentException)
        {
            return null;
        }
    }

    /// <summary>The commands of a script a shell or <c>source</c> runs, so deny rules see them as they see <c>-c</c> code.</summary>
    private static string? ScriptCode(IReadOnlyList<ShellWord> f, ToolContext context)
    {
        var name = Path.GetFileName(f[0].Value);
        if (SourceCommands.Contains(name))
            return f.Count > 1 && !f[1].IsDynamic ? ScriptText(f[1].Value, context) : null;
        if (!Shells.Contains(name))
            return null;
        foreach (var a in f.Skip(1))
        {
            if (a.IsDynamic)
                return null;
            if (a.Value.StartsWith('-') || a.Value.StartsWith('+'))
            {
                if (a.Value.Contains('c') && !a.Value.StartsWith("--", StringComparison.Ordinal))
                    return null; // inline code: ShellCode reads it
                continue;
            }
            return ScriptText(a.Value, context);
        }
        return null;
    }
}
