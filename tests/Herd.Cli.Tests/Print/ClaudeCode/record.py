#!/usr/bin/env python3
"""Records Claude Code 2.1.332's print-mode output against the scripted model server, as golden fixtures.

Usage: dotnet build tests/Herd.Testing && python3 record.py [CLAUDE_BIN] [case ...]
CLAUDE_BIN defaults to /work/tools/claude/node_modules/.bin/claude
(npm install --prefix /work/tools/claude @anthropic-ai/claude-code@2.1.332).

Each case becomes <case>.json: the script, argv and stdin given, the exit code, stdout and stderr normalised
(ids, timestamps, durations and temp paths replaced by placeholders) and, of every request Claude Code sent, only
the facts the tests compare (model, max_tokens, the first user message's text blocks minus Claude Code's own
reminders). Claude Code's system prompt and tool descriptions are not kept.
"""
import json, os, re, shutil, subprocess, sys, tempfile, time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "../../../.."))
SERVER = os.path.join(ROOT, "tests/Herd.Testing/bin/Debug/net10.0/herd-model-server.dll")
CLAUDE = "/work/tools/claude/node_modules/.bin/claude"
MCP_SERVER = os.path.join(ROOT, "tests/Herd.McpTestServer/bin/Debug/net10.0/herd-mcp-test-server.dll")


def mcp_config(*servers):
    """An --mcp-config JSON; <mcp-server> is the test server's dll, <mcp-http> the URL of one started with --http."""
    entries = {}
    for name, kind, *extra in servers:
        entries[name] = {"type": "http", "url": "<mcp-http>"} if kind == "http" else {"command": "dotnet", "args": ["<mcp-server>", *extra]}
    return json.dumps({"mcpServers": entries})


MCP_CALLS = {"queue": [{"tool_calls": [{"name": "mcp__local__echo", "input": {"text": "hi"}}]},
                       {"tool_calls": [{"name": "mcp__web__add", "input": {"a": 2, "b": 3}}]}, {"text": "done"}]}
MCP_DENIED = {"queue": [{"tool_calls": [{"name": "mcp__local__echo", "input": {"text": "hi"}}]},
                        {"tool_calls": [{"name": "mcp__local__add", "input": {"a": 2, "b": 3}}]}, {"text": "done"}]}

RESUME_ID = "11111111-2222-3333-4444-555555555555"
LOOP = {"default": {"tool_calls": [{"name": "Read", "input": {"file_path": "<cwd>/loop.txt"}}]}}
SCHEMA = '{"type":"object","properties":{"answer":{"type":"integer"}},"required":["answer"]}'
MEMORY = {  # relative to the case root; <home> is the user's home, the cwd is parent/proj
    "home/.claude/CLAUDE.md": "User memory.\n",
    "parent/CLAUDE.md": "Parent memory.\n",
    "parent/.claude/CLAUDE.md": "Parent dot-claude memory.\n",
    "parent/proj/CLAUDE.md": "Project memory, no newline at the end",
    "parent/proj/.claude/CLAUDE.md": "Project dot-claude memory.\n",
    "parent/proj/CLAUDE.local.md": "Local memory.\n",
    "parent/proj/AGENTS.md": "AGENTS.md is not read.\n",
    "parent/proj/sub/CLAUDE.md": "A subdirectory's memory is not read at start.\n",
}

CASES = {
    "max-turns-json": dict(script=LOOP, argv=["-p", "loop", "--max-turns", "2", "--output-format", "json", "--allowedTools", "Read"]),
    "max-turns-stream": dict(script=LOOP, argv=["-p", "loop", "--max-turns", "2", "--output-format", "stream-json", "--verbose", "--allowedTools", "Read"]),
    "max-turns-text": dict(script=LOOP, argv=["-p", "loop", "--max-turns", "1", "--allowedTools", "Read"]),
    "json-schema-json": dict(script={"queue": [{"tool_calls": [{"name": "StructuredOutput", "input": {"answer": 42}}]}, {"text": "All done."}]},
                             argv=["-p", "answer", "--json-schema", SCHEMA, "--output-format", "json"]),
    "json-schema-stream": dict(script={"queue": [{"tool_calls": [{"name": "StructuredOutput", "input": {"answer": 42}}]}, {"text": "All done."}]},
                               argv=["-p", "answer", "--json-schema", SCHEMA, "--output-format", "stream-json", "--verbose"]),
    "continue-without-session": dict(script={}, argv=["-p", "hi", "--continue", "--output-format", "json"]),
    "model-default": dict(script={}, argv=["-p", "hi", "--output-format", "json"]),
    "model-sonnet": dict(script={}, argv=["-p", "hi", "--model", "sonnet", "--output-format", "json"]),
    "model-opus": dict(script={}, argv=["-p", "hi", "--model", "opus", "--output-format", "json"]),
    "model-haiku": dict(script={}, argv=["-p", "hi", "--model", "haiku", "--output-format", "json"]),
    "model-fable": dict(script={}, argv=["-p", "hi", "--model", "fable", "--output-format", "json"]),
    "model-opusplan": dict(script={}, argv=["-p", "hi", "--model", "opusplan", "--output-format", "json"]),
    "memory": dict(script={}, argv=["-p", "hi", "--output-format", "json"], files=MEMORY),
    "memory-bare": dict(script={}, argv=["-p", "hi", "--output-format", "json", "--bare"], files=MEMORY),
    "stdin-and-prompt": dict(script={}, argv=["-p", "summarise this", "--output-format", "json"], stdin="line one\nline two\n"),
    "replay-user-messages": dict(script={}, argv=["-p", "--input-format", "stream-json", "--output-format", "stream-json", "--verbose", "--replay-user-messages"],
                                 stdin='{"type":"user","message":{"role":"user","content":"first"}}\n{"type":"user","message":{"role":"user","content":"second"}}\n'),
    "fallback-overloaded": dict(script={"failing_models": {"claude-opus-5-5": 529}}, argv=["-p", "hi", "--fallback-model", "sonnet", "--output-format", "stream-json", "--verbose"]),
    "fallback-not-found": dict(script={"failing_models": {"claude-opus-5-5": 404}}, argv=["-p", "hi", "--fallback-model", "sonnet", "--output-format", "stream-json", "--verbose"]),
    "retry-errors": dict(script={"queue": [{"status": 429, "retry_after": 0}, {"status": 500}, {"status": 529}]}, argv=["-p", "hi", "--output-format", "stream-json", "--verbose"]),
    "error-400-text": dict(script={"default": {"status": 400, "error_message": "max_tokens is too large"}}, argv=["-p", "hi"]),
    "error-400-json": dict(script={"default": {"status": 400, "error_message": "max_tokens is too large"}}, argv=["-p", "hi", "--output-format", "json"]),
    "error-400-stream": dict(script={"default": {"status": 400, "error_message": "max_tokens is too large"}}, argv=["-p", "hi", "--output-format", "stream-json", "--verbose"]),
    "error-401-text": dict(script={"default": {"status": 401, "error_message": "invalid x-api-key"}}, argv=["-p", "hi"]),
    "error-401-other-text": dict(script={"default": {"status": 401, "error_message": "this key was revoked"}}, argv=["-p", "hi"]),
    "error-401-other-json": dict(script={"default": {"status": 401, "error_message": "this key was revoked"}}, argv=["-p", "hi", "--output-format", "json"]),
    "error-401-json": dict(script={"default": {"status": 401, "error_message": "invalid x-api-key"}}, argv=["-p", "hi", "--output-format", "json"]),
    "resume-miss-json": dict(script={}, argv=["-p", "hi", "--resume", RESUME_ID, "--output-format", "json"]),
    "resume-miss-stream": dict(script={}, argv=["-p", "hi", "--resume", RESUME_ID, "--output-format", "stream-json", "--verbose"]),
    "resume-not-an-id": dict(script={}, argv=["-p", "hi", "--resume", "*", "--output-format", "json"]),
    # Hooks (docs/hooks.md). IS_SANDBOX=1 lets Claude Code take --dangerously-skip-permissions as root.
    "hook-pre-deny-bypass": dict(script={"queue": [{"tool_calls": [{"name": "Bash", "input": {"command": "touch x.txt", "description": "touch"}}]}, {"text": "done"}]},
                                 argv=["-p", "go", "--output-format", "stream-json", "--verbose", "--include-hook-events", "--dangerously-skip-permissions"],
                                 files={"parent/proj/.claude/settings.json": json.dumps({"hooks": {"PreToolUse": [{"matcher": "Bash", "hooks": [{"type": "command", "command": "echo 'blocked by policy' >&2; exit 2"}]}]}})},
                                 env={"IS_SANDBOX": "1"}),
    "hook-stop-continue-false": dict(script={"queue": [{"text": "done"}, {"text": "again"}]}, argv=["-p", "go", "--output-format", "json"],
                                     files={"parent/proj/.claude/settings.json": json.dumps({"hooks": {"Stop": [{"hooks": [{"type": "command", "command": "echo '{\"continue\":false,\"stopReason\":\"stop now\"}'"}]}]}})}),
    "hook-timeout": dict(script={"queue": [{"tool_calls": [{"name": "Bash", "input": {"command": "echo ran", "description": "say"}}]}, {"text": "done"}]},
                         argv=["-p", "go", "--output-format", "stream-json", "--verbose", "--include-hook-events", "--dangerously-skip-permissions"],
                         files={"parent/proj/.claude/settings.json": json.dumps({"hooks": {"PreToolUse": [{"matcher": "Bash", "hooks": [{"type": "command", "command": "sleep 30", "timeout": 1}]}]}})},
                         env={"IS_SANDBOX": "1"}),
    "hook-prompt-blocked": dict(script={}, argv=["-p", "go", "--output-format", "stream-json", "--verbose"],
                                files={"parent/proj/.claude/settings.json": json.dumps({"hooks": {"UserPromptSubmit": [{"hooks": [{"type": "command", "command": "echo nope >&2; exit 2"}]}]}})}),
    # MCP (docs/mcp.md): a stdio and a streamable-HTTP server of tests/Herd.McpTestServer.
    "mcp-calls": dict(script=MCP_CALLS, argv=["-p", "go", "--output-format", "stream-json", "--verbose", "--allowedTools", "mcp__local,mcp__web",
                                              "--mcp-config", mcp_config(("local", "stdio"), ("web", "http"))]),
    "mcp-denied": dict(script=MCP_DENIED, argv=["-p", "go", "--output-format", "stream-json", "--verbose", "--allowedTools", "mcp__local__echo",
                                                "--mcp-config", mcp_config(("local", "stdio"))]),
    "mcp-server-denied": dict(script=MCP_DENIED, argv=["-p", "go", "--output-format", "json", "--disallowedTools", "mcp__local",
                                                       "--mcp-config", mcp_config(("local", "stdio"))]),
    "mcp-failing": dict(script={"queue": [{"text": "done"}]}, argv=["-p", "go", "--output-format", "stream-json", "--verbose",
                                                                  "--mcp-config", mcp_config(("broken", "stdio", "--fail-on-start"), ("local", "stdio"))]),
    "mcp-crash": dict(script={"queue": [{"tool_calls": [{"name": "mcp__local__crash", "input": {}}]},
                                        {"tool_calls": [{"name": "mcp__local__echo", "input": {"text": "after"}}]}, {"text": "done"}]},
                      argv=["-p", "go", "--output-format", "stream-json", "--verbose", "--allowedTools", "mcp__local",
                            "--mcp-config", mcp_config(("local", "stdio"))]),
}

UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
VOLATILE = {"duration_ms", "duration_api_ms", "ttft_ms", "ttft_stream_ms", "time_to_request_ms", "first_content_frame_ms", "retry_delay_ms", "timestamp"}


def normalise(value, paths):
    if isinstance(value, dict):
        return {k: (0 if k in VOLATILE and isinstance(v, (int, float)) else "<timestamp>" if k == "timestamp" else normalise(v, paths)) for k, v in value.items()}
    if isinstance(value, list):
        return [normalise(v, paths) for v in value]
    if isinstance(value, str):
        for path, name in paths:
            value = value.replace(path, name)
        return UUID.sub(lambda m: m.group(0) if m.group(0) == RESUME_ID else "<uuid>", value)
    return value


def request_facts(body):
    first = next((m for m in body.get("messages", []) if m.get("role") == "user"), {"content": []})
    content = first["content"] if isinstance(first["content"], list) else [{"type": "text", "text": first["content"]}]
    texts = [b.get("text") for b in content if b.get("type") == "text" and "Attribution for git commits" not in b.get("text", "")]
    return {"model": body.get("model"), "max_tokens": body.get("max_tokens"), "first_user_texts": texts,
            "tools": sorted(t["name"] for t in body.get("tools", []) if t.get("name") == "StructuredOutput")}


def run_case(name, case, claude):
    root = tempfile.mkdtemp(prefix="cc-")
    home, cwd = os.path.join(root, "home"), os.path.join(root, "parent", "proj")
    os.makedirs(os.path.join(home, ".claude")); os.makedirs(cwd)
    with open(os.path.join(cwd, "loop.txt"), "w") as f:
        f.write("some text\n")
    for rel, text in case.get("files", {}).items():
        os.makedirs(os.path.dirname(os.path.join(root, rel)), exist_ok=True)
        with open(os.path.join(root, rel), "w") as f:
            f.write(text)
    script_path, log = os.path.join(root, "script.json"), os.path.join(root, "requests.jsonl")
    with open(script_path, "w") as f:
        f.write(json.dumps(case["script"]).replace("<cwd>", cwd))
    server = subprocess.Popen(["dotnet", SERVER, "--script", script_path, "--requests", log], stdout=subprocess.PIPE, text=True)
    url = server.stdout.readline().strip()
    mcp_http = None
    argv = [a.replace("<mcp-server>", MCP_SERVER) for a in case["argv"]]
    if any("<mcp-http>" in a for a in argv):
        mcp_http = subprocess.Popen(["dotnet", MCP_SERVER, "--http"], stdout=subprocess.PIPE, text=True)
        mcp_url = mcp_http.stdout.readline().strip()
        argv = [a.replace("<mcp-http>", mcp_url) for a in argv]
    env = {"PATH": os.environ["PATH"], "HOME": home, "CLAUDE_CONFIG_DIR": os.path.join(home, ".claude"), "ANTHROPIC_BASE_URL": url,
           "ANTHROPIC_API_KEY": "sk-ant-test-0123", "DISABLE_AUTOUPDATER": "1", "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1", **case.get("env", {})}
    try:
        p = subprocess.run([claude] + argv, cwd=cwd, env=env, input=case.get("stdin", ""), capture_output=True, text=True, timeout=600)
    finally:
        server.terminate(); server.wait()
        if mcp_http:
            mcp_http.terminate(); mcp_http.wait()
    paths = [(os.path.join(root, "home"), "<home>"), (cwd, "<cwd>"), (root, "<root>")]
    requests = [json.loads(l) for l in open(log)] if os.path.exists(log) else []
    lines = p.stdout.splitlines()
    try:
        stdout = [normalise(json.loads(l), paths) for l in lines if l.strip()] if lines and lines[0].startswith("{") else normalise(p.stdout, paths)
    except json.JSONDecodeError:
        stdout = normalise(p.stdout, paths)
    fixture = {"claude_code_version": "2.1.332", "script": case["script"], "argv": case["argv"], "stdin": case.get("stdin"),
               "files": case.get("files"), "exit": p.returncode, "stdout": stdout, "stderr": normalise(p.stderr, paths),
               "requests": [normalise(request_facts(r["body"]), paths) for r in requests]}
    with open(os.path.join(HERE, name + ".json"), "w") as f:
        json.dump(fixture, f, indent=1, ensure_ascii=False)
        f.write("\n")
    shutil.rmtree(root, ignore_errors=True)
    print(f"{name}: exit {p.returncode}, {len(requests)} request(s)")


if __name__ == "__main__":
    args = sys.argv[1:]
    claude = args.pop(0) if args and os.path.sep in args[0] else CLAUDE
    for name in args or CASES:
        run_case(name, CASES[name], claude)
