# sumflow: the two commands of the contract (`make run`, `make test`) and a few helpers.
# Both create .venv and install what they need on a fresh machine.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

export PATH := $(abspath $(BIN)):$(PATH)

.PHONY: install run test lint format bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test]'
	@touch $@

install: $(STAMP)

## run: Redis (embedded if none answers at REDIS_URL), worker, beat and API on 127.0.0.1:$PORT,
## and Flower on 127.0.0.1:$FLOWER_PORT (5555) when it is installed (pip install -e '.[monitor]').
run: install
	@mkdir -p var
	@# Settings from the environment, then from .env for what it leaves unset (as docker
	@# compose and python-dotenv do). honcho gets them merged, not the file, which it would
	@# let override the environment. Flower is optional, and left out where it cannot listen:
	@# on a port in use it died, and honcho stopped the rest with it.
	@if [ -f .env ]; then saved=$$(export -p); set -a; . ./.env; set +a; eval "$$saved"; fi; \
	answer=0; $(BIN)/python -m config.redis_server ping || answer=$$?; \
	if [ $$answer = 0 ]; then \
		echo "sumflow: using the Redis at REDIS_URL"; procs="web worker beat"; \
	elif [ $$answer = 1 ]; then \
		echo "sumflow: no Redis answers; starting an embedded one (data in var/redis)"; \
		procs="web worker beat redis"; \
	else \
		exit $$answer; \
	fi; \
	if $(BIN)/python -c 'import flower' 2>/dev/null && \
		$(BIN)/python -m config.ports --for Flower FLOWER_PORT 5555; then \
		echo "sumflow: Flower on http://127.0.0.1:$${FLOWER_PORT:-5555}"; procs="$$procs flower"; \
	fi; \
	exec $(BIN)/honcho start --env /dev/null $$procs

## test: the whole suite; it starts its own Redis, workers and beat. Test files are shared out
## between TEST_PROCESSES processes (pytest-xdist), each with a Redis and workers of its own;
## most tests wait on workers rather than compute, so two halve the time on 2 cores. 0: one process.
TEST_PROCESSES ?= 2

test: install
	$(BIN)/python -m pytest -n $(TEST_PROCESSES) --dist loadfile $(PYTEST_ARGS)

## bench: API vs plain Celery on the same workers (own Redis, worker, API); ~2-5 min on 2 cores.
bench: install
	$(BIN)/python -m tests.bench $(BENCH_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache .mypy_cache *.egg-info
