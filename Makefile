# Vitals: `make run` starts the dashboard in embedded mode, `make test` runs the whole suite.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# Reinstall whenever pyproject.toml changes.
INSTALLED := $(VENV)/.installed
INSTALLED_TEST := $(VENV)/.installed-test

.PHONY: run test bench lint clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(INSTALLED): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e .
	touch $@

$(INSTALLED_TEST): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e '.[test]'
	touch $@ $(INSTALLED)

run: $(INSTALLED)
	$(PY) app.py

# Two processes (this machine has two cores, and most tests wait on a server or a browser); a file's
# tests stay in one process so its module fixtures (a Celery worker, a seeded store) are made once.
test: $(INSTALLED_TEST)
	$(PY) -m pytest -n 2 --dist loadfile

bench: $(INSTALLED_TEST)
	$(PY) -m benchmarks

lint: $(INSTALLED_TEST)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy app.py storage collectors tasks dashboard tests
	$(VENV)/bin/lint-imports

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
