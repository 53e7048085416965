# One-command entry points; every target sets up .venv first if needed.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
DEMO_STORE ?= ./demo-store
PORT ?= 5000
# the name also says how tracklog is installed, so a change of method reinstalls once
STAMP := $(VENV)/.installed-pth-$(shell cat requirements-dev.lock pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: setup setup-slow demo ui test test-slow lint bench bench-quick clean

setup: $(STAMP) ui/dist/index.html

# the web UI: npm ci when the lock changes, a Vite build when a source changes (no npm: say so, go on)
UI_SOURCES := $(shell find ui/src -type f 2>/dev/null) ui/index.html ui/vite.config.ts ui/tsconfig.json
ui/node_modules/.package-lock.json: ui/package-lock.json
	@if command -v npm >/dev/null; then cd ui && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --silent; \
	else echo "npm not found: the web UI is not built (install Node.js 20+, then make setup)"; fi

ui/dist/index.html: ui/node_modules/.package-lock.json $(UI_SOURCES)
	@if command -v npm >/dev/null; then cd ui && npm run --silent build -- --logLevel warn; fi

# quiet on success: pip's -q, and setuptools' warnings about editable installs silenced. Besides the
# editable install (the `tracklog` script, its metadata), a .pth puts the checkout on sys.path: the path
# finder then finds the tracklog package itself, so a folder named tracklog/ where a script runs (an old
# default store) cannot shadow it as a namespace package, as it can with setuptools' finder alone.
$(STAMP): requirements-dev.lock pyproject.toml
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	@$(BIN)/python -m pip install -q --upgrade pip
	@$(BIN)/python -m pip install -q -r requirements-dev.lock
	@PYTHONWARNINGS=ignore $(BIN)/python -m pip install -q --no-deps -e .
	@$(BIN)/python -c "import os, site; open(os.path.join(site.getsitepackages()[0], 'tracklog-checkout.pth'), 'w').write(os.getcwd() + '\n')"
	@rm -f $(VENV)/.installed-* && touch $@

demo: setup  ## train toy models into ./demo-store and list the runs (again: trains none twice)
	@$(BIN)/tracklog demo --store $(DEMO_STORE)

# Ctrl-C reaches make and the server alike; the shell's trap ends the recipe with status 0 so make
# does not report the stop as an error (make then exits as interrupted, without a "make: ***" line)
ui: demo  ## the demo runs in the web UI at http://127.0.0.1:5000/ (Ctrl-C stops it; PORT=… for another port)
	@trap 'exit 0' INT; $(BIN)/tracklog ui --store $(DEMO_STORE) --no-browser --port $(PORT)

test: setup  ## the default suite (slow suites excluded); pytest's exit 5 (no tests) counts as success
	$(BIN)/python -m pytest -q; rc=$$?; if [ $$rc -eq 5 ]; then echo "no tests collected"; exit 0; fi; exit $$rc

# the slow suite's frameworks (torch, Lightning, Transformers, Keras): never part of `setup`
SLOW_STAMP := $(VENV)/.slow-installed-$(shell cat requirements-slow.lock | cksum | cut -d' ' -f1)
setup-slow: setup $(SLOW_STAMP)
$(SLOW_STAMP): requirements-slow.lock
	@$(BIN)/python -m pip install -q -r requirements-slow.lock
	@rm -f $(VENV)/.slow-installed-* && touch $@

test-slow: setup-slow  ## the slow suites only (installs the slow frameworks first: make setup-slow)
	KERAS_BACKEND=torch $(BIN)/python -m pytest -q -m slow

lint: setup
	$(BIN)/ruff check .
	$(BIN)/mypy

bench: setup  ## tracklog vs MLflow, same workloads, same run
	$(BIN)/python -m benchmarks.run

bench-quick: setup
	$(BIN)/python -m benchmarks.run --quick

clean:
	rm -rf $(VENV) demo-store bench-results
