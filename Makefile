# Every target sets up what it needs: a fresh clone needs only Python 3.11, git and make (and, for
# `make test`, Node.js 20 with npm: the official npm client's end-to-end test).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Three stamps, each adding to the one before: what the hub needs to run, the client for the demo,
# then the test, lint and benchmark tools (so `make run` installs no test toolchain).
RUNTIME := $(VENV)/.runtime
DEMO_STAMP := $(VENV)/.demo
STAMP := $(VENV)/.installed
# The official Apitally client uses the import name `apitally`, as ours does, so it lives in a
# virtual environment of its own; compatibility tests and benchmarks run it from there.
OFFICIAL := .venv-official
OFFICIAL_STAMP := $(OFFICIAL)/.installed-blacksheep
export TALLYHUB_OFFICIAL_PYTHON := $(abspath $(OFFICIAL))/bin/python
# apitally 1.0 speaks OTLP, not Hub v2: its Flask and FastAPI apps run from a virtual environment of their own.
OFFICIAL_OTLP := .venv-official-otlp
OFFICIAL_OTLP_STAMP := $(OFFICIAL_OTLP)/.installed
export TALLYHUB_OFFICIAL_OTLP_PYTHON := $(abspath $(OFFICIAL_OTLP))/bin/python
# A Flask app with the plain OpenTelemetry SDK and OTLP/HTTP exporters (no Apitally client).
OTEL := .venv-otel
OTEL_STAMP := $(OTEL)/.installed
export TALLYHUB_OTEL_PYTHON := $(abspath $(OTEL))/bin/python
# The official npm client (pinned in package-lock.json) on Express, for the e2e tests; needs node and npm.
NODE_E2E := tests/e2e/node
NODE_STAMP := $(NODE_E2E)/node_modules/.installed
# An Express app with the plain OpenTelemetry SDK for Node (pinned in its package-lock.json), for the OTLP e2e tests.
NODE_OTEL := tests/e2e/node-otel
NODE_OTEL_STAMP := $(NODE_OTEL)/node_modules/.installed

.PHONY: setup e2e-node run test lint format bench demo clean vendor chromium

$(RUNTIME): hub/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check -e "./hub[postgres]"
	touch $@

$(DEMO_STAMP): $(RUNTIME) client/pyproject.toml
	$(BIN)/pip install -q --disable-pip-version-check -e "./client[flask]"
	touch $@

# The ASGI and Django extras are for the client's tests; the demo's Flask API needs only the flask one.
$(STAMP): $(DEMO_STAMP) requirements-dev.txt
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e "./client[flask,fastapi,starlette,django-ninja,django-rest-framework,litestar,blacksheep]" -r requirements-dev.txt
	touch $@

# loguru: the capture e2e test's app logs through it as well (both clients capture its records).
# An existing environment (an older stamp, or one shared by a symlink) gets the new extras added.
$(OFFICIAL_STAMP):
	test -x $(OFFICIAL)/bin/python || $(PYTHON) -m venv $(OFFICIAL)
	$(OFFICIAL)/bin/pip install -q --upgrade pip
	$(OFFICIAL)/bin/pip install -q "apitally[flask,fastapi,starlette,django-ninja,django-rest-framework,litestar,blacksheep]==0.25.1" uvicorn "loguru>=0.7"
	touch $@

# The dashboard's front-end libraries, pinned in hub/frontend/package-lock.json, copied into the
# package's static folder (gitignored; the wheel includes them as hatch artifacts).
VENDOR := hub/src/tallyhub/web/static/vendor
UPLOT := hub/frontend/node_modules/uplot
SWAGGER_UI := hub/frontend/node_modules/swagger-ui-dist
$(VENDOR)/.installed: hub/frontend/package.json hub/frontend/package-lock.json
	cd hub/frontend && npm ci --ignore-scripts --no-audit --no-fund
	mkdir -p $(VENDOR)
	cp $(UPLOT)/dist/uPlot.iife.min.js $(UPLOT)/dist/uPlot.min.css $(VENDOR)/
	cp $(UPLOT)/LICENSE $(VENDOR)/uPlot.LICENSE
	cp $(SWAGGER_UI)/swagger-ui-bundle.js $(SWAGGER_UI)/swagger-ui.css $(VENDOR)/
	cp $(SWAGGER_UI)/LICENSE $(VENDOR)/swagger-ui.LICENSE
	touch $@

vendor: $(VENDOR)/.installed

# Browser tests drive Debian's chromium (Playwright cannot download browsers here).
chromium:
	@test -x /usr/bin/chromium || { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium; }

$(NODE_STAMP): $(NODE_E2E)/package.json $(NODE_E2E)/package-lock.json
	npm ci --prefix $(NODE_E2E) --no-audit --no-fund --loglevel=error
	touch $@

$(OFFICIAL_OTLP_STAMP):
	$(PYTHON) -m venv $(OFFICIAL_OTLP)
	$(OFFICIAL_OTLP)/bin/pip install -q --upgrade pip
	$(OFFICIAL_OTLP)/bin/pip install -q "apitally[flask]==1.0.0" "apitally[fastapi]==1.0.0" uvicorn
	touch $@

$(OTEL_STAMP):
	$(PYTHON) -m venv $(OTEL)
	$(OTEL)/bin/pip install -q --upgrade pip
	$(OTEL)/bin/pip install -q opentelemetry-sdk opentelemetry-instrumentation-flask \
		opentelemetry-exporter-otlp-proto-http flask
	touch $@

setup: $(STAMP) $(OFFICIAL_STAMP) $(OFFICIAL_OTLP_STAMP) $(OTEL_STAMP) vendor chromium

$(NODE_OTEL_STAMP): $(NODE_OTEL)/package.json $(NODE_OTEL)/package-lock.json
	npm ci --prefix $(NODE_OTEL) --no-audit --no-fund --loglevel=error
	touch $@

e2e-node: $(NODE_STAMP) $(NODE_OTEL_STAMP)

run: $(RUNTIME) vendor
	$(BIN)/tallyhub serve

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# Test files run in parallel, one per core (a file's tests share their hubs and browser in one process).
test: setup e2e-node lint
	$(BIN)/pytest -n auto --dist loadfile

# A hub with a demo login, a Flask API instrumented with apitally.flask and traffic; Ctrl-C (or SIGTERM) stops it.
demo: $(DEMO_STAMP) vendor
	$(BIN)/tallyhub demo

bench: setup  ## BENCH=name1,name2 runs only those
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) $(OFFICIAL) $(OFFICIAL_OTLP) $(OTEL) $(NODE_E2E)/node_modules .pytest_cache .mypy_cache .ruff_cache
