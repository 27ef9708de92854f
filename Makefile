# Two commands matter: `make run` (set up, then start Stoker) and `make test` (set up, then run every test).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.stamp-install
HOST   ?= 127.0.0.1
PORT   ?= 8000
DATA   ?= data

.PHONY: setup run test test-fast check bench java listener containers ui-assets browser oidc-provider airflow clean

setup: java $(STAMP) listener containers ui-assets browser oidc-provider airflow

java:
	@bash scripts/check_java.sh

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	@touch $@

listener: $(STAMP)
	@bash scripts/build_listener.sh $(BIN)/python

# Podman, runc, busybox-static, docker-registry (apt-get, as root) and the built-in image.
containers: $(STAMP)
	@bash scripts/setup_containers.sh $(BIN)/python

# The web UI's libraries (npm, pinned) and the browser its tests drive (Debian's Chromium).
ui-assets:
	@bash scripts/ui_assets.sh

browser:
	@bash scripts/ui_browser.sh

# The OpenID Connect provider the sign-in tests start (npm, pinned by tests/oidc/package-lock.json).
oidc-provider:
	@bash scripts/oidc_provider.sh

# The Airflow provider's tests: Apache Airflow in its own virtualenv (.venv-airflow), with the provider
# and Stoker's client (without the server's dependencies). A few minutes the first time; then a stamp.
airflow:
	@bash scripts/airflow_venv.sh $(PYTHON)

run: setup
	$(BIN)/stoker serve --host $(HOST) --port $(PORT) --data-dir $(DATA)

# Lint (ruff, rules in pyproject.toml) and types (mypy --strict on src/): run first by `make test`.
# Needs only the Python environment (no Java, listener, Podman or browser): seconds on a fresh clone
# once the venv exists.
check: $(STAMP)
	$(BIN)/ruff check src tests bench providers
	$(BIN)/mypy

test: setup check
	$(BIN)/python -m pytest

test-fast: setup
	$(BIN)/python -m pytest -m "not e2e and not spark"

bench: setup
	$(BIN)/python bench/bench_pipeline.py
	$(BIN)/python bench/bench_noop.py
	$(BIN)/python bench/bench_containers.py

clean:
	rm -rf $(VENV) .venv-airflow build *.egg-info src/*.egg-info
