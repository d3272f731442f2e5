# Two commands do everything on a fresh clone (Python 3.11 is the only assumption):
#   make demo   - set up .venv, then run the main job against the embedded sandbox into data/jd.duckdb
#   make test   - set up .venv, then lint and run the whole test suite
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup demo test bench dev clean

$(STAMP): pyproject.toml requirements.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# requirements.lock pins every package (runtime and dev) to the set these machines were checked with.
	$(BIN)/python -m pip install --quiet -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $(STAMP)

setup: $(STAMP)

demo: setup
	$(BIN)/python -m jd_assets.demo

test: setup
	$(BIN)/ruff check .
	$(BIN)/python -m pytest

dev: setup
	DAGSTER_HOME=$(CURDIR)/data/dagster_home $(BIN)/dagster dev -w workspace.yaml

clean:
	rm -rf data/jd.duckdb data/jd.duckdb.wal data/jd.duckdb.lock data/dagster_home
