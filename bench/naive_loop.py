#!/usr/bin/env python3
"""The training loop a user would write by hand: the benchmark's peer for moontune.

It reads the same moontune job config and dataset and makes the same calls: create the finetune,
then for every step one /tuning/rollouts request per group (sent through a thread pool as wide as
train.concurrency), rewards (the server's for point and detect, an exact match for query), one
/tuning/train_step, and a final checkpoint. The data order is moontune's (SplitMix64-driven
Fisher-Yates per epoch), so both train on the same batches.

What it leaves out is what moontune adds: no persistence or resume, no retries, no reconciliation,
no validation beyond what the code needs, no metrics. It is deliberately straightforward, not slow:
one keep-alive session with a connection pool as wide as the concurrency.

With --sdk-retries it retries as the official SDK does (section 8 of the bench runs it against a
rate limiter); without, any error ends it.

Usage: MOONDREAM_API_KEY=... naive_loop.py CONFIG [--name NAME] [--sdk-retries]
Prints one JSON line at the end: {"steps": N, "rollouts": N, "seconds": S, "step_times_ms": [...]}
(the wall clock after each train_step, for the same steady-state rate the benchmark reads from
moontune's database).
"""
import argparse
import base64
import json
import os
import random
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import requests
from requests.adapters import HTTPAdapter

MASK = (1 << 64) - 1
RETRIED = {408, 425, 429, 500, 502, 503, 504, 520, 521, 522, 523, 524}


def splitmix64(state):
    state = (state + 0x9E3779B97F4A7C15) & MASK
    z = state
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
    return state, z ^ (z >> 31)


def permutation(count, seed):
    order = list(range(count))
    state = seed & MASK
    for i in range(count - 1, 0, -1):
        state, value = splitmix64(state)
        j = ((i + 1) * value) >> 64
        order[i], order[j] = order[j], order[i]
    return order


def step_indices(count, seed, groups, step):
    """moontune's DataOrder.indices(forStep:), for datasets at least one step long."""
    per_epoch = count // groups
    epoch, position = divmod(step - 1, per_epoch)
    order = permutation(count, seed ^ ((epoch * 0x9E3779B97F4A7C15) & MASK))
    return order[position * groups:(position + 1) * groups]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("config")
    parser.add_argument("--name", help="the finetune's name (default: the config's)")
    parser.add_argument("--sdk-retries", action="store_true",
                        help="retry as the official SDK does (408, 425, 429, 5xx: jittered exponential backoff, 10 tries)")
    args = parser.parse_args()

    with open(args.config) as f:
        config = json.load(f)
    folder = os.path.dirname(os.path.abspath(args.config))
    train = config["train"]
    base = config["api"]["base_url"].rstrip("/")
    groups_per_step = train["groups_per_step"]
    concurrency = train.get("concurrency", 8)
    settings = train.get("settings", {})

    train_path = os.path.join(folder, config["data"]["train"])
    with open(train_path) as f:
        examples = [json.loads(line) for line in f if line.strip()]
    data_folder = os.path.dirname(train_path)

    session = requests.Session()
    session.mount("http://", HTTPAdapter(pool_connections=1, pool_maxsize=concurrency))
    session.headers["X-Moondream-Auth"] = os.environ["MOONDREAM_API_KEY"]

    def post(path, body):
        for attempt in range(1, 11 if args.sdk_retries else 2):
            response = session.post(f"{base}/tuning{path}", json=body, timeout=120)
            if not args.sdk_retries or response.status_code not in RETRIED or attempt == 10:
                break
            # The official SDK's retry (moondream-live-service.md): jittered exponential backoff
            # up to 30 s, 10 tries; a Retry-After is waited when it is longer.
            delay = random.uniform(0, min(30.0, 0.5 * 2 ** (attempt - 1)))
            try:
                delay = max(delay, float(response.headers.get("Retry-After", "0")))
            except ValueError:
                pass
            time.sleep(delay)
        response.raise_for_status()
        return response.json()

    def rollout(finetune_id, example):
        with open(os.path.join(data_folder, example["image"]), "rb") as f:
            data = f.read()
        mime = "image/png" if data.startswith(b"\x89PNG") else "image/jpeg"
        image_url = f"data:{mime};base64," + base64.b64encode(data).decode()
        skill = example["skill"]
        request = {"skill": skill, "image_url": image_url, "settings": dict(settings)}
        if skill == "query":
            request["question"] = example["question"]
            request["settings"].pop("max_objects", None)
        else:
            request["object"] = example["object"]
            if skill == "point":
                request["settings"].pop("max_objects", None)
        body = {"finetune_id": finetune_id, "num_rollouts": train["rollouts_per_group"], "request": request}
        if skill != "query":
            body["ground_truth"] = example["ground_truth"]
        answer = post("/rollouts", body)
        if skill == "query":
            accepted = example["answer"] if isinstance(example["answer"], list) else [example["answer"]]
            accepted = {a.strip().lower() for a in accepted}
            rewards = [1.0 if r["output"]["answer"].strip().lower().rstrip(".") in accepted else 0.0
                       for r in answer["rollouts"]]
        else:
            rewards = answer["rewards"]
        return {"request": answer["request"], "rollouts": answer["rollouts"], "rewards": rewards}

    started = time.perf_counter()
    finetune_id = post("/finetunes", {"name": args.name or config["name"], "rank": config["rank"]})["finetune_id"]
    rollouts = 0
    step_times_ms = []
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        for step in range(1, train["steps"] + 1):
            batch = [examples[i] for i in step_indices(len(examples), train.get("seed", 0), groups_per_step, step)]
            groups = list(pool.map(lambda example: rollout(finetune_id, example), batch))
            post("/train_step", {"finetune_id": finetune_id, "groups": groups, "lr": train.get("lr", 0.002)})
            rollouts += sum(len(group["rollouts"]) for group in groups)
            step_times_ms.append(time.time() * 1000)
    post(f"/finetunes/{finetune_id}/checkpoints/save", {})
    print(json.dumps({"steps": train["steps"], "rollouts": rollouts, "seconds": time.perf_counter() - started,
                      "step_times_ms": step_times_ms}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
