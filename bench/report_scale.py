#!/usr/bin/env python3
"""The end-of-run reports of a large run (issue #23: at most 30 s and 300 MB all together for 1 000 000 tasks).

    python3 bench/report_scale.py --tasks 100000 [--keep DIR] [--herd bench/out/aot/herd] [--jobs 64]
    python3 bench/report_scale.py --run-dir DIR            # a run directory made before (--keep), reports only

Makes a review run of N tasks with the real `herd run -j J --json-schema` against the scripted model server at 0 ms
latency (every task reports one finding, so the run has N findings), unless --run-dir names one. Then runs each
`herd report RUN --format X -o FILE` (sarif, codequality, junit, github, markdown, html) and `herd runs show RUN`
(text and --json) as separate processes, one at a time, and reports for each: wall time, CPU (user + system of the
process, from /proc/<pid>/stat), peak resident memory (VmHWM from /proc/<pid>/status; it only grows) and the bytes
it wrote. The last line sums the wall and CPU times and takes the highest peak. Standard library only. The AOT herd
is built by `dotnet publish src/Herd.Cli -r linux-x64 -p:PublishAot=true -o bench/out/aot`; the scripted server by
`dotnet build tests/Herd.Testing -c Release` (bench/run.py starts it).
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
from run import Server, env_for  # noqa: E402  (the scripted server as a child process, as bench/run.py starts it)
from plan_scale import cpu_seconds, proc_field  # noqa: E402

SCHEMA = json.dumps({"type": "object", "properties": {"issues": {"type": "array", "items": {"type": "object", "properties": {
    "severity": {"type": "string"}, "file": {"type": "string"}, "line": {"type": "integer"}, "message": {"type": "string"}},
    "required": ["severity", "file", "message"]}}}, "required": ["issues"]})
REPLY = {"text": "Reviewed.", "tool_calls": [{"name": "StructuredOutput", "input": {"issues": [
    {"severity": "major", "file": "src/app.py", "line": 3, "message": "Possible null dereference"}]}}]}
FORMATS = ["sarif", "codequality", "junit", "github", "markdown", "html"]


def make_run(herd: str, tasks: int, jobs: int, run_dir: Path) -> None:
    with Server({"latency_ms": 0, "default": REPLY}) as server, tempfile.TemporaryDirectory(prefix="herd-report-scale-") as work:
        listing = Path(work) / "inputs.txt"
        listing.write_text("".join(f"src/file-{i:07d}.py\n" for i in range(tasks)))
        cmd = [herd, "run", "-j", str(jobs), "--json-schema", SCHEMA, "--prompt", "Review {}", "--input", str(listing),
               "--progress", "none", "--sandbox", "off", "--ci", "none", "--run-dir", str(run_dir)]
        start = time.perf_counter()
        proc = subprocess.run(cmd, env=env_for(server, str(Path(work) / "cfg")), cwd=work, stdin=subprocess.DEVNULL,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        print(f"made a {tasks}-task run in {time.perf_counter() - start:.0f} s (exit {proc.returncode}): {run_dir}", file=sys.stderr)
        if proc.returncode not in (0, 1):
            sys.exit(f"herd run failed ({proc.returncode}): {proc.stderr.strip()[-500:]}")


def measure(name: str, cmd: list, out: Path | None) -> dict:
    start = time.perf_counter()
    with open(os.devnull, "wb") as sink:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=sink, stderr=subprocess.PIPE)
        hwm = cpu = 0
        while proc.poll() is None:
            cpu = max(cpu, cpu_seconds(proc.pid) or 0)
            hwm = max(hwm, proc_field(proc.pid, "status", "VmHWM") or 0)
            time.sleep(0.01)
    wall = time.perf_counter() - start
    err = proc.stderr.read().decode(errors="replace").strip()
    size = out.stat().st_size if out is not None and out.exists() else 0
    return {"report": name, "exit": proc.returncode, "wall_s": wall, "cpu_s": cpu, "peak_rss_mb": hwm / 1024,
            "output_mb": size / 1e6, "stderr": err.splitlines()[-1] if err else ""}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tasks", type=int, default=100_000)
    ap.add_argument("--jobs", type=int, default=64)
    ap.add_argument("--herd", default=str(ROOT / "bench" / "out" / "aot" / "herd"))
    ap.add_argument("--run-dir", help="an existing run directory: measure its reports, make no run")
    ap.add_argument("--keep", help="make the run here and keep it (for another --run-dir pass)")
    ap.add_argument("--json", action="store_true", help="print the rows as JSON lines too")
    args = ap.parse_args()

    scratch = Path(tempfile.mkdtemp(prefix="herd-report-scale-"))
    try:
        if args.run_dir:
            run_dir = Path(args.run_dir).resolve()
        else:
            run_dir = Path(args.keep).resolve() if args.keep else scratch / "run"
            make_run(args.herd, args.tasks, args.jobs, run_dir)
        rows = []
        for fmt in FORMATS:
            out = scratch / f"report.{fmt}"
            rows.append(measure(fmt, [args.herd, "report", str(run_dir), "--format", fmt, "-o", str(out)], out))
            out.unlink(missing_ok=True)
        rows.append(measure("runs show", [args.herd, "runs", "show", str(run_dir)], None))
        rows.append(measure("runs show --json", [args.herd, "runs", "show", str(run_dir), "--json"], None))

        print(f"| report ({run_dir.name}) | wall s | CPU s | peak RSS MB | output MB | exit |")
        print("|---|---:|---:|---:|---:|---:|")
        for r in rows:
            print(f"| {r['report']} | {r['wall_s']:.1f} | {r['cpu_s']:.1f} | {r['peak_rss_mb']:.0f} | {r['output_mb']:.1f} | {r['exit']} |")
        print(f"| all together | {sum(r['wall_s'] for r in rows):.1f} | {sum(r['cpu_s'] for r in rows):.1f} | "
              f"{max(r['peak_rss_mb'] for r in rows):.0f} (highest) | {sum(r['output_mb'] for r in rows):.1f} | |")
        if args.json:
            for r in rows:
                print(json.dumps(r))
        failed = [r for r in rows if r["exit"] != 0]
        for r in failed:
            print(f"{r['report']}: exit {r['exit']}: {r['stderr']}", file=sys.stderr)
        sys.exit(1 if failed else 0)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
