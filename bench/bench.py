#!/usr/bin/env python3
"""moontune's benchmark (`make bench`): runs the release binary against `moontune simulate` with
set latencies and prints one table, also written to bench/results.md and into
docs/performance.md (between its bench markers).

Every figure comes from whole processes that this script starts and reaps itself: wall time
around spawn and reap, CPU time (user + system) and peak RSS from os.wait4's rusage. Step rates
are the steady state read from the state database (steps.applied_at_ms), skipping the first
steps, so start-up is not counted. Each figure is the median over --repeats runs.

Rows:
  1. step rate as a fraction of the ideal ceil(G/C)*L + T, for several shapes and latencies, and
     of the floor: what bench/floor_client.py (the same calls, no work) reaches on the same simulator;
  2. moontune against bench/naive_loop.py (the loop a user would write), same simulator;
  3. client cost with ~300 KB JPEGs: CPU seconds and peak RSS per 1,000 rollouts;
  4. a 1,000,000-line dataset: first indexing, then start and resume, and their peak RSS;
  5. a database of 100,000 recorded steps: `status` and `status NAME` times;
  6. pipelining: max_staleness 1 against 0 with rollout time = train time;
  7. many jobs under one `moontune serve` (bench/serve_bench.py).
"""
import argparse
import json
import math
import os
import platform
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
KEY = "bench-key"


# ---------------------------------------------------------------------------------------------
# Processes

class Ran:
    """One reaped process: what it cost and when it started."""

    def __init__(self, code, wall, cpu, rss_mb, started_ms, stdout):
        self.code, self.wall, self.cpu, self.rss_mb = code, wall, cpu, rss_mb
        self.started_ms, self.stdout = started_ms, stdout


def spawn(args, log_path, env=None, cwd=None):
    """Runs a process to its end; times it with perf_counter and reaps it with wait4."""
    environment = dict(os.environ, MOONDREAM_API_KEY=KEY, **(env or {}))
    with open(log_path, "ab") as log:
        started_ms = time.time() * 1000
        started = time.perf_counter()
        process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=log, env=environment, cwd=cwd)
        stdout = process.stdout.read()
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        process.stdout.close()
        log.write(stdout)
    return Ran(process.returncode, wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, started_ms,
               stdout.decode(errors="replace"))


def must(ran, what):
    if ran.code != 0:
        sys.exit(f"bench: {what} failed with exit code {ran.code}; see the logs under the work folder")
    return ran


class Simulator:
    """`moontune simulate` on a free port, with the given latencies; stopped with SIGTERM."""

    def __init__(self, bench, rollout_ms, train_ms):
        self.bench = bench
        self.log = os.path.join(bench.work, f"simulator-{rollout_ms}-{train_ms}-{time.monotonic_ns()}.log")
        self.args = [bench.binary, "simulate", "--port", "0", "--seed", "1", "--latency-covers-work",
                     "--rollout-latency-ms", str(rollout_ms), "--train-latency-ms", str(train_ms)]

    def __enter__(self):
        self.out = open(self.log, "wb")
        self.process = subprocess.Popen(self.args, stdout=self.out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with open(self.log, "rb") as f:
                text = f.read().decode(errors="replace")
            for line in text.splitlines():
                if "listening on " in line:
                    self.base_url = line.split("listening on ", 1)[1].strip()
                    return self
            if self.process.poll() is not None:
                break
            time.sleep(0.02)
        self.__exit__()
        sys.exit(f"bench: the simulator did not start; see {self.log}")

    def __exit__(self, *_):
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.out.close()


# ---------------------------------------------------------------------------------------------
# Jobs

def write_config(path, name, train, base_url, steps, groups, concurrency, rollouts=4, staleness=0):
    config = {
        "name": name, "rank": 8,
        "api": {"base_url": base_url, "api_key_env": "MOONDREAM_API_KEY"},
        "data": {"train": os.path.relpath(train, os.path.dirname(path))},
        "train": {"steps": steps, "groups_per_step": groups, "rollouts_per_group": rollouts, "lr": 0.002, "seed": 1,
                  "concurrency": concurrency, "max_staleness": staleness,
                  "settings": {"temperature": 1.0, "top_p": 1.0, "max_tokens": 128, "max_objects": 4}},
        "checkpoint": {"every_steps": steps},
    }
    with open(path, "w") as f:
        json.dump(config, f, indent=2)
    return path


def step_rows(db, name):
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as connection:
        return connection.execute(
            "SELECT s.k, s.intent_at_ms, s.applied_at_ms FROM steps s JOIN jobs j ON j.id = s.job_id "
            "WHERE j.name = ? AND s.state = 'applied' ORDER BY s.k", (name,)).fetchall()


def steady_interval_ms(times, warmup=2):
    """The mean interval between steps after the first `warmup` ones (start-up, first connections)."""
    times = sorted(times)
    if len(times) < warmup + 3:
        warmup = max(0, len(times) - 3)
    measured = times[warmup:]
    return (measured[-1] - measured[0]) / (len(measured) - 1)


def median(values):
    return statistics.median(values)


# ---------------------------------------------------------------------------------------------
# The benchmark

class Bench:
    def __init__(self, args):
        self.binary = os.path.abspath(args.binary)
        self.repeats = args.repeats
        self.quick = args.quick
        self.work = tempfile.mkdtemp(prefix="moontune-bench-")
        self.keep = args.keep
        self.rows = []
        self.counter = 0

    def fresh(self, prefix):
        self.counter += 1
        folder = os.path.join(self.work, f"{prefix}-{self.counter}")
        os.makedirs(folder)
        return folder

    def moontune(self, *args, log="moontune.log", cwd=None):
        return spawn([self.binary, *args], os.path.join(self.work, log), cwd=cwd)

    def add(self, section, measure, shape, value, reference, ratio, target, met, unit=""):
        self.rows.append(dict(section=section, measure=measure, shape=shape, value=value, reference=reference,
                              ratio=ratio, target=target, met=met))
        flag = "" if met is None else ("  ok" if met else "  NOT MET")
        print(f"  {measure:<34} {shape:<34} {value:>14} {reference:>16} {ratio:>7}{flag}", flush=True)

    # -- datasets

    def datasets(self):
        self.shapes = os.path.join(self.work, "shapes")
        must(self.moontune("bench-data", self.shapes, "--images", "16"), "bench-data (shapes)")
        self.jpegs = os.path.join(self.work, "jpeg300")
        must(self.moontune("bench-data", self.jpegs, "--images", "16", "--image-kb", "300"), "bench-data (300 KB JPEGs)")
        sizes = [os.path.getsize(os.path.join(self.jpegs, "images", f)) for f in os.listdir(os.path.join(self.jpegs, "images"))]
        self.jpeg_kb = statistics.mean(sizes) / 1000
        print(f"datasets: 48 examples over 16 shape PNGs; 48 over 16 noisy JPEGs of {self.jpeg_kb:.0f} KB on average")

    def run_job(self, base_url, steps, groups, concurrency, staleness=0, train=None, rollouts=4):
        folder = self.fresh("job")
        name = f"bench-{self.counter}"
        config = write_config(os.path.join(folder, "config.json"), name, train or os.path.join(self.shapes, "train.jsonl"),
                              base_url, steps, groups, concurrency, rollouts=rollouts, staleness=staleness)
        db = os.path.join(folder, "state.sqlite")
        ran = must(self.moontune("run", config, "--db", db, log=f"{name}.log"), f"moontune run ({name})")
        times = [applied for _, _, applied in step_rows(db, name)]
        if len(times) != steps:
            sys.exit(f"bench: {name} recorded {len(times)} of {steps} steps")
        return ran, times

    def steps_for(self, ideal_ms, minimum=8):
        seconds = 0.8 if self.quick else 2.0
        return max(minimum, min(200, int(seconds * 1000 / ideal_ms)))

    # -- 1. step rate against the ideal

    def step_rate(self):
        print("\n1. Step rate against the ideal ceil(G/C)*L + T (T = L, 4 rollouts per group), and against the floor:\n"
              "   bench/floor_client.py making the same calls with prebuilt bodies over raw sockets")
        latencies = [5, 20, 50, 200] if not self.quick else [5, 20, 50]
        for groups, concurrency in [(8, 8), (32, 8), (32, 32)]:
            for latency in latencies:
                ideal = math.ceil(groups / concurrency) * latency + latency
                steps = self.steps_for(ideal)
                intervals, floors = [], []
                with Simulator(self, latency, latency) as simulator:
                    for _ in range(self.repeats):
                        _, times = self.run_job(simulator.base_url, steps, groups, concurrency)
                        intervals.append(steady_interval_ms(times))
                        floors.append(steady_interval_ms(self.floor(simulator.base_url, steps, groups, concurrency)))
                interval, floor = median(intervals), median(floors)
                ratio = ideal / interval
                self.add("1. step rate vs ideal", "step rate", f"G={groups} C={concurrency} L=T={latency} ms",
                         f"{1000 / interval:.2f} steps/s", f"ideal {1000 / ideal:.2f}; floor {1000 / floor:.2f}",
                         f"{ratio:.3f} ({floor / interval:.3f} of floor)",
                         "≥ 0.95 at L ≥ 20 ms" if latency >= 20 else "-", ratio >= 0.95 if latency >= 20 else None)

    def floor(self, base_url, steps, groups, concurrency):
        """The step times of bench/floor_client.py: the simulator's own limit on this machine."""
        ran = must(spawn([sys.executable, os.path.join(HERE, "floor_client.py"), base_url, os.path.join(self.shapes, "train.jsonl"),
                          "--groups", str(groups), "--concurrency", str(concurrency), "--steps", str(steps),
                          "--name", f"floor-{self.counter}-{time.monotonic_ns()}"],
                         os.path.join(self.work, "floor.log")), "floor client")
        return json.loads(ran.stdout.strip().splitlines()[-1])["step_times_ms"]

    # -- 2. against the loop a user would write

    def naive(self, base_url, train, steps, groups, concurrency, rollouts=4):
        folder = self.fresh("naive")
        name = f"naive-{self.counter}"
        config = write_config(os.path.join(folder, "config.json"), name, train, base_url, steps, groups, concurrency,
                              rollouts=rollouts)
        ran = must(spawn([sys.executable, os.path.join(HERE, "naive_loop.py"), config],
                         os.path.join(self.work, f"{name}.log")), f"naive loop ({name})")
        report = json.loads(ran.stdout.strip().splitlines()[-1])
        return ran, report

    def against_naive(self):
        groups, concurrency, latency = 8, 8, 20
        ideal = math.ceil(groups / concurrency) * latency + latency
        steps = self.steps_for(ideal, minimum=20)
        rollouts = steps * groups * 4
        print(f"\n2. Against the loop a user would write (G={groups} C={concurrency} L=T={latency} ms, {steps} steps, shapes)")
        ours, theirs = [], []
        with Simulator(self, latency, latency) as simulator:
            train = os.path.join(self.shapes, "train.jsonl")
            for _ in range(self.repeats):
                ran, times = self.run_job(simulator.base_url, steps, groups, concurrency)
                ours.append((steady_interval_ms(times), ran.cpu / rollouts * 1000))
                ran, report = self.naive(simulator.base_url, train, steps, groups, concurrency)
                theirs.append((steady_interval_ms(report["step_times_ms"]), ran.cpu / report["rollouts"] * 1000))
        our_interval, their_interval = median([x[0] for x in ours]), median([x[0] for x in theirs])
        our_cpu, their_cpu = median([x[1] for x in ours]), median([x[1] for x in theirs])
        shape = f"G={groups} C={concurrency} L=T={latency} ms"
        self.add("2. against the naive loop", "step rate", shape, f"{1000 / our_interval:.2f} steps/s",
                 f"naive {1000 / their_interval:.2f}", f"{their_interval / our_interval:.2f}×", "-", None)
        self.add("2. against the naive loop", "client CPU per 1,000 rollouts", shape, f"{our_cpu:.3f} s",
                 f"naive {their_cpu:.3f} s", f"{our_cpu / their_cpu:.2f}×", "-", None)

    # -- 3. client cost with 300 KB JPEGs

    def client_cost(self):
        groups, concurrency, latency = 8, 8, 20
        steps = 16 if self.quick else 32
        rollouts = steps * groups * 4
        print(f"\n3. Client cost with {self.jpeg_kb:.0f} KB JPEGs (G={groups} C={concurrency} L=T={latency} ms, "
              f"{steps} steps = {rollouts} rollouts)")
        ours, theirs = [], []
        train = os.path.join(self.jpegs, "train.jsonl")
        with Simulator(self, latency, latency) as simulator:
            for _ in range(self.repeats):
                ran, _ = self.run_job(simulator.base_url, steps, groups, concurrency, train=train)
                ours.append((ran.cpu / rollouts * 1000, ran.rss_mb))
                ran, report = self.naive(simulator.base_url, train, steps, groups, concurrency)
                theirs.append((ran.cpu / report["rollouts"] * 1000, ran.rss_mb))
        shape = f"{self.jpeg_kb:.0f} KB JPEG, G={groups} C={concurrency}"
        our_cpu, their_cpu = median([x[0] for x in ours]), median([x[0] for x in theirs])
        our_rss, their_rss = median([x[1] for x in ours]), median([x[1] for x in theirs])
        self.add("3. client cost", "CPU per 1,000 rollouts", shape, f"{our_cpu:.3f} s", f"naive {their_cpu:.3f} s",
                 f"{our_cpu / their_cpu:.2f}×", "-", None)
        self.add("3. client cost", "peak RSS", shape, f"{our_rss:.1f} MB", f"naive {their_rss:.1f} MB",
                 f"{our_rss / their_rss:.2f}×", "-", None)

    # -- 4. a million-line dataset

    def scale_dataset(self):
        lines = 200_000 if self.quick else 1_000_000
        print(f"\n4. Scale: a {lines:,}-line dataset (simulator without latency)")
        folder = os.path.join(self.work, "million")
        generated = must(self.moontune("bench-data", folder, "--images", "16", "--lines", str(lines)), "bench-data (million)")
        size_mb = os.path.getsize(os.path.join(folder, "train.jsonl")) / 1e6
        print(f"  wrote {lines:,} lines ({size_mb:.0f} MB) in {generated.wall:.1f} s")
        train = os.path.join(folder, "train.jsonl")
        jobs = self.fresh("scale")
        db = os.path.join(jobs, "state.sqlite")
        with Simulator(self, 0, 0) as simulator:
            def job(name, steps, database=db):
                config = write_config(os.path.join(jobs, f"{name}.json"), name, train, simulator.base_url, steps, 8, 8)
                ran = must(self.moontune("run", config, "--db", database, log=f"{name}.log"), f"moontune run ({name})")
                rows = step_rows(database, name)
                first_intent = min(intent for k, intent, _ in rows if k == steps)
                return ran, first_intent - ran.started_ms

            # A first run indexes every line; each of these has a database (and so an index cache) of its own.
            firsts = [job(f"scale-first-{index}", 1, os.path.join(jobs, f"first-{index}.sqlite")) for index in range(self.repeats)]
            first = sorted(firsts, key=lambda pair: pair[0].wall)[len(firsts) // 2][0]
            first_step = median([ms for _, ms in firsts])
            # The index cache the later runs use.
            job("scale-first", 1)
            starts, resumes = [], []
            for index in range(self.repeats):
                starts.append(job(f"scale-{index}", 1))
                resumes.append(job(f"scale-{index}", 2))
        shape = f"{lines:,} lines, {size_mb:.0f} MB"
        # issue 16: the first indexing of a million lines in 8 s or less (the target is for that size).
        target = lines == 1_000_000
        self.add("4. scale", "first run (indexes every line)", shape, f"{first.wall:.2f} s",
                 f"to 1st step {first_step / 1000:.2f} s", f"{first.wall / 8:.2f}" if target else "-",
                 "≤ 8 s" if target else "-", first.wall <= 8 if target else None)
        self.add("4. scale", "peak RSS, first run", shape, f"{first.rss_mb:.1f} MB", "target 100 MB",
                 f"{first.rss_mb / 100:.2f}", "< 100 MB", first.rss_mb < 100)
        for label, runs in [("start (new job, indexed file)", starts), ("resume", resumes)]:
            wall = median([ran.wall for ran, _ in runs])
            to_step = median([ms for _, ms in runs]) / 1000
            rss = median([ran.rss_mb for ran, _ in runs])
            self.add("4. scale", f"{label}: whole run of 1 step", shape, f"{wall:.2f} s", f"to the step {to_step:.2f} s",
                     f"{wall / 2:.2f}", "< 2 s", wall < 2)
            self.add("4. scale", f"peak RSS, {label.split(' ')[0]}", shape, f"{rss:.1f} MB", "target 100 MB",
                     f"{rss / 100:.2f}", "< 100 MB", rss < 100)

    # -- 5. a database with 100,000 steps

    def status_time(self):
        steps = 100_000
        print(f"\n5. `status` over a database of {steps:,} recorded steps")
        folder = self.fresh("status")
        db = os.path.join(folder, "state.sqlite")
        name = "long-job"
        with Simulator(self, 0, 0) as simulator:
            config = write_config(os.path.join(folder, "config.json"), name, os.path.join(self.shapes, "train.jsonl"),
                                  simulator.base_url, 1, 8, 8)
            must(self.moontune("run", config, "--db", db, log="status-seed.log"), "moontune run (status seed)")
        started = time.perf_counter()
        synthesize_steps(db, name, steps)
        print(f"  synthesized {steps:,} steps in {time.perf_counter() - started:.1f} s")
        for label, args in [("status", []), ("status NAME", [name]), ("status --json", ["--json"])]:
            walls = []
            for _ in range(max(5, self.repeats)):
                ran = must(self.moontune("status", *args, "--db", db, log="status.log"), f"moontune {label}")
                walls.append(ran.wall * 1000)
            wall = median(walls)
            self.add("5. status", f"`{label}` time", f"{steps:,} steps", f"{wall:.0f} ms", "target 200 ms",
                     f"{wall / 200:.2f}", "< 200 ms", wall < 200)

    # -- 6. pipelining

    def pipelining(self):
        groups, concurrency, latency = 8, 16, 50
        steps = 12 if self.quick else 24
        print(f"\n6. Pipelining: max_staleness 1 against 0 (G={groups} C={concurrency} L=T={latency} ms, {steps} steps)")
        intervals = {0: [], 1: []}
        with Simulator(self, latency, latency) as simulator:
            for _ in range(self.repeats):
                for staleness in (0, 1):
                    _, times = self.run_job(simulator.base_url, steps, groups, concurrency, staleness=staleness)
                    intervals[staleness].append(steady_interval_ms(times))
        synchronous, pipelined = median(intervals[0]), median(intervals[1])
        ratio = synchronous / pipelined
        self.add("6. pipelining", "step rate, max_staleness 1", f"G={groups} C={concurrency} L=T={latency} ms",
                 f"{1000 / pipelined:.2f} steps/s", f"staleness 0: {1000 / synchronous:.2f}", f"{ratio:.2f}×", "≥ 1.7×",
                 ratio >= 1.7)

    # -- output

    def table(self):
        lines = ["| Section | Measure | Shape | moontune | Ideal or peer | Ratio | Target | Met |",
                 "|---|---|---|---|---|---|---|---|"]
        for row in self.rows:
            met = "" if row["met"] is None else ("yes" if row["met"] else "**no**")
            lines.append(f"| {row['section']} | {row['measure']} | {row['shape']} | {row['value']} | {row['reference']} | "
                         f"{row['ratio']} | {row['target']} | {met} |")
        return "\n".join(lines)


def synthesize_steps(db, name, count):
    """Copies the job's one real step into `count` steps, with checkpoints, evals and events at
    the cadence a long job would have, in one transaction."""
    connection = sqlite3.connect(db)
    with connection:
        job_id, = connection.execute("SELECT id FROM jobs WHERE name = ?", (name,)).fetchone()
        row = connection.execute("SELECT * FROM steps WHERE job_id = ? AND k = 1", (job_id,)).fetchone()
        columns = [c[1] for c in connection.execute("PRAGMA table_info(steps)")]
        template = dict(zip(columns, row))
        now = int(time.time() * 1000)
        start = now - count * 1000

        def step(k):
            values = dict(template, k=k, intent_at_ms=start + k * 1000 - 40, applied_at_ms=start + k * 1000,
                          reward_mean=min(1.0, 0.2 + k / count * 0.6))
            return tuple(values[c] for c in columns)

        placeholders = ", ".join("?" for _ in columns)
        connection.executemany(f"INSERT INTO steps ({', '.join(columns)}) VALUES ({placeholders})",
                               (step(k) for k in range(2, count + 1)))
        connection.executemany(
            "INSERT OR IGNORE INTO checkpoints (job_id, step, checkpoint_id, kind, saved_at_ms, deleting_at_ms, deleted_at_ms) "
            "VALUES (?, ?, ?, 'cadence', ?, ?, ?)",
            ((job_id, k, f"ckpt-{k}", start + k * 1000, start + k * 1000 + 5 if k < count - 5000 else None,
              start + k * 1000 + 10 if k < count - 5000 else None) for k in range(1000, count + 1, 1000)))
        connection.executemany(
            "INSERT OR IGNORE INTO evals (job_id, step, reward_mean, n, per_skill_json, at_ms) VALUES (?, ?, ?, 50, '{}', ?)",
            ((job_id, k, min(1.0, 0.2 + k / count * 0.6), start + k * 1000) for k in range(1000, count + 1, 1000)))
        connection.executemany(
            "INSERT INTO events (job_id, at_ms, kind, step, message) VALUES (?, ?, ?, ?, ?)",
            ((job_id, start + k * 1000, kind, k, f"{kind} at step {k}")
             for k in range(100, count + 1, 100) for kind in ("retried",)))
        connection.execute("UPDATE jobs SET total_steps = ?, state = 'completed', updated_at_ms = ? WHERE id = ?",
                           (count, now, job_id))
    connection.close()


def machine():
    model = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    memory = ""
    try:
        with open("/proc/meminfo") as f:
            kb = int(f.readline().split()[1])
            memory = f", {kb / 1024 / 1024:.1f} GiB memory"
    except (OSError, ValueError, IndexError):
        pass
    return f"{model}, {os.cpu_count()} cores{memory}, {platform.system()} {platform.release()}"


def commit():
    try:
        return subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    except OSError:
        return "unknown"


def update_docs(path, block):
    """Replaces the text between the bench markers of docs/performance.md with `block`."""
    begin, end = "<!-- bench:begin -->", "<!-- bench:end -->"
    try:
        with open(path) as f:
            text = f.read()
    except OSError:
        return False
    if begin not in text or end not in text:
        return False
    head, rest = text.split(begin, 1)
    _, tail = rest.split(end, 1)
    with open(path, "w") as f:
        f.write(head + begin + "\n" + block + "\n" + end + tail)
    return True


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--binary", default=os.path.join(ROOT, ".build", "release", "moontune"))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="fewer steps and shapes, for a smoke test")
    parser.add_argument("--only", default="123456789", help="which sections to run, e.g. 146")
    parser.add_argument("--out", default=os.path.join(HERE, "results.md"))
    parser.add_argument("--docs", default=os.path.join(ROOT, "docs", "performance.md"),
                        help="the doc whose bench block is replaced ('' to leave it)")
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    args = parser.parse_args()
    if not os.access(args.binary, os.X_OK):
        sys.exit(f"bench: no moontune binary at {args.binary}; build it with `swift build -c release`")

    bench = Bench(args)
    began = time.perf_counter()
    print(f"moontune bench: {bench.binary}\nmachine: {machine()}\nwork folder: {bench.work}")
    try:
        bench.datasets()
        import serve_bench  # section 7: many jobs under `moontune serve` (issue 13)
        import rate_bench  # section 8: pacing to a key's rate limit (issue 22)
        import history_bench  # section 9: serve over a long history (issue 21)
        sections = {"1": bench.step_rate, "2": bench.against_naive, "3": bench.client_cost, "4": bench.scale_dataset,
                    "5": bench.status_time, "6": bench.pipelining, "7": lambda: serve_bench.serve_section(bench),
                    "8": lambda: rate_bench.rate_section(bench), "9": lambda: history_bench.history_section(bench)}
        for key in args.only:
            sections[key]()
    finally:
        if not bench.keep:
            shutil.rmtree(bench.work, ignore_errors=True)
    elapsed = time.perf_counter() - began
    block = "\n".join([
        f"Measured {time.strftime('%Y-%m-%d %H:%M %Z')} at commit {commit()} on {machine()}.",
        f"Medians of {args.repeats} runs{' (--quick)' if args.quick else ''}; the whole benchmark took {elapsed / 60:.1f} min.",
        "",
        bench.table(),
    ])
    with open(args.out, "w") as f:
        f.write("# moontune benchmark results\n\n" + block + "\n")
    print("\n" + bench.table())
    print(f"\nwritten to {os.path.relpath(args.out)}", end="")
    if args.docs and not args.quick and args.only == "123456789" and update_docs(args.docs, block):
        print(f" and {os.path.relpath(args.docs)}", end="")
    print(f"; {elapsed / 60:.1f} min")
    missed = [row for row in bench.rows if row["met"] is False]
    if missed:
        print(f"{len(missed)} target(s) not met: see docs/performance.md for why")


if __name__ == "__main__":
    main()
