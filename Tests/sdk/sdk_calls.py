#!/usr/bin/env python3
"""Drives a moontune simulator with the official Moondream SDK (PyPI moondream==2.6.1).

Every call of the SDK's finetune module (moondream.ft and its Finetune methods) and of its
cloud inference client (moondream.vl -> CloudVL) is made with the shapes of the SDK's own
docstrings, against the simulator only. One line per call: "ok NAME" or "FAIL NAME: why".
Exits 1 if any call failed, 2 if the SDK cannot be imported.

    python3 Tests/sdk/sdk_calls.py --base http://127.0.0.1:PORT/v1 [--wrapped-base http://127.0.0.1:PORT2/v1]

--wrapped-base is a simulator started with --wrap-finetune (GET /finetunes/:id answered
{"finetune": {...}}). Only loopback addresses are allowed: any other connection is refused
before it is made, and proxies from the environment are ignored.
"""
import argparse
import json
import os
import socket
import sys
import traceback
import urllib.error
import urllib.parse
import urllib.request

# Never reach anything but this machine: no proxies, and a socket guard.
for variable in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
    os.environ.pop(variable, None)
os.environ["NO_PROXY"] = os.environ["no_proxy"] = "*"
urllib.request.install_opener(urllib.request.build_opener(urllib.request.ProxyHandler({})))

_LOOPBACK = {"127.0.0.1", "localhost", "::1"}
_original_connect = socket.socket.connect


def _guarded_connect(self, address):
    host = address[0] if isinstance(address, tuple) else address
    if host not in _LOOPBACK:
        raise ConnectionRefusedError(f"sdk_calls.py only talks to loopback addresses, not {host!r}")
    return _original_connect(self, address)


socket.socket.connect = _guarded_connect
_original_create_connection = socket.create_connection


def _guarded_create_connection(address, *args, **kwargs):
    if address[0] not in _LOOPBACK:
        raise ConnectionRefusedError(f"sdk_calls.py only talks to loopback addresses, not {address[0]!r}")
    return _original_create_connection(address, *args, **kwargs)


socket.create_connection = _guarded_create_connection

try:
    import moondream as md
    from PIL import Image
except ImportError as error:  # the Swift test tells a missing SDK from a failing one by this code
    print(f"FAIL import: {error}")
    sys.exit(2)

API_KEY = "sdk-test-key"
failures = []


def check(name, call):
    """Runs one call; prints ok or FAIL with the reason. Returns the call's result or None."""
    try:
        result = call()
    except urllib.error.HTTPError as error:
        body = error.read().decode("utf-8", "replace")
        failures.append(name)
        print(f"FAIL {name}: HTTP {error.code} {body}")
        return None
    except Exception as error:  # noqa: BLE001 - every failure is reported, none escapes
        failures.append(name)
        detail = traceback.format_exception_only(type(error), error)[-1].strip()
        print(f"FAIL {name}: {detail}")
        return None
    print(f"ok {name}")
    sys.stdout.flush()
    return result


def expect(condition, why):
    if not condition:
        raise AssertionError(why)


def expect_http_error(status, call):
    try:
        call()
    except urllib.error.HTTPError as error:
        expect(error.code == status, f"expected HTTP {status}, got {error.code}: {error.read()[:200]!r}")
        return
    raise AssertionError(f"expected HTTP {status}, the call succeeded")


def raw_get(url):
    request = urllib.request.Request(url, headers={"X-Moondream-Auth": API_KEY})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read().decode("utf-8"))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base", required=True, help="the simulator's /v1 root, e.g. http://127.0.0.1:8080/v1")
    parser.add_argument("--wrapped-base", help="a --wrap-finetune simulator's /v1 root")
    args = parser.parse_args()
    base = args.base.rstrip("/")
    tuning = f"{base}/tuning"

    red = Image.new("RGB", (64, 48), (200, 30, 30))
    blue = Image.new("RGB", (64, 48), (30, 30, 200))
    sampling_locate = {"temperature": 1.0, "top_p": 1.0, "max_objects": 4}
    sampling_query = {"temperature": 1.0, "top_p": 1.0, "max_tokens": 64}

    # --- finetune module -------------------------------------------------------------------
    tune = check("create_finetune", lambda: md.ft(API_KEY, name="sdk-finetune", rank=16, endpoint=tuning))
    if tune is None:
        return
    check("create_finetune_is_idempotent",
          lambda: expect(md.ft(API_KEY, name="sdk-finetune", rank=16, endpoint=tuning).finetune_id == tune.finetune_id,
                         "the same name and rank gave another finetune_id"))

    def get_plain():
        again = md.ft(API_KEY, finetune_id=tune.finetune_id, endpoint=tuning)
        expect((again.name, again.rank) == ("sdk-finetune", 16), f"got {again.name!r} rank {again.rank}")
        expect("finetune_id" in raw_get(f"{tuning}/finetunes/{tune.finetune_id}"), "the plain answer has no finetune_id")
    check("get_finetune", get_plain)

    if args.wrapped_base:
        wrapped_tuning = args.wrapped_base.rstrip("/") + "/tuning"

        def get_wrapped():
            created = md.ft(API_KEY, name="sdk-wrapped", rank=8, endpoint=wrapped_tuning)
            raw = raw_get(f"{wrapped_tuning}/finetunes/{created.finetune_id}")
            expect("finetune" in raw, f"the answer is not wrapped: {raw}")
            again = md.ft(API_KEY, finetune_id=created.finetune_id, endpoint=wrapped_tuning)
            expect((again.finetune_id, again.name, again.rank) == (created.finetune_id, "sdk-wrapped", 8),
                   f"got {again.finetune_id} {again.name!r} {again.rank}")
        check("get_finetune_wrapped", get_wrapped)

    def list_finetunes():
        # The SDK has no list helper; its own transport lists with the reference's query.
        page = tune._request_json("GET", "/finetunes", query={"limit": 10})
        expect(any(f["finetune_id"] == tune.finetune_id for f in page["finetunes"]), f"not listed: {page}")
        expect("has_more" in page, "no has_more")
    check("list_finetunes", list_finetunes)

    def point_rollouts():
        answer = tune.rollouts("point", image=red, object="the red square", num_rollouts=4, settings=sampling_locate,
                               ground_truth={"points": [{"x": 0.3, "y": 0.6}]})
        expect(len(answer["rollouts"]) == 4 and len(answer["rewards"]) == 4, "not 4 rollouts with rewards")
        rollout = answer["rollouts"][0]
        for field in ("skill", "finish_reason", "output", "answer_tokens", "thinking_tokens", "has_answer_separator", "coords", "sizes"):
            expect(field in rollout, f"the rollout has no {field}")
        expect("points" in rollout["output"], "no points")
        return answer
    point = check("rollouts_point", point_rollouts)

    def detect_rollouts():
        answer = tune.rollouts("detect", image=blue, object="boxes", num_rollouts=4, settings=sampling_locate,
                               ground_truth={"boxes": [{"x_min": 0.1, "y_min": 0.2, "x_max": 0.5, "y_max": 0.6}]})
        expect(len(answer["rewards"]) == 4 and "objects" in answer["rollouts"][0]["output"], "no objects with rewards")
        expect(len(answer["rollouts"][0]["output"]["objects"]) <= 4, "max_objects not honoured")
        return answer
    detect = check("rollouts_detect", detect_rollouts)

    def query_rollouts():
        answer = tune.rollouts("query", image=red, question="What color is the square?", num_rollouts=4,
                               settings=sampling_query, reasoning=True, spatial_refs=[[0.5, 0.5], [0.1, 0.1, 0.4, 0.4]])
        expect(answer.get("rewards") is None, "a query got server rewards")
        expect(answer["request"]["spatial_refs"] == [[0.5, 0.5], [0.1, 0.1, 0.4, 0.4]], "spatial_refs not echoed")
        reasoning = answer["rollouts"][0]["output"]["reasoning"]
        expect(isinstance(reasoning, dict) and "text" in reasoning and "grounding" in reasoning, f"reasoning is {reasoning!r}")
        return answer
    query = check("rollouts_query", query_rollouts)

    def stream():
        requests = [(name, {"skill": "point", "image": red, "object": name, "num_rollouts": 2,
                            "ground_truth": {"points": [{"x": 0.5, "y": 0.5}]}}) for name in ("cup", "mug")]
        seen = {context: response for context, response in tune.rollout_stream(requests, max_concurrency=2, buffer_size=2)}
        expect(set(seen) == {"cup", "mug"} and all(len(r["rollouts"]) == 2 for r in seen.values()), f"got {list(seen)}")
    check("rollout_stream", stream)

    step = 0
    if point and detect and query:
        def rl_step():
            query_rewards = [1.0 if "red" in r["output"]["answer"].lower() else 0.0 for r in query["rollouts"]]
            groups = [{"mode": "rl", "request": a["request"], "rollouts": a["rollouts"], "rewards": rewards}
                      for a, rewards in ((point, point["rewards"]), (detect, detect["rewards"]), (query, query_rewards))]
            answer = tune.train_step(groups, lr=2e-4)
            expect(answer["step"] == 1 and answer["applied"] is True, f"answered {answer}")
            for field in ("kl", "router_kl", "grad_norm", "sft_loss", "reward_mean", "reward_std"):
                expect(field in answer, f"no {field} in {answer}")
            expect(answer["sft_loss"] is None, "sft_loss without SFT groups")
            return answer["step"]
        step = check("train_step_rl", rl_step) or step

    def sft_step():
        groups = [{"mode": "sft", "request": {"skill": "point", "object": "the red square", "image": red},
                   "target": {"points": [{"x": 0.3, "y": 0.6}]}},
                  {"mode": "sft", "request": {"skill": "query", "question": "What color is the square?", "image": red},
                   "target": {"answer": "Red.", "reasoning": {"text": "The square is red.", "grounding": []}}},
                  {"mode": "sft", "request": {"skill": "detect", "object": "boxes", "image": blue},
                   "target": {"boxes": [{"x_min": 0.1, "y_min": 0.2, "x_max": 0.5, "y_max": 0.6}]}}]
        answer = tune.train_step(groups)
        expect(answer["step"] == step + 1 and answer["applied"] is True, f"answered {answer}")
        expect(isinstance(answer["sft_loss"], float), f"sft_loss is {answer['sft_loss']!r}")
        return answer["step"]
    step = check("train_step_sft", sft_step) or step

    def metrics():
        answer = tune.log_metrics(step, {"eval/reward": 0.5, "train_loss": 1.25})
        expect(answer == {"ok": True, "step": step, "logged_count": 2}, f"answered {answer}")
    check("log_metrics", metrics)
    check("log_metrics_reserved_name_refused", lambda: expect_http_error(400, lambda: tune.log_metrics(step, {"sys/loss": 1.0})))

    def save():
        answer = tune.save_checkpoint()
        checkpoint = answer["checkpoint"]
        expect(answer["ok"] is True and checkpoint["step"] == step, f"answered {answer}")
        expect(isinstance(checkpoint.get("expires_at_ms"), int) and checkpoint["expires_at_ms"] > checkpoint["created_at_ms"],
               f"expires_at_ms is {checkpoint.get('expires_at_ms')!r}")
    check("save_checkpoint", save)

    def listed():
        page = tune.list_checkpoints(limit=10)
        steps = [c["step"] for c in page["checkpoints"]]
        expect(steps == [step], f"listed {steps}")
        expect("expires_at_ms" in page["checkpoints"][0] and page["has_more"] is False, f"page {page}")
    check("list_checkpoints", listed)

    # --- inference client (moondream.vl -> CloudVL) -------------------------------------------
    def inference(label, model):
        client = md.vl(api_key=API_KEY, endpoint=base, model=model)

        def ask():
            answer = client.query(red, "What color is the square?")
            expect(isinstance(answer["answer"], str) and answer["answer"], f"answered {answer}")
            reasoned = client.query(red, "What color is the square?", reasoning=True, spatial_refs=[[0.5, 0.5]],
                                    settings={"max_tokens": 64})
            expect(isinstance(reasoned.get("reasoning"), dict), f"reasoning is {reasoned.get('reasoning')!r}")
        check(f"query_{label}", ask)
        check(f"caption_{label}", lambda: expect(isinstance(client.caption(red, length="short")["caption"], str), "no caption"))
        check(f"point_{label}", lambda: expect(isinstance(client.point(red, "the red square")["points"], list), "no points"))
        check(f"detect_{label}", lambda: expect(isinstance(client.detect(blue, "boxes", settings={"max_objects": 2})["objects"], list),
                                                "no objects"))

    inference("base", None)
    inference("finetuned", tune.model(step))

    # --- clean up -------------------------------------------------------------------------------
    def delete_checkpoint():
        tune.delete_checkpoint(step)
        expect(tune.list_checkpoints()["checkpoints"] == [], "the checkpoint is still listed")
    check("delete_checkpoint", delete_checkpoint)

    def delete_finetune():
        tune.delete()
        expect_http_error(404, lambda: md.ft(API_KEY, finetune_id=tune.finetune_id, endpoint=tuning))
    check("delete_finetune", delete_finetune)


if __name__ == "__main__":
    main()
    print(f"{'FAILED' if failures else 'PASSED'}: {len(failures)} failed" + (f" ({', '.join(failures)})" if failures else ""))
    sys.exit(1 if failures else 0)
