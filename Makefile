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

run: debug
	@echo "make run: not wired yet"
