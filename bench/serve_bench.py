"""Section 7 of `make bench` (issue 13): many jobs under one `moontune serve`.

  - one job of concurrency 4 under `serve` against the same job under `run`: step rate within 5%;
  - 50 jobs of concurrency 4 under one `serve --max-in-flight 64 --max-jobs 50`: the daemon's CPU per
    1,000 rollouts and peak RSS (wait4's rusage of the serve process), the in-flight cap held (the
    simulator's max_in_flight), fairness (Jain's index of the jobs' steady step rates);
  - the same 50 jobs on one key against the simulator's rate limiter (`--rate-limit`, issue 22) at
    about half their free throughput: the share of the limit's ideal and the 429s per accepted
    request, and that every job still completes exactly.

Run with `python3 bench/bench.py --only 7` (or as part of the whole benchmark).
"""
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.request

import bench as base


class Serve:
    """`moontune serve --port 0` on a database; stopped with SIGTERM and reaped with wait4."""

    def __init__(self, bench, db, max_in_flight, max_jobs):
        self.log = os.path.join(bench.work, f"serve-{time.monotonic_ns()}.log")
        self.args = [bench.binary, "serve", "--db", db, "--port", "0", "--max-in-flight", str(max_in_flight),
                     "--max-jobs", str(max_jobs)]

    def __enter__(self):
        self.out = open(self.log, "wb")
        environment = dict(os.environ, MOONDREAM_API_KEY=base.KEY)
        self.process = subprocess.Popen(self.args, stdout=self.out, stderr=subprocess.STDOUT, env=environment)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with open(self.log, "rb") as f:
                for line in f.read().decode(errors="replace").splitlines():
                    if "listening on " in line:
                        self.url = line.split("listening on ", 1)[1].strip()
                        return self
            if self.process.poll() is not None:
                break
            time.sleep(0.05)
        sys.exit(f"bench: serve did not start; see {self.log}")

    def stop(self):
        """SIGTERM; returns (exit code, CPU seconds, peak RSS in MB) of the daemon."""
        self.process.send_signal(signal.SIGTERM)
        _, status, usage = os.wait4(self.process.pid, 0)
        self.out.close()
        return os.waitstatus_to_exitcode(status), usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024

    def __exit__(self, *_):
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def states(db):
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as connection:
        return dict(connection.execute("SELECT name, state FROM jobs").fetchall())


def wait_all(db, names, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        current = states(db)
        if all(current.get(name) == "completed" for name in names):
            return True
        if any(current.get(name) == "failed" for name in names):
            sys.exit(f"bench: a job failed under serve: {current}")
        time.sleep(0.25)
    return False


def simulator_stats(base_url):
    root = base_url.rsplit("/v1", 1)[0]
    with urllib.request.urlopen(root + "/_sim/stats", timeout=10) as answer:
        return json.load(answer)


def jain(values):
    return sum(values) ** 2 / (len(values) * sum(v * v for v in values)) if values else 0


def submit_jobs(bench, base_url, count, steps, groups, concurrency, prefix):
    folder = bench.fresh(prefix)
    db = os.path.join(folder, "state.sqlite")
    names = []
    for index in range(count):
        name = f"{prefix}-{bench.counter}-{index}"
        config = base.write_config(os.path.join(folder, f"{name}.json"), name, os.path.join(bench.shapes, "train.jsonl"),
                                   base_url, steps, groups, concurrency)
        base.must(bench.moontune("submit", config, "--db", db, log="submit.log"), f"submit {name}")
        names.append(name)
    return db, names


def many_jobs(bench, simulator, count, steps, label):
    groups, concurrency, rollouts = 4, 4, 4
    db, names = submit_jobs(bench, simulator.base_url, count, steps, groups, concurrency, label)
    started = time.perf_counter()
    with Serve(bench, db, 64, count) as serve:
        if not wait_all(db, names, timeout=1800):
            sys.exit(f"bench: the {count} jobs did not complete; see {serve.log}")
        wall = time.perf_counter() - started
        code, cpu, rss = serve.stop()
    if code != 0:
        sys.exit(f"bench: serve exited {code} after SIGTERM; see {serve.log}")
    rates = [1000 / base.steady_interval_ms([applied for _, _, applied in base.step_rows(db, name)]) for name in names]
    for name in names:
        if len(base.step_rows(db, name)) != steps:
            sys.exit(f"bench: {name} did not record {steps} steps exactly")
    rollouts_done = count * steps * groups * rollouts
    return dict(wall=wall, cpu=cpu, rss=rss, rates=rates, rollouts=rollouts_done,
                stats=simulator_stats(simulator.base_url))


def serve_section(bench):
    latency = 20
    print("\n7. Many jobs under one `moontune serve` (issue 13), against the simulator at L=T=20 ms")
    # A single job: serve against run.
    steps = 30 if bench.quick else 80
    with base.Simulator(bench, latency, latency) as simulator:
        _, times = bench.run_job(simulator.base_url, steps, 8, 4)
        run_interval = base.steady_interval_ms(times)
        db, names = submit_jobs(bench, simulator.base_url, 1, steps, 8, 4, "single")
        with Serve(bench, db, 64, 1) as serve:
            if not wait_all(db, names, timeout=600):
                sys.exit(f"bench: the job did not complete under serve; see {serve.log}")
            serve.stop()
        serve_interval = base.steady_interval_ms([applied for _, _, applied in base.step_rows(db, names[0])])
    ratio = run_interval / serve_interval
    bench.add("7. serve", "one job: step rate under serve", "G=8 C=4 L=T=20 ms", f"{1000 / serve_interval:.2f} steps/s",
              f"run {1000 / run_interval:.2f}", f"{ratio:.3f}", "≥ 0.95 of run", ratio >= 0.95)

    count = 10 if bench.quick else 50
    steps = 6 if bench.quick else 20
    # The simulator's own step latency covers its work, so 50 jobs measure the daemon, not it.
    with base.Simulator(bench, latency, latency) as simulator:
        result = many_jobs(bench, simulator, count, steps, "many")
    shape = f"{count} jobs G=4 C=4, --max-in-flight 64"
    per_thousand = result["cpu"] / result["rollouts"] * 1000
    bench.add("7. serve", "daemon CPU per 1,000 rollouts", shape, f"{per_thousand:.3f} s", f"{result['rollouts']} rollouts", "-", "-", None)
    bench.add("7. serve", "daemon peak RSS", shape, f"{result['rss']:.0f} MB", "-", "-", "< 300 MB", result["rss"] < 300)
    peak = result["stats"].get("max_in_flight", 0)
    bench.add("7. serve", "requests in flight, at most", shape, f"{peak}", "cap 64", f"{peak / 64:.2f}", "≤ 64", peak <= 64)
    fairness = jain(result["rates"])
    bench.add("7. serve", "fairness (Jain's index of step rates)", shape, f"{fairness:.3f}", "1.0 = equal", "-", "≥ 0.9",
              fairness >= 0.9)
    throughput = result["rollouts"] / result["wall"]

    # The same jobs on one key against a real limiter (issue 22): a token bucket of R/s that
    # answers 429 with a whole-second Retry-After, at about half the throughput they reach free.
    rate = max(20, int(throughput / 4 / 2 / 10) * 10)  # requests a second: ~4 rollouts per request
    simulator = base.Simulator(bench, latency, latency)
    simulator.args += ["--rate-limit", str(rate)]
    with simulator:
        limited = many_jobs(bench, simulator, count, steps, "limited")
    by_status = limited["stats"].get("responses_by_status", {})
    refused = by_status.get("429", 0)
    needed = sum(n for status, n in by_status.items() if status != "429")
    share = (needed - rate) / rate / limited["wall"]
    bench.add("7. serve", f"share of a {rate}/s limiter's ideal", shape, f"{share:.3f}",
              f"{needed} requests", "-", "≥ 0.95, every job exact", share >= 0.95)
    bench.add("7. serve", f"429s per accepted request, {rate}/s limiter", shape, f"{refused / max(1, needed):.1%}",
              "-", "-", "≤ 5%", refused <= 0.05 * needed)
