#!/usr/bin/env bash
# `make run`: a real moontune job from start to finish, against the local simulator of the
# Moondream tuning API. Leaves its files in ./demo/ (or $DEMO_DIR) and nothing running.
#
# Knobs (for tests and the curious): MOONTUNE_BIN (default .build/debug/moontune), DEMO_DIR,
# DEMO_STEPS (default 50), DEMO_IMAGES (6), DEMO_GROUPS (8), DEMO_ROLLOUTS (8).
set -euo pipefail
cd "$(dirname "$0")/.."

bin=${MOONTUNE_BIN:-.build/debug/moontune}
dir=${DEMO_DIR:-demo}
steps=${DEMO_STEPS:-50}
images=${DEMO_IMAGES:-6}
groups=${DEMO_GROUPS:-8}
rollouts=${DEMO_ROLLOUTS:-8}
name=shapes-demo
db="$dir/moontune.sqlite"

if [ ! -x "$bin" ]; then
  echo "make run: $bin is missing; build it first (swift build)" >&2
  exit 1
fi

sim_pid=
stop_simulator() {
  if [ -n "$sim_pid" ] && kill -0 "$sim_pid" 2>/dev/null; then
    kill -TERM "$sim_pid" 2>/dev/null || true
    wait "$sim_pid" 2>/dev/null || true
  fi
  sim_pid=
}
trap stop_simulator EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# A scratch folder: every demo starts afresh with a new simulator, so old state would not match it.
rm -rf "$dir"
mkdir -p "$dir"

echo "==> Starting the simulator of the Moondream tuning API on a free port"
# Latency like a real service's, so the progress can be watched.
"$bin" simulate --port 0 --rollout-latency-ms 120 --train-latency-ms 80 >"$dir/simulator.log" 2>&1 &
sim_pid=$!
echo "$sim_pid" >"$dir/simulator.pid"
base_url=
for _ in $(seq 1 200); do
  base_url=$(sed -n 's/.*listening on \(http:[^ ]*\).*/\1/p' "$dir/simulator.log" | head -n 1)
  [ -n "$base_url" ] && break
  if ! kill -0 "$sim_pid" 2>/dev/null; then
    cat "$dir/simulator.log" >&2
    echo "make run: the simulator did not start" >&2
    exit 1
  fi
  sleep 0.1
done
if [ -z "$base_url" ]; then
  echo "make run: the simulator did not say where it listens (see $dir/simulator.log)" >&2
  exit 1
fi
echo "    $base_url (pid $sim_pid)"

echo
echo "==> Writing the sample dataset and the job config to $dir/"
# Images of shapes that moontune draws itself, with exact ground truth. The simulator learns per
# image (it cannot see pixels), so the eval set is the training set: see README.md.
"$bin" sample-data "$dir" --name "$name" --base-url "$base_url" --steps "$steps" --images "$images" --eval-images 0 \
  --groups-per-step "$groups" --rollouts-per-group "$rollouts" --every 10 --eval-on-train

echo
echo "==> moontune run $dir/config.json --db $db"
# The simulator accepts any non-empty key: this placeholder is all it needs. No real key is used.
MOONDREAM_API_KEY=local-simulator-placeholder "$bin" run "$dir/config.json" --db "$db"

echo
echo "==> moontune status $name --db $db"
"$bin" status "$name" --db "$db"

echo
"$bin" report "$name" --db "$db" --out "$dir/report.html" >/dev/null
"$bin" export "$name" --db "$db" --format csv --out "$dir/metrics.csv" >/dev/null
stop_simulator
echo "==> Done. The simulator is stopped; nothing is left running."
echo "    HTML report:  $dir/report.html"
echo "    metrics CSV:  $dir/metrics.csv"
echo "    state:        $db   (try: $bin status --db $db)"
