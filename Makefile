# The two commands a newcomer needs: `make demo` and `make test`. Both set themselves up.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup demo test feast-test compose-test bench lint clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

# The demo keeps its own home (and model names): it never replaces your champion in ~/.mlbedge.
DEMO_HOME ?= $(or $(MLBEDGE_HOME),$(HOME)/.mlbedge-demo)

demo: setup
	MLBEDGE_HOME="$(DEMO_HOME)" $(BIN)/mlbedge demo

# System packages (chromium, chromium-driver, docker-compose, wrk, PostgreSQL, Redis) are
# installed and the services started by scripts/test_deps.sh when missing. The tests run on one
# worker per core (at most 4); a module's tests stay on one worker, so its fixtures are built once.
# Every test keeps its own databases, Redis key prefix, ports and home, so workers never meet.
TEST_WORKERS ?= auto
test: setup
	bash scripts/test_deps.sh
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/lint-imports
	$(BIN)/pytest -n $(TEST_WORKERS) --maxprocesses 4 --dist loadscope
	bash scripts/feast_env.sh

# The Feast tests alone, in their own virtualenv .venv-feast (built on first use).
feast-test:
	bash scripts/feast_env.sh

# docker/compose.yaml for real on podman: images built from Debian packages, then migrate, load a
# season, features, train, materialize, predict over HTTP, Redis stopped and started, down
# (scripts/compose_test.sh; root, about 10 minutes the first time).
compose-test:
	bash scripts/compose_test.sh

bench: setup
	$(BIN)/python -m benchmarks.run

lint: setup
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/lint-imports
	$(BIN)/ruff format --check src tests benchmarks

clean:
	rm -rf $(VENV) .venv-feast .pytest_cache .ruff_cache
