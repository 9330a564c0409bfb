"""Section 8 of `make bench` (issue 22): pacing to a key's rate limit.

The simulator's limiter (`moontune simulate --rate-limit R`) keeps a token bucket per API key, R
requests a second with a burst of R, and answers a request that finds it empty 429 with a
whole-second Retry-After and nothing else: the pace must be learnt from the 429s alone. At R = 4
and R = 20:

  - one job under `run` (G=8, C=8, 20 steps);
  - 4 such jobs of 8 steps on one key under `serve`;
  - the official SDK's loop (bench/naive_loop.py with --sdk-retries: the SDK's retry on 429, as
    docs in moondream-live-service.md describe it) on the same job.

Figures: the share of the limit's ideal, (requests needed − the burst) ÷ R ÷ the wall time, and
the 429s per accepted request. Targets: ≥ 0.95 and ≤ 5 %.

Run with `python3 bench/bench.py --only 8` (or as part of the whole benchmark).
"""
import json
import os
import sys
import time

import bench as base
import serve_bench


def limited_simulator(bench, rate, latency=20):
    simulator = base.Simulator(bench, latency, latency)
    simulator.args += ["--rate-limit", str(rate)]
    return simulator


def figures(stats, rate, wall):
    """(share of the ideal, 429s per accepted request, requests needed) from the simulator's counts."""
    by_status = stats.get("responses_by_status", {})
    refused = by_status.get("429", 0)
    needed = sum(count for status, count in by_status.items() if status != "429")
    ideal = max(0, needed - rate) / rate
    return ideal / wall, refused / max(1, needed), needed


def case_run(bench, rate, steps):
    with limited_simulator(bench, rate) as simulator:
        ran, _ = bench.run_job(simulator.base_url, steps, 8, 8)
        stats = serve_bench.simulator_stats(simulator.base_url)
    return figures(stats, rate, ran.wall)


def case_serve(bench, rate, jobs, steps):
    with limited_simulator(bench, rate) as simulator:
        db, names = serve_bench.submit_jobs(bench, simulator.base_url, jobs, steps, 8, 8, f"paced{rate}")
        started = time.perf_counter()
        with serve_bench.Serve(bench, db, 64, jobs) as serve:
            if not serve_bench.wait_all(db, names, timeout=1800):
                sys.exit(f"bench: the jobs did not complete under serve; see {serve.log}")
            wall = time.perf_counter() - started
            serve.stop()
        for name in names:
            if len(base.step_rows(db, name)) != steps:
                sys.exit(f"bench: {name} did not record {steps} steps exactly")
        stats = serve_bench.simulator_stats(simulator.base_url)
    return figures(stats, rate, wall)


def case_sdk(bench, rate, steps):
    with limited_simulator(bench, rate) as simulator:
        folder = bench.fresh("sdk")
        name = f"sdk-{bench.counter}"
        config = base.write_config(os.path.join(folder, "config.json"), name, os.path.join(bench.shapes, "train.jsonl"),
                                   simulator.base_url, steps, 8, 8)
        ran = base.must(base.spawn([sys.executable, os.path.join(base.HERE, "naive_loop.py"), config, "--sdk-retries"],
                                   os.path.join(bench.work, f"{name}.log")), f"the SDK's loop ({name})")
        stats = serve_bench.simulator_stats(simulator.base_url)
    return figures(stats, rate, ran.wall)


def rate_section(bench):
    print("\n8. Rate limits (issue 22): the simulator's token bucket per key, 429 + whole-second Retry-After only")
    steps = 10 if bench.quick else 20
    serve_steps = 4 if bench.quick else 8
    for rate in (4, 20):
        cases = [(f"run, 1 job G=8 C=8, {steps} steps", lambda: case_run(bench, rate, steps)),
                 (f"serve, 4 jobs on one key, {serve_steps} steps", lambda: case_serve(bench, rate, 4, serve_steps)),
                 (f"SDK loop, G=8 C=8, {steps} steps", lambda: case_sdk(bench, rate, steps))]
        for label, measure in cases:
            share, refused, needed = measure()
            ours = not label.startswith("SDK")
            bench.add("8. rate limits", "share of the limit's ideal", f"R={rate}/s: {label}", f"{share:.3f}",
                      f"{needed} requests", "-", "≥ 0.95" if ours else "-", share >= 0.95 if ours else None)
            bench.add("8. rate limits", "429s per accepted request", f"R={rate}/s: {label}", f"{refused:.1%}",
                      "-", "-", "≤ 5%" if ours else "-", refused <= 0.05 if ours else None)
