# Two commands matter (README): `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
RUN_DIR ?= .run
PYTEST_ARGS ?=

.PHONY: install run test unit functional lint bench genconfig clean tempest

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

run: install
	RUN_DIR=$(RUN_DIR) VENV=$(VENV) bash tools/run.sh

test: install
	bash tools/ensure-services.sh
	$(BIN)/ruff check glance_api glance_registry glance_db glance_server stores migrations tests benchmarks
	$(BIN)/lint-imports
	$(BIN)/python -m pytest -n 2 $(PYTEST_ARGS) tests

unit: install
	$(BIN)/python -m pytest tests/unit $(PYTEST_ARGS)

functional: install
	bash tools/ensure-services.sh
	$(BIN)/python -m pytest tests/functional $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check glance_api glance_registry glance_db glance_server stores migrations tests benchmarks
	$(BIN)/lint-imports

# tempest's image API tests against this service with a real Keystone (README "Running tempest").
tempest: install
	VENV=$(VENV) RUN_DIR=$(RUN_DIR) bash tools/tempest.sh

# The real Keystone the keystone-mode tests and tempest share (README "Keystone mode").
.PHONY: keystone-start keystone-stop
keystone-start:
	bash tools/keystone.sh start

keystone-stop:
	bash tools/keystone.sh stop

# Horizon against that Keystone, one per upload mode (README "Horizon"); MODE=legacy|direct.
.PHONY: horizon-start horizon-stop
MODE ?= legacy
horizon-start:
	bash tools/horizon.sh start $(MODE)

horizon-stop:
	bash tools/horizon.sh stop $(MODE)

# Glance scaled out on loopback: HAProxy, 2 api + 2 registry nodes, Galera, Ceph RBD,
# memcached, RabbitMQ, Keystone (README "Scale-out cluster", docs/scale-out.md).
.PHONY: cluster cluster-stop
cluster: install
	VENV=$(VENV) bash tools/cluster.sh start

cluster-stop:
	VENV=$(VENV) bash tools/cluster.sh stop

$(VENV)/.bench-installed: $(STAMP)
	$(BIN)/pip install -q -e '.[bench]'
	touch $@

# BENCH_ARGS: see benchmarks/README.md (e.g. --reference URL --keystone --scale).
bench: install $(VENV)/.bench-installed
	$(BIN)/python benchmarks/bench.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) $(RUN_DIR) .pytest_cache

genconfig: install
	bash tools/genconfig.sh
