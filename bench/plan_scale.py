#!/usr/bin/env python3
"""Memory, CPU and disk writes per task as the plan grows (issue #23), side by side in one run.

    python3 bench/plan_scale.py [--sizes 10000,100000[,1000000]] [--jobs 64] [--herd bench/out/aot/herd]
                                [--parallel-jobs 2000] [--latency-run 10000:200]

For each size: one `herd run -j J` over that many inputs against the scripted model server at 0 ms latency. Reported:
peak resident memory (VmHWM, read from /proc while herd runs — it only grows), CPU per task (user + system of herd
alone, from /proc/<pid>/stat, read until it exits), bytes written per task (the process's write_bytes and wchar from /proc/<pid>/io, read just before
it exits: everything herd wrote — run.db, its WAL, results.ndjson, plan.json, report.html) and what the run directory
keeps per task. Then GNU parallel running `true` per job at the same -j, as the anchor: its CPU per job (parallel and
every child) and its peak memory. With --latency-run N:MS, also N tasks at MS milliseconds of model latency against the
zero-overhead client, which would take ceil(N / J) × MS (the goal: within 1.05× of it). Prints a Markdown table to
stdout (the JSON of each run goes to stderr). A million tasks take about 15 minutes: run them on an idle machine.
Standard library only. The AOT herd is built by `python3 bench/run.py` (or
`dotnet publish src/Herd.Cli -r linux-x64 -p:PublishAot=true -o bench/out/aot`).
"""
import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
from run import Server, env_for  # noqa: E402  (the scripted server as a child process, as bench/run.py starts it)


def proc_field(pid: int, name: str, field: str):
    try:
        with open(f"/proc/{pid}/{name}") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def cpu_seconds(pid: int):
    """User + system CPU of one process so far, from /proc/<pid>/stat."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


def dir_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def run_herd(herd: str, tasks: int, jobs: int, latency_ms: int = 0) -> dict:
    with Server({"latency_ms": latency_ms, "default": {"text": "ok"}}) as server, tempfile.TemporaryDirectory(prefix="herd-scale-") as work:
        work = Path(work)
        listing = work / "inputs.txt"
        listing.write_text("".join(f"src/file-{i:07d}.py\n" for i in range(tasks)))
        run_dir = work / "run"
        cmd = [herd, "run", "-j", str(jobs), "--prompt", "Summarize {}", "--input", str(listing), "--progress", "none",
               "--sandbox", "off", "--ci", "none", "--run-dir", str(run_dir)]
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, env=env_for(server, str(work / "cfg")), cwd=str(work), stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        hwm = write_bytes = wchar = cpu = 0
        while proc.poll() is None:
            cpu = max(cpu, cpu_seconds(proc.pid) or 0)
            hwm = max(hwm, proc_field(proc.pid, "status", "VmHWM") or 0)
            write_bytes = max(write_bytes, proc_field(proc.pid, "io", "write_bytes") or 0)
            wchar = max(wchar, proc_field(proc.pid, "io", "wchar") or 0)
            time.sleep(0.02)
        wall = time.perf_counter() - start
        err = proc.stderr.read()
        kept = dir_bytes(run_dir)
        return {"tasks": tasks, "jobs": jobs, "latency_ms": latency_ms, "ideal_s": (tasks + jobs - 1) // jobs * latency_ms / 1000,
                "exit": proc.returncode, "wall_s": wall, "kept_bytes": kept, "wchar_bytes": wchar, "peak_rss_mb": hwm / 1024,
                "write_bytes_per_task_kib": write_bytes / tasks / 1024, "wchar_per_task_kib": wchar / tasks / 1024,
                "kept_per_task_kib": kept / tasks / 1024, "cpu_ms_per_task": cpu / tasks * 1000, "last_line": err.strip().splitlines()[-1] if err.strip() else ""}


def run_parallel(jobs: int, count: int) -> dict:
    if shutil.which("parallel") is None:
        return {"skipped": "GNU parallel not installed"}
    with tempfile.TemporaryDirectory(prefix="herd-par-") as work:
        listing = Path(work) / "inputs.txt"
        listing.write_text("".join(f"{i}\n" for i in range(count)))
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        proc = subprocess.Popen(["parallel", "--will-cite", "-j", str(jobs), "true", "::::", str(listing)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        hwm = 0
        while proc.poll() is None:
            hwm = max(hwm, proc_field(proc.pid, "status", "VmHWM") or 0)
            time.sleep(0.02)
        wall = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        return {"jobs": jobs, "count": count, "wall_s": wall, "cpu_per_job_ms": cpu / count * 1000, "peak_rss_mb": hwm / 1024}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="10000,100000", help="task counts at 0 ms latency, e.g. 10000,100000,1000000")
    ap.add_argument("--jobs", type=int, default=64)
    ap.add_argument("--herd", default=str(ROOT / "bench" / "out" / "aot" / "herd"))
    ap.add_argument("--parallel-jobs", type=int, default=2000, help="jobs GNU parallel runs for the anchor")
    ap.add_argument("--latency-run", default="", help="TASKS:MS, e.g. 10000:200 — one run at that model latency against the ideal")
    args = ap.parse_args()
    rows = []
    for n in [int(s) for s in args.sizes.split(",") if s]:
        row = run_herd(args.herd, n, args.jobs)
        rows.append(row)
        print(json.dumps(row), file=sys.stderr)
    slow = None
    if args.latency_run:
        n, ms = (int(x) for x in args.latency_run.split(":"))
        slow = run_herd(args.herd, n, args.jobs, latency_ms=ms)
        print(json.dumps(slow), file=sys.stderr)
    anchor = run_parallel(args.jobs, args.parallel_jobs)
    print(f"`python3 bench/plan_scale.py --sizes {args.sizes} --jobs {args.jobs}"
          + (f" --latency-run {args.latency_run}" if args.latency_run else "") + f"`, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
          f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}\n")
    print("| tasks | model latency | -j | wall s | peak RSS (VmHWM) | CPU / task | written / task (`wchar`) | written / task (`write_bytes`) | kept / task | written ÷ kept (`wchar`) | exit |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows + ([slow] if slow else []):
        print(f"| {r['tasks']:,} | {r['latency_ms']} ms | {r['jobs']} | {r['wall_s']:.1f} | {r['peak_rss_mb']:.0f} MB | {r['cpu_ms_per_task']:.3f} ms | "
              f"{r['wchar_per_task_kib']:.1f} KiB | {r['write_bytes_per_task_kib']:.1f} KiB | {r['kept_per_task_kib']:.1f} KiB | "
              f"{r['wchar_bytes'] / max(1, r['kept_bytes']):.2f}× | {r['exit']} |")
    if len(rows) > 1:
        base = rows[0]
        for r in rows[1:]:
            print(f"\nPeak RSS at {r['tasks']:,} tasks is {(r['peak_rss_mb'] / base['peak_rss_mb'] - 1) * 100:+.1f} % of the {base['tasks']:,}-task run's (goal: within 10 %, at most 150 MB).")
    if slow:
        print(f"\n{slow['tasks']:,} tasks at {slow['latency_ms']} ms, -j {slow['jobs']}: wall {slow['wall_s']:.1f} s against {slow['ideal_s']:.1f} s for the "
              f"zero-overhead client ({slow['wall_s'] / slow['ideal_s']:.3f}×; goal ≤ 1.05×).")
    if "skipped" not in anchor:
        print(f"\nGNU parallel, {anchor['count']:,} jobs of `true` at -j {anchor['jobs']}: {anchor['cpu_per_job_ms']:.2f} ms CPU per job "
              f"(parallel and its children), peak RSS of parallel {anchor['peak_rss_mb']:.0f} MB, wall {anchor['wall_s']:.1f} s.")
    else:
        print(f"\nGNU parallel: {anchor['skipped']}.")


if __name__ == "__main__":
    main()
