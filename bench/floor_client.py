#!/usr/bin/env python3
"""The simulator's floor: the step rate of a client that does (almost) nothing.

It makes the calls of a synchronous step (G rollouts requests, at most C in flight, then one
train_step) over raw keep-alive sockets with asyncio, with every body built once in advance and
no answer parsed beyond its length. Whatever time a step takes beyond ceil(G/C)*L + T is then
the simulator's and the machine's, not a client's: the simulator shares this machine's cores, and
answering G requests at once takes it a moment. The benchmark shows this floor next to the ideal.

The train_step body is built once, from the first answers, and sent at every step: the simulator
counts the repeats as double applications of those rollouts, which does not matter here.

Usage: floor_client.py BASE_URL TRAIN_JSONL --groups G --concurrency C --rollouts R --steps N
Prints one JSON line: {"step_times_ms": [...]} (the wall clock after each train_step).
"""
import argparse
import asyncio
import base64
import json
import os
import time
import urllib.parse

KEY = os.environ.get("MOONDREAM_API_KEY", "bench-key")


def http_request(host, path, body):
    return (f"POST {path} HTTP/1.1\r\nHost: {host}\r\nX-Moondream-Auth: {KEY}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n").encode() + body


async def exchange(connection, request):
    reader, writer = connection
    writer.write(request)
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    length = next(int(line.split(b":", 1)[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length"))
    return head, await reader.readexactly(length)


def rollouts_body(finetune_id, example, folder, rollouts):
    with open(os.path.join(folder, example["image"]), "rb") as f:
        data = f.read()
    mime = "image/png" if data.startswith(b"\x89PNG") else "image/jpeg"
    request = {"skill": example["skill"], "image_url": f"data:{mime};base64," + base64.b64encode(data).decode()}
    if example["skill"] == "query":
        request["question"] = example["question"]
    else:
        request["object"] = example["object"]
    body = {"finetune_id": finetune_id, "num_rollouts": rollouts, "request": request}
    if example["skill"] != "query":
        body["ground_truth"] = example["ground_truth"]
    return json.dumps(body).encode()


async def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("base_url")
    parser.add_argument("train")
    parser.add_argument("--groups", type=int, required=True)
    parser.add_argument("--concurrency", type=int, required=True)
    parser.add_argument("--rollouts", type=int, default=4)
    parser.add_argument("--steps", type=int, required=True)
    parser.add_argument("--name", default=f"floor-{os.getpid()}")
    args = parser.parse_args()

    url = urllib.parse.urlparse(args.base_url)
    host, port, root = url.hostname, url.port, url.path.rstrip("/")
    connections = [await asyncio.open_connection(host, port) for _ in range(args.concurrency + 1)]
    control = connections.pop()

    _, answer = await exchange(control, http_request(host, f"{root}/tuning/finetunes",
                                                     json.dumps({"name": args.name, "rank": 8}).encode()))
    finetune_id = json.loads(answer)["finetune_id"]
    with open(args.train) as f:
        examples = [json.loads(line) for line, _ in zip(f, range(args.groups))]
    examples = [examples[i % len(examples)] for i in range(args.groups)]
    folder = os.path.dirname(os.path.abspath(args.train))
    requests = [http_request(host, f"{root}/tuning/rollouts", rollouts_body(finetune_id, e, folder, args.rollouts))
                for e in examples]

    free = asyncio.Queue()
    for connection in connections:
        free.put_nowait(connection)

    async def send(request):
        connection = await free.get()
        try:
            return (await exchange(connection, request))[1]
        finally:
            free.put_nowait(connection)

    async def wave():
        return await asyncio.gather(*[send(request) for request in requests])

    groups = []
    for answer in await wave():
        document = json.loads(answer)
        rewards = document["rewards"] or [0.0] * len(document["rollouts"])
        groups.append({"request": document["request"], "rollouts": document["rollouts"], "rewards": rewards})
    train = http_request(host, f"{root}/tuning/train_step",
                         json.dumps({"finetune_id": finetune_id, "groups": groups, "lr": 0.002}).encode())

    times = []
    for _ in range(args.steps):
        await wave()
        await exchange(control, train)
        times.append(time.time() * 1000)
    print(json.dumps({"step_times_ms": times}))


if __name__ == "__main__":
    asyncio.run(main())
