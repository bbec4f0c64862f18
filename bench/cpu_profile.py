#!/usr/bin/env python3
"""CPU per task of `herd run`, side by side, and where it goes (issue #23), against the scripted model server.

    python3 bench/cpu_profile.py compare --tasks 20000 --reps 4 HERD_A HERD_B [...]
    python3 bench/cpu_profile.py profile --tasks 30000 HERD [--dwarf]

compare: interleaved runs (A B, then B A, ...) of `herd run -j 64` at 0 ms model latency; prints each binary's CPU per
task (utime + stime of herd, from /proc) per run, with the median and the minimum: on a shared VM only binaries measured
in the same session compare. profile: one run under `perf record -F 999` (frame pointers, or DWARF unwinding with
--dwarf, which also names the frames under native SQLite; perf script on it takes minutes) and the share of samples per
area, attributed to the innermost Herd frame of each sample. Needs `perf`, an AOT herd (its symbols in herd.dbg beside
it) and the scripted server built (`dotnet build tests/Herd.Testing -c Release`). Standard library only.
"""
import argparse
import collections
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
from plan_scale import run_herd  # noqa: E402
from run import Server, env_for  # noqa: E402

AREAS = [
    ("SQLite store (SqliteRunStore, StoreRows)", r"Herd_Fleet_Herd_Fleet_Store"),
    ("end-of-run reports", r"Herd_Fleet_Herd_Fleet_Reports_(Run|Digest|Report|Html|Markdown|Sarif|Junit)"),
    ("records + results.ndjson", r"TaskRecord|ResultsFile|Joblog"),
    ("planning (inputs, keys)", r"Herd_Fleet_Herd_Fleet_(Jobs|Runs_FleetRun__ShardOf|Plan)"),
    ("agent session, options, request, SSE", r"Herd_Agent_|InProcessAgentEngine|RunAssembly"),
    ("scheduler", r"Herd_Fleet_Herd_Fleet_Scheduling"),
]


def compare(args):
    cpu = {b: [] for b in args.herd}
    for r in range(args.reps):
        for b in args.herd if r % 2 == 0 else args.herd[::-1]:
            row = run_herd(b, args.tasks, args.jobs)
            cpu[b].append(row["cpu_ms_per_task"])
            print(f"{b}  run {r + 1}: {row['cpu_ms_per_task']:.3f} ms a task, exit {row['exit']}, load {os.getloadavg()[0]:.1f}", file=sys.stderr)
    print(f"| herd | CPU / task, median of {args.reps} ({args.tasks:,} tasks, -j {args.jobs}) | min | runs |\n|---|---:|---:|---|")
    for b, v in cpu.items():
        s = sorted(v)
        print(f"| {b} | {s[len(s) // 2]:.3f} ms | {s[0]:.3f} ms | {', '.join(f'{x:.3f}' for x in v)} |")


def profile(args):
    with Server({"latency_ms": 0, "default": {"text": "ok"}}) as server, tempfile.TemporaryDirectory(prefix="herd-prof-") as work:
        work = Path(work)
        listing = work / "inputs.txt"
        listing.write_text("".join(f"src/file-{i:07d}.py\n" for i in range(args.tasks)))
        data = work / "perf.data"
        graph = ["--call-graph", "dwarf,16384"] if args.dwarf else ["-g"]
        cmd = ["perf", "record", "-F", "999", *graph, "-o", str(data), "--", args.herd[0], "run", "-j", str(args.jobs),
               "--prompt", "Summarize {}", "--input", str(listing), "--progress", "none", "--sandbox", "off", "--ci", "none",
               "--run-dir", str(work / "run")]
        subprocess.run(cmd, env=env_for(server, str(work / "cfg")), cwd=str(work), stdin=subprocess.DEVNULL,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        script = subprocess.run(["perf", "script", "-i", str(data), "-F", "comm,ip,sym"], capture_output=True, text=True).stdout
    samples, frames = [], None
    for line in script.splitlines():
        if not line.strip():
            if frames is not None:
                samples.append(frames)
            frames = None
        elif not line.startswith((" ", "\t")):
            frames = []
        elif frames is not None:
            parts = line.split(None, 1)
            frames.append(parts[1] if len(parts) > 1 else parts[0])
    if frames is not None:
        samples.append(frames)
    counts = collections.Counter()
    for st in samples:
        area = next((name for f in st if f.startswith("Herd_") for name, rx in AREAS if re.search(rx, f)), None)
        if area is None:
            joined = " ".join(st[:6])
            area = ("GC" if "WKS::" in joined else "HTTP, sockets (no Herd frame)" if any("System_Net" in f for f in st)
                    else "runtime: thread pool, threads, kernel, other")
        counts[area] += 1
    print(f"| area | share of herd's CPU samples ({len(samples):,} samples, {args.tasks:,} tasks) |\n|---|---:|")
    for area, n in counts.most_common():
        print(f"| {area} | {100 * n / max(1, len(samples)):.1f} % |")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["compare", "profile"])
    ap.add_argument("herd", nargs="+")
    ap.add_argument("--tasks", type=int, default=20000)
    ap.add_argument("--reps", type=int, default=4)
    ap.add_argument("--jobs", type=int, default=64)
    ap.add_argument("--dwarf", action="store_true")
    args = ap.parse_args()
    compare(args) if args.mode == "compare" else profile(args)


if __name__ == "__main__":
    main()
