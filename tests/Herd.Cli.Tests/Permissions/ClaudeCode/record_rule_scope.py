#!/usr/bin/env python3
"""Measures which permission rule governs which tool in the real Claude Code 2.1.332, into rule-scope.json.

Usage: dotnet build tests/Herd.Testing && python3 record_rule_scope.py [CLAUDE_BIN]
CLAUDE_BIN defaults to $HERD_CLIS/node_modules/.bin/claude (HERD_CLIS: /opt/herd-clis, tests/install-clis.sh).

rule-scope.json holds the layout (files), the scripted tool calls (two turns: reads first, since Claude Code edits a
file only after reading it, then edits) and the cases (a permission mode, --allowedTools, --disallowedTools). This
script runs claude -p --output-format stream-json once per case against the scripted model server and writes, for
each call, what happened: ran, denied (listed in permission_denials), unavailable (the tool was removed) or failed.
It keeps every other field (Herd's documented differences) as it was. RuleScopeTests runs Herd on the same cases.
"""
import json, os, shutil, subprocess, sys, tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "../../../.."))
SERVER = os.path.join(ROOT, "tests/Herd.Testing/bin/Debug/net10.0/herd-model-server.dll")
FIXTURE = os.path.join(HERE, "rule-scope.json")
CLAUDE = os.path.join(os.environ.get("HERD_CLIS", "/opt/herd-clis"), "node_modules/.bin/claude")


def expand(value, root):
    text = json.dumps(value).replace("<proj>", root + "/proj").replace("<out>", root + "/out")
    return json.loads(text)


def tool_id(call_id):
    return "toolu_scope_" + call_id.replace("-", "_")


def script(fixture, root):
    turns = [{"tool_calls": [{"name": c["name"], "input": expand(c["input"], root), "id": tool_id(c["id"])} for c in turn]}
             for turn in fixture["turns"]]
    return {"conversations": [{"match": "rule scope probe", "turns": turns + [{"text": "done"}]}]}


def layout(fixture, root):
    shutil.rmtree(root, ignore_errors=True)
    os.makedirs(os.path.join(root, "home", ".claude"))
    for rel, text in fixture["files"].items():
        path = os.path.join(root, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write(text)


def verdicts(stdout, fixture):
    lines = [json.loads(l) for l in stdout.splitlines() if l.startswith("{")]
    results = {c["tool_use_id"]: c for l in lines if l["type"] == "user" for c in l["message"]["content"] if c.get("type") == "tool_result"}
    denied = {d["tool_use_id"] for l in lines if l["type"] == "result" for d in l.get("permission_denials", [])}
    out = {}
    for call in (c for turn in fixture["turns"] for c in turn):
        tid = tool_id(call["id"])
        result = results.get(tid)
        text = str(result.get("content")) if result else ""
        out[call["id"]] = ("denied" if tid in denied else "unavailable" if "No such tool available" in text
                           else "failed" if result is None or result.get("is_error") else "ran")
    return out


def main():
    claude = sys.argv[1] if len(sys.argv) > 1 else CLAUDE
    fixture = json.load(open(FIXTURE))
    work = tempfile.mkdtemp(prefix="rule-scope-")
    root = os.path.join(work, "w")
    script_path = os.path.join(work, "script.json")
    with open(script_path, "w") as f:
        json.dump(script(fixture, root), f)
    server = subprocess.Popen(["dotnet", SERVER, "--script", script_path, "--port", "0"], stdout=subprocess.PIPE, text=True)
    url = server.stdout.readline().strip()
    try:
        for case in fixture["cases"]:
            layout(fixture, root)
            argv = [claude, "-p", "rule scope probe", "--output-format", "stream-json", "--verbose",
                    "--tools", ",".join(fixture["tools"]), "--permission-mode", case["mode"]]
            if case.get("allow"):
                argv += ["--allowedTools", *expand(case["allow"], root)]
            if case.get("deny"):
                argv += ["--disallowedTools", *expand(case["deny"], root)]
            env = {"PATH": os.environ["PATH"], "HOME": root + "/home", "CLAUDE_CONFIG_DIR": root + "/home/.claude",
                   "ANTHROPIC_BASE_URL": url, "ANTHROPIC_API_KEY": "sk-ant-test-0123", "DISABLE_AUTOUPDATER": "1",
                   "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1"}
            p = subprocess.run(argv, cwd=root + "/proj", env=env, capture_output=True, text=True, timeout=300)
            case["claude"] = verdicts(p.stdout, fixture)
            print(case["mode"], case.get("allow", []), case.get("deny", []), "exit", p.returncode)
    finally:
        server.terminate()
        server.wait()
        shutil.rmtree(work, ignore_errors=True)
    fixture["claude_code_version"] = subprocess.run([claude, "--version"], capture_output=True, text=True).stdout.split()[0]
    with open(FIXTURE, "w") as f:
        json.dump(fixture, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
