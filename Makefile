# spicecl: set-up, demo and tests. `make setup` is idempotent.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
STAMP := $(VENV)/.spicecl-installed
APT_PACKAGES := ngspice libngspice0-dev

.PHONY: setup demo test clean ngspice

setup: ngspice $(STAMP)

ngspice:
	@if command -v ngspice >/dev/null 2>&1 && { ls /usr/lib/*/libngspice.so || ls /usr/lib/libngspice.so; } >/dev/null 2>&1; then \
	  true; \
	elif [ "$$(id -u)" = "0" ]; then \
	  echo "make setup: installing $(APT_PACKAGES) with apt-get"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(APT_PACKAGES) >/dev/null; \
	else \
	  echo "make setup: ngspice is missing. Install it with:"; \
	  echo "  sudo apt-get update && sudo apt-get install -y $(APT_PACKAGES)"; \
	  exit 1; \
	fi

# setuptools' "Editable installation ... folders in your working directory with the same name as
# your package" notice is information only: its editable installs of a package at the top of its
# repository (no src/) give it, with or without models/ mapped into the package.
$(STAMP): pyproject.toml
	@test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install -q --upgrade pip
	$(VENV)/bin/python -m pip install -q -e '.[test]'
	@touch $(STAMP)

demo: setup
	$(VENV)/bin/spicecl demo --out results/demo

test: setup
	$(VENV)/bin/python -m pytest -q

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
