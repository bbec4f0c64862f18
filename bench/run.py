#!/usr/bin/env python3
"""Herd benchmarks: one entry point, figures measured side by side in one run.

    python3 bench/run.py [--only startup,fanout,ratelimit,resume] [--quick] [--no-build] [--write-docs]

Builds the Native AOT `herd` and the scripted model server, runs each benchmark against the scripted server on
loopback, prints a table and (with --write-docs) rewrites the generated part of docs/performance.md.
Standard library only; needs dotnet, clang (AOT link), and for the comparisons xargs and GNU parallel.
"""
import argparse
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
AOT = OUT / "aot" / "herd"
SERVER_DLL = ROOT / "tests" / "Herd.Testing" / "bin" / "Release" / "net10.0" / "herd-model-server.dll"


def sh(cmd, **kw):
    return subprocess.run(cmd, check=True, **kw)


def build():
    print("building the AOT herd and the scripted server…", file=sys.stderr)
    sh(["dotnet", "publish", str(ROOT / "src/Herd.Cli"), "-r", "linux-x64", "-p:PublishAot=true", "-o", str(OUT / "aot")],
       stdout=subprocess.DEVNULL)
    sh(["dotnet", "build", str(ROOT / "tests/Herd.Testing"), "-c", "Release"], stdout=subprocess.DEVNULL)


class Server:
    """The scripted model server as a child process."""

    def __init__(self, script: dict):
        self.dir = tempfile.mkdtemp(prefix="herd-bench-")
        path = Path(self.dir) / "script.json"
        path.write_text(json.dumps(script))
        self.proc = subprocess.Popen(["dotnet", str(SERVER_DLL), "--script", str(path)], stdout=subprocess.PIPE, text=True)
        self.url = self.proc.stdout.readline().strip()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.proc.terminate()
        self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


def env_for(server: Server, config_dir: str) -> dict:
    env = dict(os.environ)
    env.update(ANTHROPIC_BASE_URL=server.url, ANTHROPIC_API_KEY="sk-bench", HERD_CONFIG_DIR=config_dir)
    env.pop("CLAUDECODE", None)
    return env


def tree_rss_kb(pid: int) -> int:
    """Resident memory of a process and all its descendants, from /proc."""
    children = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            children.setdefault(ppid, []).append(int(entry))
        except (OSError, IndexError, ValueError):
            pass
    total, stack = 0, [pid]
    while stack:
        p = stack.pop()
        try:
            with open(f"/proc/{p}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
        except OSError:
            pass
        stack.extend(children.get(p, []))
    return total


def measure(cmd, env, cwd=None, stdin=None, shell=False):
    """Wall seconds, CPU seconds of the whole process tree, peak summed RSS (MB), exit code."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, shell=shell, text=True)
    peak = [0]
    done = threading.Event()

    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], tree_rss_kb(proc.pid))
            done.wait(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    _, err = proc.communicate(stdin)
    wall = time.perf_counter() - start
    done.set()
    sampler.join()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if proc.returncode != 0:
        print(f"  ! exit {proc.returncode}: {err.strip()[:300]}", file=sys.stderr)
    return wall, cpu, peak[0] / 1024, proc.returncode


def bench_startup(runs: int):
    rows = []
    with Server({"default": {"text": "hi"}}) as server, tempfile.TemporaryDirectory() as cfg:
        env = env_for(server, cfg)
        subprocess.run([str(AOT), "-p", "warm up", "--no-session-persistence"], env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
        walls, cpus = [], []
        for _ in range(runs):
            wall, cpu, _, code = measure([str(AOT), "-p", "hi", "--no-session-persistence"], env)
            assert code == 0
            walls.append(wall)
            cpus.append(cpu)
        rows.append({"bench": "herd -p start-up (AOT, trivial prompt, 0 ms latency)", "runs": runs,
                     "median_wall_s": statistics.median(walls), "median_cpu_s": statistics.median(cpus),
                     "p90_wall_s": sorted(walls)[int(0.9 * (runs - 1))]})
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", default="startup", help="comma list of: startup,fanout,ratelimit,resume")
    ap.add_argument("--quick", action="store_true", help="smaller cases, for a smoke run")
    ap.add_argument("--no-build", action="store_true")
    ap.add_argument("--write-docs", action="store_true", help="rewrite the generated section of docs/performance.md")
    args = ap.parse_args()
    if not args.no_build:
        build()
    only = set(args.only.split(","))
    results = {"machine": f"{platform.node()} · {os.cpu_count()} cores · {platform.platform()}",
               "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "command": " ".join(["python3", "bench/run.py"] + sys.argv[1:])}
    if "startup" in only:
        results["startup"] = bench_startup(10 if args.quick else 30)
        for r in results["startup"]:
            print(f"{r['bench']}: median wall {r['median_wall_s'] * 1000:.1f} ms, median CPU {r['median_cpu_s'] * 1000:.1f} ms, p90 wall {r['p90_wall_s'] * 1000:.1f} ms ({r['runs']} runs)")
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "results.json").write_text(json.dumps(results, indent=2))
    print(f"results: {OUT / 'results.json'}")


if __name__ == "__main__":
    main()
