#!/usr/bin/env python3
"""Worktree pool benchmark (herd run --isolate worktree): the per-task cost of the pool on a repository of 10 000 files.

    python3 bench/worktree_pool.py [--files 10000] [--tasks 100] [--jobs 2] [--herd PATH]

Runs the same plan of tasks that do nothing (--engine cmd --cmd true) three ways on one repository: without isolation,
isolated in worktrees, and isolated in worktrees with a task that edits one file (so a patch is captured). The
difference per task between the isolated runs and the plain one is the pool's overhead: take the tree, capture
(git add -A, git diff --cached twice) and reset (git reset --hard, git clean -ffdx). Wall time is herd's; CPU is herd's
and its children's (git, bash), from getrusage. The pool's one-time cost (one git worktree add per slot, removal at the
end) is included and spread over the tasks. Standard library only.
"""
import argparse
import os
import resource
import shutil
import subprocess
import tempfile
import time
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


def run(herd, repo, run_dir, tasks, jobs, extra, cmd):
    inputs = [f"t{i:05d}" for i in range(tasks)]
    argv = herd + ["run", "-j", str(jobs), "--engine", "cmd", "--cmd", cmd, "--prompt", "x {}", "--run-dir", str(run_dir),
                   "--progress", "none", *extra, ":::", *inputs]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(argv, cwd=repo, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--files", type=int, default=10000)
    p.add_argument("--tasks", type=int, default=100)
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument("--herd")
    a = p.parse_args()
    herd = herd_cmd(a.herd)
    root = Path(tempfile.mkdtemp(prefix="herd-bench-pool-"))
    try:
        repo = make_repo(root, a.files)
        cases = [
            ("no isolation, task does nothing", [], "true"),
            ("worktree, task does nothing", ["--isolate", "worktree"], "true"),
            ("worktree, task edits one file", ["--isolate", "worktree"], "echo edit >> d000/f00000.txt"),
        ]
        results = []
        for i, (name, extra, cmd) in enumerate(cases):
            wall, cpu = run(herd, repo, root / f"run{i}", a.tasks, a.jobs, extra, cmd)
            results.append((name, wall, cpu))
        base_wall, base_cpu = results[0][1], results[0][2]
        print(f"{a.files} files, {a.tasks} tasks, -j {a.jobs}")
        print(f"{'case':34} {'wall/task':>10} {'cpu/task':>10} {'+wall/task':>11} {'+cpu/task':>10}")
        for name, wall, cpu in results:
            print(f"{name:34} {wall / a.tasks * 1000:8.1f}ms {cpu / a.tasks * 1000:8.1f}ms "
                  f"{(wall - base_wall) / a.tasks * 1000:9.1f}ms {(cpu - base_cpu) / a.tasks * 1000:8.1f}ms")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
