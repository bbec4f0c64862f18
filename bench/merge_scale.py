#!/usr/bin/env python3
"""`herd merge` of a large sharded plan: wall, CPU and peak memory of each herd given, side by side (issue #23).

    python3 bench/merge_scale.py [--tasks 200000] [--shards 2] [--jobs 64] [--herd DIR/herd ...] [--run-with DIR/herd]

Runs each shard (`herd run --shard k/n`) of one plan of --tasks inputs against the scripted model server at 0 ms
latency with --run-with (default: the first --herd), then merges the shards' run directories once with each --herd,
reading its CPU (utime + stime) and peak RSS (VmHWM) from /proc. Prints a Markdown table. Standard library only.
"""
import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
from run import Server, env_for  # noqa: E402
from plan_scale import cpu_seconds, proc_field  # noqa: E402


def watch(cmd, env, cwd):
    """Runs cmd to its end; returns (exit, wall s, CPU s, peak RSS MB)."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    hwm = cpu = 0
    while proc.poll() is None:
        cpu = max(cpu, cpu_seconds(proc.pid) or 0)
        hwm = max(hwm, proc_field(proc.pid, "status", "VmHWM") or 0)
        time.sleep(0.02)
    err = proc.stderr.read().strip()
    if proc.returncode not in (0,):
        print(f"{' '.join(cmd[:3])}: exit {proc.returncode}: {err.splitlines()[-1] if err else ''}", file=sys.stderr)
    return proc.returncode, time.perf_counter() - start, cpu, hwm / 1024


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tasks", type=int, default=200_000)
    ap.add_argument("--shards", type=int, default=2)
    ap.add_argument("--jobs", type=int, default=64)
    ap.add_argument("--herd", action="append", help="a herd binary to merge with (repeat to compare); default bench/out/aot/herd")
    ap.add_argument("--run-with", help="the herd that runs the shards (default: the first --herd)")
    args = ap.parse_args()
    herds = [os.path.abspath(h) for h in args.herd or [str(ROOT / "bench" / "out" / "aot" / "herd")]]
    runner = os.path.abspath(args.run_with) if args.run_with else herds[0]
    with Server({"latency_ms": 0, "default": {"text": "ok"}}) as server, tempfile.TemporaryDirectory(prefix="herd-merge-") as work:
        work = Path(work)
        env = env_for(server, str(work / "cfg"))
        listing = work / "inputs.txt"
        listing.write_text("".join(f"src/file-{i:07d}.py\n" for i in range(args.tasks)))
        shards = []
        for k in range(1, args.shards + 1):
            run_dir = work / f"shard-{k}"
            code, wall, cpu, rss = watch([runner, "run", "-j", str(args.jobs), "--prompt", "Summarize {}", "--input", str(listing),
                                          "--shard", f"{k}/{args.shards}", "--progress", "none", "--sandbox", "off", "--ci", "none",
                                          "--run-dir", str(run_dir)], env, work)
            print(f"shard {k}/{args.shards}: exit {code}, {wall:.1f} s, peak {rss:.0f} MB", file=sys.stderr)
            shards.append(str(run_dir))
        rows = []
        for i, herd in enumerate(herds):
            out = work / f"merged-{i}"
            rows.append((herd, *watch([herd, "merge", str(out), *shards], env, work)))
        print(f"`python3 bench/merge_scale.py --tasks {args.tasks} --shards {args.shards}`, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
              f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}\n")
        print("| herd | exit | wall s | CPU s | CPU / task | peak RSS (VmHWM) |")
        print("|---|---:|---:|---:|---:|---:|")
        for herd, code, wall, cpu, rss in rows:
            print(f"| {herd} | {code} | {wall:.1f} | {cpu:.1f} | {cpu / args.tasks * 1000:.3f} ms | {rss:.0f} MB |")


if __name__ == "__main__":
    main()
