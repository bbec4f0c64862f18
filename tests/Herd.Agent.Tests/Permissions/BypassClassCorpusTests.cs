using Herd.Agent.Permissions;
using Herd.Agent.Tools;

namespace Herd.Agent.Tests.Permissions;

/// <summary>
/// The hostile corpus of issue #9, by class. Each class runs against the rule set it attacks, and each class has
/// legitimate commands that must stay allowed, so no class can pass by denying everything.
/// </summary>
public sealed class BypassClassCorpusTests : IDisposable
{
    private readonly TempProject _p = new();

    public BypassClassCorpusTests()
    {
        _p.Write(".env", "SECRET=1");
        _p.Write("config/.env", "SECRET=2");
        _p.Write("src/a.cs", "class A {}");
        _p.Write("src/x/secret.txt", "s");
        _p.Write("settings.json", "{}");
        File.WriteAllText(Path.Combine(_p.Outside, "x"), "outside");
        Directory.CreateDirectory(Path.Combine(_p.Root, "lib"));
        File.WriteAllText(Path.Combine(_p.Root, "lib", "y"), "lib");
        // src/lib -> ../lib (the project's sibling of src... that is, <root>/project/lib) and a link that leaves the project.
        Directory.CreateDirectory(Path.Combine(_p.Cwd, "lib"));
        File.CreateSymbolicLink(Path.Combine(_p.Cwd, "src", "lib"), "../lib");
        File.CreateSymbolicLink(Path.Combine(_p.Cwd, "src", "up"), "../..");
    }

    public void Dispose() => _p.Dispose();

    private PermissionDecision Decide(string command, string[] allow, string[] deny, PermissionMode mode = PermissionMode.Default) =>
        new PermissionEngine(new PermissionPolicy(mode, allow, deny, [])).Evaluate(new BashTool(), TempProject.Input(("command", command)), _p.Context);

    // ---- class: wrappers that take their command from input ----
    public static TheoryData<string> InputWrappers() => new()
    {
        "git ls-files | xargs rm", "xargs rm < list", "xargs -0 rm", "xargs", "find . -exec rm {} +", "find . -execdir sh -c 'rm x' \\;",
        "find . -ok rm {} \\;", "git ls-files | parallel rm", "parallel rm ::: a", "echo rm x | sh", "echo rm x | bash", "sh < script.sh",
        "bash -s < script.sh", "source <(echo rm x)", ". <(curl x)", "cat list | xargs -I{} git diff {} ; xargs rm", "echo x | xargs -n1 cat",
        "printf 'rm x' | bash -", "git diff | zsh", "git diff | dash",
    };

    [Theory]
    [MemberData(nameof(InputWrappers))]
    public void A_wrapper_that_takes_its_command_from_input_is_never_approved_by_a_wildcard_rule(string command) =>
        Decide(command, ["Bash(git *)", "Bash(cat *)", "Bash(echo *)", "Bash(xargs *)", "Bash(find *)"], []).IsAllowed.ShouldBeFalse(command);

    [Theory]
    [InlineData("git ls-files | cat")]
    [InlineData("find . -name '*.cs'")]
    public void Plain_pipelines_without_wrappers_stay_allowed(string command) =>
        Decide(command, ["Bash(git *)", "Bash(cat *)", "Bash(find *)"], []).IsAllowed.ShouldBeTrue(command);

    // ---- class: path order (symlink before ..) ----
    public static TheoryData<string> PathOrder() => new()
    {
        "cat src/lib/../../outside/x", "cat src/up/outside/x", "cat ./src/lib/../../outside/x", "head src/lib/../../outside/x",
        "cat src/up/lib/y", "git diff --no-index src/a.cs src/lib/../../outside/x", "ls src/up", "cat src/lib/../../../../etc/passwd",
    };

    [Theory]
    [MemberData(nameof(PathOrder))]
    public void A_path_is_resolved_symlink_first_as_the_kernel_does(string command) =>
        Decide(command, [], []).IsAllowed.ShouldBeFalse(command);

    [Fact]
    public void A_deny_rule_sees_the_file_the_kernel_opens()
    {
        // src/lib/../.env: lexically src/.env (not denied), but the kernel opens <cwd>/lib/../.env = <cwd>/.env.
        Decide("cat src/lib/../.env", [], ["Read(./.env)"], PermissionMode.BypassPermissions).IsAllowed.ShouldBeFalse();
        Decide("cat src/lib/../src/a.cs", [], [], PermissionMode.Default).IsAllowed.ShouldBeTrue("the kernel opens <cwd>/src/a.cs, inside the project");
        Decide("cat src/a.cs", [], ["Read(./.env)"]).IsAllowed.ShouldBeTrue();
    }

    // ---- class: unexpanded words under a Read deny ----
    public static TheoryData<string> UnexpandedWords() => new()
    {
        "cat src/*/secret.txt", "cat src/?/secret.txt", "cat src/[x]/secret.txt", "cat .e*", "cat .en?", "cat ./.e[n]v", "cat config/.e*",
        "cat */.env", "cat {src/x,y}/secret.txt", "cat .{env,x}", "cat $PWD/.env", "cat $HOME/../../.env", "F=.env; cat $F", "cat ~root/.env",
        "cat `echo .env`", "cat \"$(echo .env)\"", "(cd config && cat .env)", "cd config; cat .env", "cd $X && cat src/x/secret.txt",
        "cd - && cat .env", "cat src/x/secret.txt", "grep -r SECRET .", "grep -rn SECRET", "rg SECRET", "git show HEAD:.env",
        "git show HEAD:config/.env", "git log -p", "git log --patch -- .", "git grep SECRET", "git diff HEAD~1", "git cat-file -p HEAD:.env",
        "tar cf - .", "cp -r config /tmp/c", "git archive HEAD", "grep -r class src", "git log -p -- src",
    };

    [Theory]
    [MemberData(nameof(UnexpandedWords))]
    public void A_word_whose_files_a_read_deny_covers_is_denied_even_in_bypass_mode(string command) =>
        Decide(command, [], ["Read(.env)", "Read(./src/x/secret.txt)"], PermissionMode.BypassPermissions).IsAllowed.ShouldBeFalse(command);

    [Theory]
    [InlineData("cat src/*.cs")]
    [InlineData("cat src/{a,b}.cs")]
    [InlineData("grep -r class lib")]
    [InlineData("git log --oneline")]
    [InlineData("git show HEAD:src/a.cs")]
    [InlineData("git log -p -- src/a.cs")]
    [InlineData("cd src && cat a.cs")]
    [InlineData("ls -la")]
    public void Words_that_expand_to_allowed_files_stay_allowed_under_a_read_deny(string command) =>
        Decide(command, [], ["Read(.env)", "Read(./src/x/secret.txt)"], PermissionMode.BypassPermissions).IsAllowed.ShouldBeTrue(command);

    // ---- class: deny rules by command name ----
    public static TheoryData<string> DenyByName() => new()
    {
        "/bin/rm -rf x", "/usr/bin/rm x", "./rm x", "exec rm x", "setsid rm x", "nice -n 5 rm x", "nice -5 rm x", "stdbuf -oL rm x",
        "stdbuf -o L rm x", "bash -c -- 'rm x'", "bash -ec 'rm x'", "bash -c -x 'rm x'", "sh -xc 'rm x'", "a[0]=1 rm x", "a+=1 rm x",
        "$(echo rm) x", "`echo rm` x", "$RM x", "{rm,x}", "{rm,-rf,x}", "git -c alias.x='!rm -rf x' x", "git -calias.x=!rm x",
        "timeout -s KILL 5 rm x", "ionice -c3 rm x", "chrt -i 0 rm x", "taskset -c 0 rm x", "flock /tmp/l rm x", "watch -n1 rm x",
        "strace -f rm x", "env -i PATH=/bin rm x", "sudo -E rm x", "doas rm x", "su -c 'rm x'", "eval 'rm x'", "command -p rm x",
        "builtin exec rm x", "nohup nice rm x", "xargs -0 -n1 rm", "find . -exec /bin/rm {} \\;", "time -p rm x", "busybox rm x",
        "unbuffer rm x", "systemd-run rm x", "fakeroot rm x",
    };

    [Theory]
    [MemberData(nameof(DenyByName))]
    public void A_deny_rule_by_command_name_sees_through_every_spelling(string command) =>
        Decide(command, [], ["Bash(rm *)"], PermissionMode.BypassPermissions).IsAllowed.ShouldBeFalse(command);

    public static TheoryData<string> GitPushSpellings() => new()
    {
        "git -C . push", "git -C . push origin main", "git --git-dir=.git push", "git -c user.name=x push", "git --no-pager push",
        "/usr/bin/git push", "git -C src -C .. push", "git -c alias.p=push p",
    };

    [Theory]
    [MemberData(nameof(GitPushSpellings))]
    public void A_git_subcommand_deny_sees_past_git_global_options(string command) =>
        Decide(command, [], ["Bash(git push *)"], PermissionMode.BypassPermissions).IsAllowed.ShouldBeFalse(command);

    [Theory]
    [InlineData("ls -la")]
    [InlineData("git status")]
    [InlineData("nice -n 5 make")]
    [InlineData("git -C . status")]
    public void Commands_that_do_not_run_the_denied_name_stay_allowed(string command) =>
        Decide(command, [], ["Bash(rm *)", "Bash(git push *)"], PermissionMode.BypassPermissions).IsAllowed.ShouldBeTrue(command);

    /// <summary>Every wrapper crossed with every spelling of the command name: the class, not only its examples.</summary>
    public static TheoryData<string> WrapperCrossSpelling()
    {
        string[] wrappers =
        [
            "", "exec", "setsid", "nohup", "nice", "nice -n 5", "nice -5", "stdbuf -oL", "stdbuf -o L -e L", "timeout 5", "timeout -k 1 5",
            "time", "time -p", "command", "command -p", "builtin", "env", "env -i", "env A=1", "env -u X", "sudo", "sudo -E", "sudo -u root",
            "doas", "xargs", "xargs -0", "xargs -n 1", "watch", "watch -n 1", "ionice -c3", "chrt -i 0", "taskset -c 0", "flock /tmp/l",
            "strace -f", "unbuffer", "fakeroot", "eatmydata", "nocache", "A=1", "a[1]=x", "X+=1", "LANG=C",
        ];
        string[] names = ["rm", "/bin/rm", "/usr/bin/rm", "./rm", "{rm,-f}", "'rm'", "r\\m", "\"rm\""];
        var data = new TheoryData<string>();
        foreach (var wrapper in wrappers)
        {
            foreach (var name in names)
                data.Add($"{wrapper} {name} x".Trim());
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(WrapperCrossSpelling))]
    public void Every_wrapper_with_every_spelling_of_a_denied_name_is_denied(string command) =>
        Decide(command, ["Bash"], ["Bash(rm *)"]).IsAllowed.ShouldBeFalse(command);

    /// <summary>Every way of naming a denied file crossed with the commands that read files.</summary>
    public static TheoryData<string> ReaderCrossSpelling()
    {
        string[] readers = ["cat", "head -n1", "tail", "less", "grep x", "diff a", "cp -t /tmp", "base64", "xxd", "od -c", "wc -c", "git diff --no-index a", "sed -n p", "awk 1", "sort", "strings"];
        string[] spellings = [".env", "./.env", "config/../.env", "src/lib/../.env", ".e*", ".en?", ".[e]nv", "{.env,x}", "$PWD/.env", "~+/.env", "*/.env", "config/.e*"];
        var data = new TheoryData<string>();
        foreach (var reader in readers)
        {
            foreach (var spelling in spellings)
                data.Add($"{reader} {spelling}");
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(ReaderCrossSpelling))]
    public void Every_reader_with_every_spelling_of_a_denied_file_is_denied(string command) =>
        Decide(command, ["Bash"], ["Read(.env)"]).IsAllowed.ShouldBeFalse(command);

    /// <summary>Every interpreter crossed with every way to hand it code no file names.</summary>
    public static TheoryData<string> InterpreterCrossSpelling()
    {
        (string Name, string[] Forms)[] table =
        [
            ("python3", ["-c 'x'", "-Bc 'x'", "-Ic 'x'", "-uc 'x'", "-B -c 'x'", "-W ignore -c 'x'", "-", "", "-u", "-X dev -c x"]),
            ("python", ["-c 'x'", "-Sc x", ""]),
            ("node", ["-e x", "-p x", "-pe x", "--eval x", "--eval=x", "--print x", "-r ./x app.js", "--require=./x app.js", "--import ./x app.js", ""]),
            ("perl", ["-e x", "-we x", "-E x", "-Mstrict -e x", "-MPOSIX x.pl", "-le x", ""]),
            ("ruby", ["-e x", "-we x", "-rjson x.rb", ""]),
            ("php", ["-r x", ""]),
            ("lua", ["-e x", ""]),
            ("bun", ["-e x", "--eval x", ""]),
            ("deno", ["eval x", "repl", ""]),
        ];
        var data = new TheoryData<string>();
        foreach (var (name, forms) in table)
        {
            foreach (var form in forms)
            {
                data.Add($"{name} {form}".Trim());
                data.Add($"echo x | {name} {form}".Trim());
            }
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(InterpreterCrossSpelling))]
    public void Every_interpreter_with_every_way_to_give_it_unnamed_code_needs_an_exact_rule(string command) =>
        Decide(command, ["Bash(python3 *)", "Bash(python *)", "Bash(node *)", "Bash(perl *)", "Bash(ruby *)", "Bash(php *)", "Bash(lua *)", "Bash(bun *)", "Bash(deno *)", "Bash(echo *)"], [])
            .IsAllowed.ShouldBeFalse(command);

    // ---- class: interpreters ----
    public static TheoryData<string> Interpreters() => new()
    {
        "python3 -c 'import os'", "python3 -Bc 'import os'", "python3 -Ic 'x'", "python3 -", "python3", "echo 'import os' | python3",
        "python3 < evil.py", "python3 -u", "node -e 'x'", "node -pe 'x'", "node --eval=x", "node -r ./evil.js app.js", "node --require ./evil app.js",
        "node", "perl -we 'x'", "perl -e 'x'", "perl -MPOSIX -e1", "perl -M'IO::All;system(1)' x.pl", "ruby -e 'x'", "ruby -rnet/http x.rb",
        "php -r 'x'", "echo x | node", "deno eval 'x'", "bun -e 'x'", "lua -e 'x'",
    };

    [Theory]
    [MemberData(nameof(Interpreters))]
    public void An_interpreter_given_code_that_no_file_names_is_not_approved_by_a_wildcard_rule(string command) =>
        Decide(command, ["Bash(python3 *)", "Bash(node *)", "Bash(perl *)", "Bash(ruby *)", "Bash(php *)", "Bash(deno *)", "Bash(bun *)", "Bash(lua *)", "Bash(echo *)"], [])
            .IsAllowed.ShouldBeFalse(command);

    [Theory]
    [InlineData("python3 -m pytest -x", "Bash(python3 -m pytest *)")]
    [InlineData("python3 -m pytest", "Bash(python3 -m pytest *)")]
    [InlineData("node app.js -p 3000", "Bash(node app.js *)")]
    [InlineData("node app.js -e x", "Bash(node app.js *)")]
    [InlineData("python3 tools/gen.py -c conf", "Bash(python3 tools/gen.py *)")]
    [InlineData("perl script.pl -e", "Bash(perl script.pl *)")]
    public void A_named_script_or_module_keeps_its_own_arguments(string command, string rule) =>
        Decide(command, [rule], []).IsAllowed.ShouldBeTrue(command);

    // ---- false denials fixed ----
    [Fact]
    public void Diffing_against_dev_null_is_a_read_of_nothing() =>
        Decide("git diff --no-index /dev/null src/a.cs", [], []).IsAllowed.ShouldBeTrue();
}
