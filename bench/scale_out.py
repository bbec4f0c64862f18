#!/usr/bin/env python3
"""Scale-out benchmark (issue #14): one plan worked by W `herd worker` processes on one loopback PostgreSQL, against
the same plan run by one `herd run` on SQLite, both against the scripted model server with zero latency.

    python3 bench/scale_out.py [--tasks 1000000] [--workers 16] [--jobs 8] [--store URL] [--herd PATH]

Reports: plan insert time (herd run --enqueue: one COPY), wall time, tasks per second, and CPU milliseconds per task
of the workers (or of herd run) and of the PostgreSQL server processes (from /proc). The model server's CPU is not
counted: it stands in for the API. Standard library only. HERD_STORE or --store names the database (tests/postgres.sh
prints one); --herd defaults to the AOT build in bench/out/aot/herd, else the JIT build.
"""
import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TICK = os.sysconf("SC_CLK_TCK")


def herd_cmd(path):
    if path:
        return [path]
    aot = ROOT / "bench" / "out" / "aot" / "herd"
    if aot.exists():
        return [str(aot)]
    return ["dotnet", str(ROOT / "src" / "Herd.Cli" / "bin" / "Debug" / "net10.0" / "herd.dll")]


def stat_fields(pid):
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()


def psql(store, sql):
    return subprocess.run(["psql", store, "-qAtc", sql], check=True, capture_output=True, text=True).stdout.strip()


def postmaster_pid(store):
    """The postmaster serving STORE: the parent of its checkpointer, so other clusters on the machine are not counted.
    A role that may not see the checkpointer in pg_stat_activity (no pg_read_all_stats) gets the one postmaster in /proc."""
    checkpointer = psql(store, "SELECT pid FROM pg_stat_activity WHERE backend_type = 'checkpointer'")
    if checkpointer:
        return int(stat_fields(int(checkpointer))[1])
    found = []
    for pid in os.listdir("/proc"):
        try:
            if pid.isdigit() and Path(f"/proc/{pid}/comm").read_text().strip() == "postgres" \
                    and Path(f"/proc/{stat_fields(pid)[1]}/comm").read_text().strip() != "postgres":
                found.append(int(pid))
        except OSError:
            continue
    if len(found) != 1:
        sys.exit(f"error: cannot tell which PostgreSQL serves the store ({len(found)} postmasters); grant pg_read_all_stats")
    return found[0]


TABLES = "('herd_tasks', 'herd_attempts', 'herd_records', 'herd_run_counts', 'herd_runs', 'herd_workers', 'herd_locks')"


def server_writes(store):
    """What the server wrote so far: (row versions inserted, updated, HOT-updated) over the store's tables and the WAL
    position in bytes. The statistics a backend gathers reach the views when it goes idle or exits."""
    ins, upd, hot = psql(store, f"SELECT COALESCE(SUM(n_tup_ins),0), COALESCE(SUM(n_tup_upd),0), COALESCE(SUM(n_tup_hot_upd),0) "
                                f"FROM pg_stat_user_tables WHERE relname IN {TABLES}").split("|")
    wal = psql(store, "SELECT pg_current_wal_lsn() - '0/0'::pg_lsn")
    return int(ins), int(upd), int(hot), int(float(wal))


def writes_delta(store, before):
    time.sleep(1.5)  # let the last backends' statistics land (they flush at most once a second)
    after = server_writes(store)
    return tuple(b - a for a, b in zip(before, after))


def postgres_cpu_s(postmaster):
    """utime+stime (with reaped children's) of the postmaster and its processes, in seconds (the server side of the work)."""
    total = 0
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            fields = stat_fields(pid)
            if int(pid) != postmaster and int(fields[1]) != postmaster:
                continue
            total += int(fields[11]) + int(fields[12]) + int(fields[13]) + int(fields[14])
        except (OSError, IndexError, ValueError):
            continue
    return total / TICK


def process_cpu_s(pid):
    """utime+stime of one live process, in seconds."""
    fields = stat_fields(pid)
    return (int(fields[11]) + int(fields[12])) / TICK


def children_cpu_s():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def start_server():
    dll = ROOT / "tests" / "Herd.Testing" / "bin" / "Debug" / "net10.0" / "herd-model-server.dll"
    p = subprocess.Popen(["dotnet", str(dll), "--port", "0", "--latency-ms", "0"], stdout=subprocess.PIPE, text=True)
    return p, p.stdout.readline().strip()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tasks", type=int, default=1_000_000)
    ap.add_argument("--workers", type=int, default=16)
    ap.add_argument("--jobs", type=int, default=8)
    ap.add_argument("--store", default=os.environ.get("HERD_STORE"))
    ap.add_argument("--herd")
    ap.add_argument("--skip-sqlite", action="store_true")
    a = ap.parse_args()
    if not a.store:
        sys.exit("error: pass --store postgres://… or set HERD_STORE (sudo tests/postgres.sh prints one)")
    herd = herd_cmd(a.herd)
    server, url = start_server()
    work = Path(tempfile.mkdtemp(prefix="herd-scale-"))
    env = dict(os.environ, ANTHROPIC_BASE_URL=url, ANTHROPIC_API_KEY="sk-bench", HERD_CONFIG_DIR=str(work / "cfg"), HERD_STORE=a.store)
    inputs = work / "inputs.txt"
    inputs.write_text("".join(f"item-{i}\n" for i in range(a.tasks)))
    run_id = f"bench-{int(time.time())}"
    try:
        w0 = server_writes(a.store)
        t0 = time.monotonic()
        subprocess.run(herd + ["run", "--enqueue", "--run-dir", run_id, "--prompt", "Do {}", "--input", str(inputs)],
                       env=env, cwd=work, check=True, stdout=subprocess.DEVNULL)
        insert_s = time.monotonic() - t0
        plan_w = writes_delta(a.store, w0)
        w0 = server_writes(a.store)
        postmaster = postmaster_pid(a.store)
        cpu0, pg0, model0, t0 = children_cpu_s(), postgres_cpu_s(postmaster), process_cpu_s(server.pid), time.monotonic()
        workers = [subprocess.Popen(herd + ["worker", "--run", run_id, "-j", str(a.jobs)], env=env, cwd=work,
                                    stderr=subprocess.DEVNULL) for _ in range(a.workers)]
        for w in workers:
            w.wait()
        wall = time.monotonic() - t0
        cpu, pg, model = children_cpu_s() - cpu0, postgres_cpu_s(postmaster) - pg0, process_cpu_s(server.pid) - model0
        work_w = writes_delta(a.store, w0)
        n = a.tasks
        print(f"postgres: {n} tasks, {a.workers} workers x -j {a.jobs}: plan insert {insert_s:.2f} s (incl. start-up), "
              f"wall {wall:.1f} s, {n / wall:.0f} tasks/s\n", flush=True)
        print("| per task | plan insert | work (claim → final) | total |")
        print("|---|---:|---:|---:|")
        for i, name in enumerate(["row versions inserted", "row versions updated", "of which HOT"]):
            print(f"| {name} | {plan_w[i] / n:.2f} | {work_w[i] / n:.2f} | {(plan_w[i] + work_w[i]) / n:.2f} |")
        print(f"| WAL bytes | {plan_w[3] / n:.0f} | {work_w[3] / n:.0f} | {(plan_w[3] + work_w[3]) / n:.0f} |")
        print(f"| CPU ms, workers (utime+stime) | — | {1000 * cpu / n:.3f} | |")
        print(f"| CPU ms, PostgreSQL server | — | {1000 * pg / n:.3f} | |")
        print(f"| **CPU ms, workers + server** | — | **{1000 * (cpu + pg) / n:.3f}** | |")
        print(f"| CPU ms, scripted model server (not counted) | — | {1000 * model / n:.3f} | |", flush=True)
        if not a.skip_sqlite:
            # A fresh model server, so the second case does not inherit the first one's connections and heap.
            server.terminate()
            server.wait()
            server, url = start_server()
            env["ANTHROPIC_BASE_URL"] = url
            cpu0, t0 = children_cpu_s(), time.monotonic()
            subprocess.run(herd + ["run", "-j", str(a.workers * a.jobs), "--run-dir", "sqlite", "--progress", "none", "--prompt", "Do {}",
                                   "--input", str(inputs)], env={k: v for k, v in env.items() if k != "HERD_STORE"}, cwd=work,
                           check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            wall = time.monotonic() - t0
            cpu = children_cpu_s() - cpu0
            print(f"sqlite:   {a.tasks} tasks, herd run -j {a.workers * a.jobs}: wall {wall:.1f} s, {a.tasks / wall:.0f} tasks/s, "
                  f"CPU/task {1000 * cpu / a.tasks:.2f} ms", flush=True)
    finally:
        server.terminate()


if __name__ == "__main__":
    main()
