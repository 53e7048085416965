# One-command entry points; every target sets up .venv first if needed.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat requirements-dev.lock pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: setup demo ui test test-slow lint bench bench-quick clean

setup: $(STAMP) ui/dist/index.html

# the web UI: npm ci when the lock changes, a Vite build when a source changes (no npm: say so, go on)
UI_SOURCES := $(shell find ui/src -type f 2>/dev/null) ui/index.html ui/vite.config.ts ui/tsconfig.json
ui/node_modules/.package-lock.json: ui/package-lock.json
	@if command -v npm >/dev/null; then cd ui && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error; \
	else echo "npm not found: the web UI is not built (install Node.js 20+, then make setup)"; fi

ui/dist/index.html: ui/node_modules/.package-lock.json $(UI_SOURCES)
	@if command -v npm >/dev/null; then cd ui && npm run --silent build; fi

$(STAMP): requirements-dev.lock pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -r requirements-dev.lock
	$(BIN)/python -m pip install -q --no-deps -e .
	rm -f $(VENV)/.installed-* && touch $@

demo: setup  ## train toy models into ./demo-store and list the runs
	$(BIN)/tracklog demo --store ./demo-store

ui: demo  ## the demo runs in the web UI at http://127.0.0.1:5000/ (Ctrl-C stops it)
	$(BIN)/tracklog ui --store ./demo-store --no-browser

test: setup  ## the default suite (slow suites excluded); pytest's exit 5 (no tests) counts as success
	$(BIN)/python -m pytest -q; rc=$$?; if [ $$rc -eq 5 ]; then echo "no tests collected"; exit 0; fi; exit $$rc

test-slow: setup  ## the slow suites only
	$(BIN)/python -m pytest -q -m slow

lint: setup
	$(BIN)/ruff check .
	$(BIN)/mypy

bench: setup  ## tracklog vs MLflow, same workloads, same run
	$(BIN)/python -m benchmarks.run

bench-quick: setup
	$(BIN)/python -m benchmarks.run --quick

clean:
	rm -rf $(VENV) demo-store bench-results
