# moontune — see README.md
SWIFT ?= swift

.PHONY: build debug test run soak clean
debug:
	$(SWIFT) build

build:
	$(SWIFT) build -c release

test:
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build

run: debug
	@echo "make run: not wired yet"

# A long job with faults on; fails if the runner's memory or open files grow.
SOAK_STEPS ?= 3000
soak:
	$(SWIFT) build --build-tests
	MOONTUNE_SOAK_STEPS=$(SOAK_STEPS) $(SWIFT) test --skip-build --filter SoakTests
