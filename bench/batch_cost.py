#!/usr/bin/env python3
"""Batch cost benchmark (herd run --batch): the billed cost of the same N-task, 3-turn review run live and in Message
Batch rounds, priced by the scripted model server's own usage log, and the per-task request overhead of
--provider openai against Anthropic.

    python3 bench/batch_cost.py [--tasks 1000] [--herd PATH]

Four runs of one plan against the scripted model server (tests/Herd.Testing, built with `dotnet build tests/Herd.Testing`):
  live         herd run, no prompt caching reported
  batch        herd run --batch, same script
  live+cache   herd run, the shared prefix (system prompt and tools) read from the cache on every call
  batch+cache  herd run --batch, same
Each task: the model lists the directory twice, then answers (3 calls). Every call reports 3 000 input tokens and 100
output tokens; with the cache, 2 000 of those input tokens are cache reads. Prices: $3 / $15 per million tokens (input /
output), cache reads 0.1x input, batch requests 0.5x. The cost is computed here from the server's usage log (each answer
it completed: batch or live, tokens), not from Herd's own accounting, then compared with Herd's cost_usd records.
Wall time of a batch run is counted in rounds (one batch per turn): the scripted server ends each batch at once, so its
seconds say nothing of the API's minutes per batch.

The overhead figure: one `herd -p` with no tools, the same prompt, against each protocol; the request bytes the server
received, and the tokens an o200k-like count (bytes / 4) implies. Standard library only.
"""
import argparse
import json
import os
import sqlite3
import subprocess
import tempfile
import time
from pathlib import Path

from worktree_pool import herd_cmd  # the AOT herd when bench/run.py built it, else the Debug build

ROOT = Path(__file__).resolve().parent.parent
INPUT, OUTPUT, CACHE_READ, BATCH = 3.0, 15.0, 0.3, 0.5
MODEL = "claude-bench-batch"


def script(cached):
    def usage(turn_output):
        return {"input": 1000, "output": turn_output, "cache_read": 2000} if cached else {"input": 3000, "output": turn_output}
    return {
        "batch_processing_ms": 0,
        "conversations": [{"match": "Review", "turns": [
            {"tool_calls": [{"name": "LS", "input": {}}], "usage": usage(100)},
            {"tool_calls": [{"name": "LS", "input": {}}], "usage": usage(100)},
            {"text": "no findings", "usage": usage(100)},
        ]}],
    }


def start_server(work, name, cached):
    path = work / f"{name}.script.json"
    path.write_text(json.dumps(script(cached)))
    usage = work / f"{name}.usage.ndjson"
    requests = work / f"{name}.requests.ndjson"
    dll = ROOT / "tests" / "Herd.Testing" / "bin" / "Debug" / "net10.0" / "herd-model-server.dll"
    p = subprocess.Popen(["dotnet", str(dll), "--port", "0", "--script", str(path), "--usage", str(usage), "--requests", str(requests)],
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    return p, p.stdout.readline().strip(), usage, requests


def billed(usage_log):
    total = 0.0
    for line in usage_log.read_text().splitlines():
        u = json.loads(line)
        cost = (u["input_tokens"] * INPUT + u["cache_read_input_tokens"] * CACHE_READ + u["output_tokens"] * OUTPUT) / 1e6
        total += cost * (BATCH if u["batch"] else 1.0)
    return total


def run(herd, work, name, tasks, cached, batch):
    server, url, usage, requests = start_server(work, name, cached)
    prices = work / "prices.json"
    prices.write_text(json.dumps({"models": {MODEL: {"input": INPUT, "output": OUTPUT, "cache_read": CACHE_READ, "context_window": 200000, "max_output_tokens": 4096}}}))
    env = dict(os.environ, ANTHROPIC_BASE_URL=url, ANTHROPIC_API_KEY="sk-bench", HERD_CONFIG_DIR=str(work / "cfg"), HERD_BATCH_POLL_MS="20",
               HERD_PRICES=str(prices))
    inputs = [f"file-{i:05d}.py" for i in range(tasks)]
    argv = herd + ["run", "--model", MODEL, "--max-tokens", "1024", "--prompt", "Review {}", "--run-dir", str(work / name), "--progress", "none"]
    argv += ["--batch"] if batch else ["-j", "64"]
    try:
        start = time.perf_counter()
        subprocess.run(argv + [":::", *inputs], cwd=work, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wall = time.perf_counter() - start
    finally:
        server.terminate()
        server.wait()
    records = [json.loads(l) for l in (work / name / "results.ndjson").read_text().splitlines() if l]
    herd_cost = sum(r["cost_usd"] for r in records)
    with sqlite3.connect(work / name / "run.db") as db:
        has = db.execute("SELECT COUNT(*) FROM sqlite_master WHERE name = 'batches'").fetchone()[0]
        rounds = db.execute("SELECT COUNT(*) FROM batches").fetchone()[0] if has else 0
    return billed(usage), herd_cost, len(records), wall, rounds


def overhead(herd, work):
    """Request bytes of one tool-less `herd -p` call against each protocol."""
    out = {}
    for provider in ("anthropic", "openai"):
        server, url, usage, requests = start_server(work, f"overhead-{provider}", False)
        env = dict(os.environ, ANTHROPIC_BASE_URL=url, ANTHROPIC_API_KEY="sk-bench", OPENAI_BASE_URL=url + "/v1", OPENAI_API_KEY="sk-bench",
                   HERD_CONFIG_DIR=str(work / "cfg"))
        try:
            for tools in ("default", ""):
                # The prompt on stdin: --tools takes every word after it.
                subprocess.run(herd + ["-p", "--provider", provider, "--model", MODEL, "--max-turns", "1", "--tools", tools], cwd=work, env=env,
                               input="Review file-00001.py", text=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        finally:
            server.terminate()
            server.wait()
        # One call per `herd -p` (--max-turns 1): the bytes of each request as the server received it.
        sizes = [json.loads(l)["request_bytes"] for l in usage.read_text().splitlines()]
        out[provider] = sizes
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tasks", type=int, default=1000)
    ap.add_argument("--herd")
    a = ap.parse_args()
    herd = herd_cmd(a.herd)
    work = Path(tempfile.mkdtemp(prefix="herd-batch-bench-"))
    results = {}
    for name, cached, batch in (("live", False, False), ("batch", False, True), ("live+cache", True, False), ("batch+cache", True, True)):
        results[name] = run(herd, work, name.replace("+", "-"), a.tasks, cached, batch)
        b, h, n, wall, rounds = results[name]
        print(f"{name:12} {n} tasks: billed ${b:.4f} (herd's records ${h:.4f}); wall {wall:.1f} s; {rounds or '-'} batch(es)", flush=True)
    live = results["live"][0]
    print(f"batch / live = {results['batch'][0] / live:.3f}; batch+cache / live = {results['batch+cache'][0] / live:.3f}; "
          f"batch+cache / live+cache = {results['batch+cache'][0] / results['live+cache'][0]:.3f}")
    sizes = overhead(herd, work)
    for tools, i in (("default tools", 0), ("no tools", 1)):
        an, oa = sizes["anthropic"][i], sizes["openai"][i]
        print(f"request bytes, {tools}: anthropic {an}, openai {oa} ({oa - an:+d} bytes, ~{(oa - an) / 4:+.0f} tokens at 4 bytes/token)")


if __name__ == "__main__":
    main()
