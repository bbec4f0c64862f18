#!/usr/bin/env python3
"""Worktree pool benchmark (herd run --isolate worktree): the per-task cost of the pool on a repository of 10 000 files.

    python3 bench/worktree_pool.py [--files 10000] [--tasks 40] [--herd PATH]

Runs one plan of tasks three ways at -j 1 with --engine cmd (no model involved):

  no isolation, task does nothing        the task only stamps the time
  worktree, task does nothing            --isolate worktree
  worktree, task edits one file          --isolate worktree, and the task appends a line to one file
                                         (so a patch is captured and the tree is reset)

Each task first appends a stamp to a file: the wall clock, and herd's CPU so far from /proc/HERD/stat (its own
threads plus every child it has waited for: git, the task's shell). The difference between two consecutive stamps is
what one task cost herd end to end — the task's command, the scheduler, the record, and with --isolate the pool's
capture and reset. herd's start, the slot's one-time `git worktree add` (a checkout of every file, before the first
task) and the pool's removal at the end are outside every interval; the first interval (a warm-up) is left out too. The pool's overhead per task is a
case's mean interval minus the plain case's. The machine's load average is printed with the figures.
Standard library only.
"""
import argparse
import os
import shutil
import statistics
import subprocess
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def herd_cmd(path):
    if path:
        return [path]
    aot = ROOT / "bench" / "out" / "aot" / "herd"
    if aot.exists():
        return [str(aot)]
    return ["dotnet", str(ROOT / "src" / "Herd.Cli" / "bin" / "Debug" / "net10.0" / "herd.dll")]


def git(repo, *args):
    subprocess.run(["git", "-c", "user.name=bench", "-c", "user.email=bench@localhost", *args], cwd=repo, check=True,
                   stdout=subprocess.DEVNULL)


def make_repo(root, files):
    repo = root / "repo"
    for i in range(files):
        d = repo / f"d{i // 500:03d}"
        d.mkdir(parents=True, exist_ok=True)
        (d / f"f{i:05d}.txt").write_text(f"file {i}\n" * 20)
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "start")
    return repo


def run(herd, repo, root, name, tasks, extra, edit):
    stamps = root / (name + ".stamps")
    pidfile = root / (name + ".pid")
    # One line per task: wall ns, then herd's utime stime cutime cstime in clock ticks. A script file, because
    # --cmd is a template whose braces are replacement strings.
    script = root / (name + ".sh")
    script.write_text(f"read p < {pidfile}\n"
                      f"echo \"$(date +%s%N) $(cut -d' ' -f14-17 /proc/$p/stat)\" >> {stamps}\n"
                      + ("echo edit >> d000/f00000.txt\n" if edit else ""))
    cmd = f"sh {script}"
    inputs = [f"t{i:05d}" for i in range(tasks)]
    argv = herd + ["run", "-j", "1", "--engine", "cmd", "--cmd", cmd, "--prompt", "x {}", "--run-dir", str(root / name),
                   "--progress", "none", "--retries", "0", *extra, ":::", *inputs]
    proc = subprocess.Popen(argv, cwd=repo, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    pidfile.write_text(str(proc.pid))
    if proc.wait() != 0:
        raise SystemExit(f"herd failed in case {name}")
    tick = os.sysconf("SC_CLK_TCK")
    rows = [[int(x) for x in line.split()] for line in stamps.read_text().splitlines() if line.strip()]
    walls = [(b[0] - a[0]) / 1e9 for a, b in zip(rows, rows[1:])]
    cpus = [(sum(b[1:]) - sum(a[1:])) / tick for a, b in zip(rows, rows[1:])]
    # The first interval is a warm-up (code paths run for the first time); the steady state is the rest.
    return statistics.mean(walls[1:]), statistics.median(walls[1:]), statistics.mean(cpus[1:])


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--files", type=int, default=10000)
    p.add_argument("--tasks", type=int, default=40)
    p.add_argument("--herd")
    a = p.parse_args()
    herd = herd_cmd(a.herd)
    root = Path(tempfile.mkdtemp(prefix="herd-bench-pool-"))
    load_before = os.getloadavg()
    try:
        repo = make_repo(root, a.files)
        cases = [
            ("no isolation, task does nothing", [], False),
            ("worktree, task does nothing", ["--isolate", "worktree"], False),
            ("worktree, task edits one file", ["--isolate", "worktree"], True),
        ]
        results = [(label, *run(herd, repo, root, f"case{i}", a.tasks, extra, edit)) for i, (label, extra, edit) in enumerate(cases)]
        load_after = os.getloadavg()
        base_wall, base_cpu = results[0][1], results[0][3]
        print(f"{a.files} files, {a.tasks} tasks, -j 1, {os.cpu_count()} cores; load average {load_before[0]:.1f} before, {load_after[0]:.1f} after")
        print(f"{'case':34} {'wall/task':>10} {'(median)':>9} {'cpu/task':>9} {'+wall/task':>11} {'+cpu/task':>10}")
        for label, wall, wall_median, cpu in results:
            print(f"{label:34} {wall * 1000:8.1f}ms {wall_median * 1000:7.1f}ms {cpu * 1000:7.1f}ms "
                  f"{(wall - base_wall) * 1000:9.1f}ms {(cpu - base_cpu) * 1000:8.1f}ms")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
