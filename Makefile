# moontune — see README.md
SWIFT ?= swift

.PHONY: build debug test fuzz run clean
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

run: debug
	@echo "make run: not wired yet"
