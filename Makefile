# Everything a new machine needs, from nothing: `make demo` and `make test`.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat requirements.lock pyproject.toml | cksum | cut -d' ' -f1)
MONTH ?= 2024-06
FAST_BUDGET_SECONDS ?= 60

.PHONY: install browser demo test test-fast lint bench bench-stages bench-province lock clean

$(STAMP): requirements.lock pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check pip==25.3
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements.lock
	$(BIN)/pip install --quiet --disable-pip-version-check --no-deps -e .
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

install: $(STAMP)

# Debian's chromium for the browser tests (tests/integration/test_browser_pages.py) and CJK fonts
# so the Chinese report is legible in their screenshots; apt only when one is missing
browser:
	@dpkg -s chromium fonts-noto-cjk >/dev/null 2>&1 || { \
	  as_root=""; [ "$$(id -u)" -eq 0 ] || as_root="sudo"; \
	  $$as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	  $$as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-noto-cjk >/dev/null; }

demo: install
	$(BIN)/bizenv demo --month $(MONTH)

lint: install
	$(BIN)/ruff check .
	$(BIN)/sqlfluff lint sql

# the whole suite, each test once: the fast part first (so CI holds its time budget), then the rest
test: install browser lint test-fast
	$(BIN)/python -m pytest --ignore=tests/unit --ignore=tests/dags

# Unit and DAG tests: nothing here may need PostgreSQL, Redis or an Airflow process, so a change
# gets its answer within FAST_BUDGET_SECONDS; over the budget it fails, so a slow test moves to
# tests/integration rather than slowing everyone down (tests/fast.py; 0 turns the check off).
test-fast: install
	FAST_BUDGET_SECONDS=$(FAST_BUDGET_SECONDS) $(BIN)/python tests/fast.py

# `bizenv bench`: every stage of a month as its own process on DuckDB and PostgreSQL, beside
# read_csv + to_sql and COPY (docs/performance.md); a few minutes on a 2-core machine (an indicators
# stage still running after 5 minutes is killed and recorded as timed out)
bench: install
	$(BIN)/bizenv bench --entities 100000 --stage-timeout 300 --memory-rows 200000,2000000 --json var/bench/bench-100000.json

# the province-size month on the production topology: 1M entities, the four department ingests
# triggered at once on two Celery workers (PostgreSQL metadata and warehouse, Redis broker; scratch
# databases of its own from BIZENV_TEST_POSTGRES_URL / BIZENV_TEST_REDIS_URL); docs/performance.md
bench-province: install
	$(BIN)/python tests/integration/province_run.py --entities 1000000 --json var/bench/province-1000000.json

# the warm in-process timings of standardize + validate and of the merge (docs/benchmarks.md)
bench-stages: install
	$(BIN)/python -m bizenv.simulator.benchmark

lock:
	rm -rf /tmp/bizenv-lock && $(PYTHON) -m venv /tmp/bizenv-lock
	/tmp/bizenv-lock/bin/pip install --quiet pip==25.3 && /tmp/bizenv-lock/bin/pip install --quiet -e ".[dev]"
	( echo "# Exact versions of every package, resolved from pyproject.toml on Python 3.11 (Airflow"; \
	  echo "# constraint files are not reachable offline). Regenerate: make lock"; \
	  /tmp/bizenv-lock/bin/pip freeze --exclude-editable | grep -v '^bizenv' ) > requirements.lock

clean:
	rm -rf var .pytest_cache .ruff_cache
