# The README's two commands: `make demo` and `make test`. Both install first.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp

.PHONY: install test lint demo up worker clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

test: install
	$(PY) -m pytest

lint: install
	$(VENV)/bin/ruff check .

demo: install
	$(VENV)/bin/mops demo

up: install
	$(VENV)/bin/mops up

worker: install
	$(VENV)/bin/mops worker

clean:
	rm -rf $(VENV) .mops .pytest_cache
