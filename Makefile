# Everything a new machine needs, from nothing: `make demo` and `make test`.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat requirements.lock pyproject.toml | cksum | cut -d' ' -f1)
MONTH ?= 2024-06

.PHONY: install demo test lint bench lock clean

$(STAMP): requirements.lock pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check pip==25.3
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements.lock
	$(BIN)/pip install --quiet --disable-pip-version-check --no-deps -e .
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

install: $(STAMP)

demo: install
	$(BIN)/bizenv demo --month $(MONTH)

lint: install
	$(BIN)/ruff check .

test: install lint
	$(BIN)/python -m pytest

bench: install
	$(BIN)/python -m bizenv.benchmark

lock:
	rm -rf /tmp/bizenv-lock && $(PYTHON) -m venv /tmp/bizenv-lock
	/tmp/bizenv-lock/bin/pip install --quiet pip==25.3 && /tmp/bizenv-lock/bin/pip install --quiet -e ".[dev]"
	( echo "# Exact versions of every package, resolved from pyproject.toml on Python 3.11 (Airflow"; \
	  echo "# constraint files are not reachable offline). Regenerate: make lock"; \
	  /tmp/bizenv-lock/bin/pip freeze --exclude-editable | grep -v '^bizenv' ) > requirements.lock

clean:
	rm -rf var .pytest_cache .ruff_cache
