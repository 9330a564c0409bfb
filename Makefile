# moontune — see README.md
SWIFT ?= swift

.PHONY: build debug test run soak fuzz clean
debug:
	$(SWIFT) build

build:
	$(SWIFT) build -c release

test:
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build

# The decoder fuzz suite alone, with many more iterations than `make test` runs
# (MOONTUNE_FUZZ_ITERATIONS per decoder; MOONTUNE_FUZZ_SEED replays a run).
FUZZ_ITERATIONS ?= 100000
fuzz:
	$(SWIFT) build --build-tests
	MOONTUNE_FUZZ_ITERATIONS=$(FUZZ_ITERATIONS) $(SWIFT) test --skip-build --filter DecoderFuzzTests

# The demo: a real job against the local simulator, with live progress, status and an HTML report.
run: debug
	@scripts/demo.sh

# The long tests, kept out of `make test`: a long job with faults on (fails if the runner's memory
# or open files grow), fifty kills of one job, fifty steps under mixed faults, and a one-minute outage.
SOAK_STEPS ?= 3000
soak:
	$(SWIFT) build --build-tests
	MOONTUNE_SOAK=1 MOONTUNE_SOAK_STEPS=$(SOAK_STEPS) $(SWIFT) test --skip-build --filter "SoakTests|killedFiftyTimes|aFiftyStepJobUnderMixedFaults"
	MOONTUNE_OUTAGE_SECONDS=60 $(SWIFT) test --skip-build --filter anOutageIsWaitedOutWithCappedBackoff

# The benchmark: the release build against `moontune simulate` with set latencies. Prints the
# table and writes it to bench/results.md and docs/performance.md (BENCH_ARGS=--quick for a smoke run).
BENCH_ARGS ?=
.PHONY: bench
bench: build
	python3 bench/bench.py $(BENCH_ARGS)
