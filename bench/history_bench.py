"""Section 9 of `make bench` (issue 21): `moontune serve` over a long history.

A state database with 60 finished jobs of 100 steps (written by the hidden `moontune bench-history`),
under one `serve`, against the same daemon on an empty database:
  - each endpoint's median answer time over 20 requests (`/api/jobs`, `/metrics`, a job's details,
    the dashboard page): target under 50 ms, and about the same as the empty daemon's;
  - the daemon's CPU while idle with a dashboard open (a poller that asks what the page asks every
    2 s: `/api/jobs?changed_since=...` and the details of what changed): target under 5% of a core.

Run with `python3 bench/bench.py --only 9`.
"""
import json
import os
import statistics
import time
import urllib.request

import bench as base
from serve_bench import Serve


def get(url):
    with urllib.request.urlopen(url, timeout=30) as answer:
        return answer.read()


def median_ms(url, count):
    get(url)  # warm
    times = []
    for _ in range(count):
        began = time.perf_counter()
        get(url)
        times.append((time.perf_counter() - began) * 1000)
    return statistics.median(times)


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


def dashboard_poller(url, seconds):
    """Polls as the dashboard does: what changed since the last answer, and the details of those."""
    as_of = None
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        doc = json.loads(get(url + "/api/jobs" + ("" if as_of is None else f"?changed_since={as_of}")))
        for job in doc.get("jobs", []):
            get(url + "/api/jobs/" + urllib.request.quote(job["name"]) + "/details")
        as_of = doc.get("as_of_ms")
        time.sleep(2)


def history_section(bench):
    jobs, steps = 60, 100
    count = 10 if bench.quick else 20
    idle = 10 if bench.quick else 30
    print(f"\n9. serve over a long history (issue 21): {jobs} finished jobs of {steps} steps against an empty database")
    empty_db = os.path.join(bench.fresh("empty"), "state.sqlite")
    base.must(bench.moontune("bench-history", "--db", empty_db, "--jobs", "1", "--steps", "1"), "bench-history (one job)")
    history_db = os.path.join(bench.fresh("history"), "state.sqlite")
    base.must(bench.moontune("bench-history", "--db", history_db, "--jobs", str(jobs), "--steps", str(steps)), "bench-history")
    endpoints = ["/api/jobs", "/metrics", "/api/jobs/history-1/details", "/"]
    fresh = {}
    with Serve(bench, empty_db, 64, 4) as serve:
        for path in endpoints:
            fresh[path] = median_ms(serve.url + path, count)
        serve.stop()
    shape = f"{jobs} jobs x {steps} steps"
    with Serve(bench, history_db, 64, 4) as serve:
        for path in endpoints:
            ms = median_ms(serve.url + path, count)
            bench.add("9. history", f"GET {path}", shape, f"{ms:.1f} ms", f"1 job {fresh[path]:.1f} ms", f"{ms / max(fresh[path], 0.01):.2f}",
                      "< 50 ms", ms < 50)
        size = len(get(serve.url + "/api/jobs"))
        bench.add("9. history", "/api/jobs size", shape, f"{size / 1000:.0f} KB", "50 jobs a page", "-", "-", None)
        before, began = cpu_seconds(serve.process.pid), time.monotonic()
        dashboard_poller(serve.url, idle)
        share = (cpu_seconds(serve.process.pid) - before) / (time.monotonic() - began)
        bench.add("9. history", "idle CPU, dashboard open", shape, f"{share * 100:.1f}% of a core", f"{idle} s", "-", "< 5%", share < 0.05)
        serve.stop()
