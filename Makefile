# moontune — see README.md
SWIFT ?= swift

.PHONY: build debug test run clean
debug:
	$(SWIFT) build

build:
	$(SWIFT) build -c release

test:
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build

# The demo: a real job against the local simulator, with live progress, status and an HTML report.
run: debug
	@scripts/demo.sh
