#!/usr/bin/env python3
"""Herd benchmarks: one entry point, figures measured side by side in one run.

    python3 bench/run.py [--only startup,fanout,ratelimit,resume,engines] [--quick] [--no-build] [--write-docs]

Builds the Native AOT `herd` and the scripted model server, runs each benchmark against the scripted server on
loopback, prints a table and (with --write-docs) rewrites the generated part of docs/performance.md.
Standard library only; needs dotnet, clang (AOT link), and for the comparisons xargs and GNU parallel.
"""
import argparse
import json
import math
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
        self.proc = subprocess.Popen(["dotnet", str(SERVER_DLL), "--port", "0", "--script", str(path)], stdout=subprocess.PIPE, text=True)
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


FANOUT_CASES = [(40, 0.3, 8), (1000, 0.2, 32), (10000, 0.2, 64)]


def make_inputs(workdir: Path, n: int) -> Path:
    src = workdir / "src"
    src.mkdir(parents=True, exist_ok=True)
    names = []
    for i in range(n):
        f = src / f"f{i:05d}.py"
        f.write_text(f"def f{i}():\n    return {i}\n")
        names.append(f"src/{f.name}")
    listing = workdir / "inputs.txt"
    listing.write_text("\n".join(names) + "\n")
    return listing


def bench_fanout(cases, with_claude: bool):
    rows = []
    prompt = "Summarize {} in 3 bullets"
    for tasks, latency, slots in cases:
        ideal = (tasks + slots - 1) // slots * latency
        with Server({"latency_ms": int(latency * 1000), "default": {"text": "- one\n- two\n- three"}}) as server, \
                tempfile.TemporaryDirectory() as work:
            work = Path(work)
            listing = make_inputs(work, tasks)
            env = env_for(server, str(work / "cfg"))
            one = [str(AOT), "-p", prompt, "--allowedTools", "Read", "--output-format", "json", "--no-session-persistence"]
            contenders = [
                ("herd run", [str(AOT), "run", "-j", str(slots), "--prompt", prompt, "--allowedTools", "Read",
                              "--run-dir", str(work / "run"), "--input", str(listing)], None, env),
                ("xargs -P + herd -p", ["xargs", "-P", str(slots), "-I{}"] + one, listing.read_text(), env),
                ("GNU parallel + herd -p", ["parallel", "--will-cite", "-q", "-j", str(slots)] + one + ["::::", str(listing)], None, env),
            ]
            if with_claude and shutil.which("claude") and tasks <= 40:
                # Claude Code keeps state under HOME: give it a private one.
                claude_env = dict(env, HOME=str(work / "claude-home"))
                claude = ["claude", "-p", prompt, "--allowedTools", "Read", "--output-format", "json", "--no-session-persistence"]
                contenders.append(("xargs -P + claude -p", ["xargs", "-P", str(slots), "-I{}"] + claude, listing.read_text(), claude_env))
            # The scripted server is a JIT process: warm it up so no contender pays for its first requests.
            subprocess.run([str(AOT), "run", "-j", str(slots), "--prompt", "warm {}", "--tools", "", "--run-dir", str(work / "warm"),
                            "--progress", "none", ":::"] + [f"w{i}" for i in range(2 * slots)],
                           env=env, cwd=str(work), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            reps = 3 if tasks <= 1000 else 1
            for name, cmd, stdin, cmd_env in contenders:
                runs = []
                for rep in range(1 if "claude" in name else reps):
                    if (work / "run").exists():
                        shutil.rmtree(work / "run")
                    runs.append(measure(cmd, cmd_env, cwd=str(work), stdin=stdin))
                # The median repetition by wall time, reported whole (its CPU and RSS belong to the same run).
                wall, cpu, rss, code = sorted(runs)[len(runs) // 2]
                rows.append({"case": f"{tasks} tasks, {latency:g} s, -j {slots}", "tool": name, "wall_s": wall, "cpu_s": cpu,
                             "peak_rss_mb": rss, "ideal_s": ideal, "efficiency": ideal / wall, "exit": code, "repetitions": len(runs)})
                print(f"  {rows[-1]['case']:<28} {name:<24} wall {wall:7.2f} s  cpu {cpu:7.2f} s  rss {rss:7.1f} MB  "
                      f"efficiency {ideal / wall:5.2f}", file=sys.stderr)
    return rows


def claude_binary():
    """Claude Code on PATH, or where tests/install-clis.sh puts it ($HERD_CLIS, default /opt/herd-clis)."""
    found = shutil.which("claude")
    if found:
        return found
    pinned = Path(os.environ.get("HERD_CLIS", "/opt/herd-clis")) / "node_modules" / ".bin" / "claude"
    return str(pinned) if pinned.exists() else None


def bench_engines(tasks=40, latency=0.3, slots=8):
    """Issue #13 item 7: `herd run --engine claude` against the seed's `xargs -P 8` + `claude -p`, same tasks and server."""
    claude = claude_binary()
    if claude is None:
        print("  engines: claude not installed (bash tests/install-clis.sh); skipped", file=sys.stderr)
        return []
    rows = []
    prompt = "Summarize {} in 3 bullets"
    ideal = (tasks + slots - 1) // slots * latency
    with Server({"latency_ms": int(latency * 1000), "default": {"text": "- one\n- two\n- three"}}) as server, \
            tempfile.TemporaryDirectory() as work:
        work = Path(work)
        listing = make_inputs(work, tasks)
        # Claude Code keeps state under HOME: give each contender a private one. Both get the two settings Herd sets for
        # claude processes: without them claude -p also calls home (update check, telemetry), which on a machine
        # without that network waits for time-outs and would make the comparison about the network, not the fan-out.
        env = dict(env_for(server, str(work / "cfg")), PATH=str(Path(claude).parent) + ":" + os.environ.get("PATH", ""),
                   DISABLE_AUTOUPDATER="1", CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC="1")
        one = [claude, "-p", prompt, "--allowedTools", "Read", "--output-format", "json", "--no-session-persistence"]
        contenders = [
            ("herd run --engine claude", [str(AOT), "run", "--engine", "claude", "--engine-bin", claude, "-j", str(slots), "--prompt", prompt,
                                          "--allowedTools", "Read", "--run-dir", str(work / "run"), "--progress", "none", "--input", str(listing)],
             None, dict(env, HOME=str(work / "home-herd"))),
            ("xargs -P + claude -p", ["xargs", "-P", str(slots), "-I{}"] + one, listing.read_text(), dict(env, HOME=str(work / "home-xargs"))),
        ]
        for name, cmd, stdin, cmd_env in contenders:
            Path(cmd_env["HOME"]).mkdir(parents=True, exist_ok=True)
            wall, cpu, rss, code = measure(cmd, cmd_env, cwd=str(work), stdin=stdin)
            rows.append({"case": f"{tasks} tasks, {latency:g} s, -j {slots}", "tool": name, "wall_s": wall, "cpu_s": cpu,
                         "peak_rss_mb": rss, "ideal_s": ideal, "efficiency": ideal / wall, "exit": code, "repetitions": 1})
            print(f"  {rows[-1]['case']:<28} {name:<26} wall {wall:7.2f} s  cpu {cpu:7.2f} s  rss {rss:7.1f} MB  exit {code}", file=sys.stderr)
    return rows


def bench_ratelimit(rpm: int, tasks: int):
    """The server admits rpm requests per rolling minute and answers 429 + retry-after beyond; -j auto adapts."""
    with Server({"latency_ms": 200, "requests_per_minute": rpm, "default": {"text": "ok"}}) as server, \
            tempfile.TemporaryDirectory() as work:
        work = Path(work)
        listing = make_inputs(work, tasks)
        env = env_for(server, str(work / "cfg"))
        cmd = [str(AOT), "run", "-j", "auto:64", "--retries", "20", "--prompt", "Summarize {}", "--tools", "",
               "--run-dir", str(work / "run"), "--input", str(listing)]
        wall, cpu, rss, code = measure(cmd, env, cwd=str(work))
        records = [json.loads(l) for l in (work / "run" / "results.ndjson").read_text().splitlines() if l.strip()]
        ok = sum(1 for r in records if r["outcome"]["class"] in ("success", "success_degraded"))
        return [rate_row(rpm, tasks, wall, tasks - ok, code)]


def rate_row(rpm, tasks, wall, failed, code):
    # The server admits rpm requests per rolling minute: a request admitted at t frees its place at t + 60 s. The
    # best any client can do is rpm requests at once, then the next rpm a minute later, and so on.
    best_wall = 60.0 * (math.ceil(tasks / rpm) - 1) + 0.2
    return {"bench": f"rate limit {rpm}/min, {tasks} tasks, -j auto:64", "rpm": rpm, "tasks": tasks, "wall_s": wall,
            "best_possible_wall_s": best_wall, "achieved_over_best_rate": best_wall / wall, "failed_tasks": failed, "exit": code}


def bench_resume(tasks: int):
    """Time from `herd run --resume` to the first new record on a run directory of `tasks` tasks."""
    with Server({"latency_ms": 0, "default": {"text": "ok"}}) as server, tempfile.TemporaryDirectory() as work:
        work = Path(work)
        listing = make_inputs(work, tasks)
        env = env_for(server, str(work / "cfg"))
        run_dir = work / "run"
        # Start the run and interrupt it once some tasks have finished, leaving most of the plan to resume.
        proc = subprocess.Popen([str(AOT), "run", "-j", "8", "--prompt", "Summarize {}", "--tools", "", "--run-dir", str(run_dir),
                                 "--input", str(listing)], env=env, cwd=str(work), stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        results = run_dir / "results.ndjson"
        while not results.exists() or results.stat().st_size < 20_000:
            time.sleep(0.01)
        proc.send_signal(2)
        proc.wait()
        before = len(results.read_text().splitlines())
        start = time.perf_counter()
        proc = subprocess.Popen([str(AOT), "run", "--resume", "--run-dir", str(run_dir)], env=env, cwd=str(work),
                                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        first = None
        while first is None and proc.poll() is None:
            try:
                if len(results.read_bytes().splitlines()) > before:
                    first = time.perf_counter() - start
            except OSError:
                pass
            time.sleep(0.002)
        proc.wait()
        total = len(results.read_text().splitlines())
        return [{"bench": f"resume a {tasks}-task run ({before} done)", "time_to_first_new_record_s": first,
                 "records_after_resume": total, "exit": proc.returncode}]


def markdown(results) -> str:
    out = [f"Measured {results['date']} on {results['machine']}, with `{results['command']}`.", ""]
    if "fanout" in results:
        out += ["### Fan-out: `herd run` against `xargs -P` and GNU parallel around `herd -p`", "",
                "Median of 3 repetitions for the 40- and 1 000-task cases (one for 10 000 tasks and for Claude Code); the server is",
                "warmed up before the first contender.", "",
                "| case | contender | wall s | CPU s | peak RSS MB (whole tree) | efficiency (ideal / wall) |", "|---|---|---:|---:|---:|---:|"]
        for r in results["fanout"]:
            out.append(f"| {r['case']} | {r['tool']} | {r['wall_s']:.2f} | {r['cpu_s']:.2f} | {r['peak_rss_mb']:.0f} | {r['efficiency']:.2f} |")
        out.append("")
    if results.get("engines"):
        out += ["### Engines: `herd run --engine claude` against `xargs -P` + `claude -p` (one repetition each)", "",
                "| case | contender | wall s | CPU s | peak RSS MB (whole tree) | efficiency (ideal / wall) | exit |", "|---|---|---:|---:|---:|---:|---:|"]
        for r in results["engines"]:
            out.append(f"| {r['case']} | {r['tool']} | {r['wall_s']:.2f} | {r['cpu_s']:.2f} | {r['peak_rss_mb']:.0f} | {r['efficiency']:.2f} | {r['exit']} |")
        out.append("")
    if "startup" in results:
        out += ["### `herd -p` start-up (Native AOT)", "", "| bench | runs | median wall ms | p90 wall ms | median CPU ms |", "|---|---:|---:|---:|---:|"]
        for r in results["startup"]:
            out.append(f"| {r['bench']} | {r['runs']} | {r['median_wall_s'] * 1000:.1f} | {r['p90_wall_s'] * 1000:.1f} | {r['median_cpu_s'] * 1000:.1f} |")
        out.append("")
    if "ratelimit" in results:
        out += ["### Rate limits (`-j auto`)", "",
                "The server admits R requests per rolling minute and answers 429 with `retry-after` beyond. Achieved rate / R is",
                "measured against the best any client could do under that window (R at once, the next R a minute later).", "",
                "| bench | wall s | best possible s | achieved rate / R (of the best possible) | failed tasks |", "|---|---:|---:|---:|---:|"]
        for r in results["ratelimit"]:
            r = rate_row(r["rpm"], r["tasks"], r["wall_s"], r["failed_tasks"], r["exit"]) if "rpm" in r else r
            out.append(f"| {r['bench']} | {r['wall_s']:.1f} | {r['best_possible_wall_s']:.1f} | {r['achieved_over_best_rate']:.2f} | {r['failed_tasks']} |")
        out.append("")
    if "resume" in results:
        out += ["### Resume", "", "| bench | time to first new record | records after resume |", "|---|---:|---:|"]
        for r in results["resume"]:
            t = f"{r['time_to_first_new_record_s'] * 1000:.0f} ms" if r["time_to_first_new_record_s"] is not None else "n/a"
            out.append(f"| {r['bench']} | {t} | {r['records_after_resume']} |")
        out.append("")
    return "\n".join(out)


def write_docs(text: str):
    doc = ROOT / "docs" / "performance.md"
    begin, end = "<!-- bench:begin -->", "<!-- bench:end -->"
    body = doc.read_text() if doc.exists() else f"# Performance\n\n{begin}\n{end}\n"
    head, rest = body.split(begin, 1)
    tail = rest.split(end, 1)[1]
    doc.write_text(f"{head}{begin}\n{text}\n{end}{tail}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", default="startup,fanout,ratelimit,resume", help="comma list of: startup,fanout,ratelimit,resume,engines")
    ap.add_argument("--quick", action="store_true", help="smaller cases, for a smoke run")
    ap.add_argument("--no-build", action="store_true")
    ap.add_argument("--write-docs", action="store_true", help="rewrite the generated section of docs/performance.md")
    ap.add_argument("--render-only", action="store_true", help="re-render bench/out/results.json without measuring")
    args = ap.parse_args()
    if args.render_only:
        text = markdown(json.loads((OUT / "results.json").read_text()))
        print(text)
        if args.write_docs:
            write_docs(text)
        return
    if not args.no_build:
        build()
    only = set(args.only.split(","))
    results = {"machine": f"{platform.node()} · {os.cpu_count()} cores · {platform.platform()}",
               "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "command": " ".join(["python3", "bench/run.py"] + sys.argv[1:])}
    if "startup" in only:
        results["startup"] = bench_startup(10 if args.quick else 30)
    if "fanout" in only:
        results["fanout"] = bench_fanout(FANOUT_CASES[:1] if args.quick else FANOUT_CASES, with_claude=True)
    if "engines" in only:
        results["engines"] = bench_engines()
    if "ratelimit" in only:
        results["ratelimit"] = bench_ratelimit(60, 90) if args.quick else bench_ratelimit(300, 450)
    if "resume" in only:
        results["resume"] = bench_resume(1000 if args.quick else 10000)
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "results.json").write_text(json.dumps(results, indent=2))
    text = markdown(results)
    print(text)
    if args.write_docs:
        write_docs(text)
    print(f"results: {OUT / 'results.json'}", file=sys.stderr)


if __name__ == "__main__":
    main()
