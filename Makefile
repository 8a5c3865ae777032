# Switchyard: `make run` serves, `make test` checks. Both create .venv from nothing.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test lint typecheck unit fuzz bench bench-peers eval-router clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# Human-readable logs on a terminal; the default (JSON lines) is for log pipelines.
run: $(STAMP)
	SWITCHYARD_LOGS_FORMAT=$${SWITCHYARD_LOGS_FORMAT:-text} $(BIN)/switchyard serve

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/pytest -q

test: lint typecheck unit

# Schemathesis over every operation of /openapi.json, 200 random cases each
# (make test runs 5 each; see tests/app/openapi/test_fuzz.py).
fuzz: $(STAMP)
	SWITCHYARD_FUZZ_EXAMPLES=200 $(BIN)/pytest tests/app/openapi/test_fuzz.py -q -s

# One table, one run: Switchyard beside in-process LangGraph (tests/bench/suite.py).
bench: $(STAMP)
	$(BIN)/python -m tests.bench

# Routing quality on the labelled set (tests/routers/eval/): accuracy, precision
# per target and tier usage per strategy, over the shipped rules/ plus the eval's
# user targets, without an LLM.
eval-router: $(STAMP)
	$(BIN)/python -m routers.evaluate --rules rules --rules tests/routers/eval/rules \
		--requests tests/routers/eval/requests.yaml

# The peer servers live in their own venv, never in the project's dependencies.
PEERS_VENV  ?= .bench-peers-venv
PEERS_STAMP := $(PEERS_VENV)/.installed

$(PEERS_STAMP):
	$(PYTHON) -m venv $(PEERS_VENV)
	$(PEERS_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(PEERS_VENV)/bin/python -m pip install --quiet 'langgraph-cli[inmem]' langserve fastapi 'uvicorn[standard]' sse-starlette
	touch $(PEERS_STAMP)

bench-peers: $(STAMP) $(PEERS_STAMP)
	$(BIN)/python -m tests.bench --peers --peers-venv $(PEERS_VENV)

clean:
	rm -rf $(VENV) .switchyard .mypy_cache .pytest_cache .ruff_cache
