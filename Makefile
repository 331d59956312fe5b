# spicecl: set-up, demo and tests. `make setup` is idempotent.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
STAMP := $(VENV)/.spicecl-installed
NGSPICE_PACKAGES := ngspice libngspice0-dev
VENV_PACKAGES := python3-venv

.PHONY: setup demo test clean system-packages

setup: system-packages $(STAMP)

# The Debian packages setup needs and does not find: ngspice (its binary and shared library),
# and python3-venv while .venv has no working pip (Debian's python3 has no ensurepip without
# it, and python3 -m venv stops half-way). As root they are installed with apt-get; otherwise
# setup prints the command that installs them and stops.
system-packages:
	@missing=; \
	if ! command -v ngspice >/dev/null 2>&1 || ! { ls /usr/lib/*/libngspice.so || ls /usr/lib/libngspice.so; } >/dev/null 2>&1; then \
	  missing="$(NGSPICE_PACKAGES)"; \
	fi; \
	if ! $(VENV)/bin/python -c 'import pip' >/dev/null 2>&1 && ! $(PYTHON) -c 'import ensurepip' >/dev/null 2>&1; then \
	  missing="$${missing:+$$missing }$(VENV_PACKAGES)"; \
	fi; \
	if [ -z "$$missing" ]; then \
	  true; \
	elif [ "$$(id -u)" = "0" ]; then \
	  echo "make setup: installing $$missing with apt-get"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	else \
	  echo "make setup: missing Debian packages. Install them with:"; \
	  echo "  sudo apt-get update && sudo apt-get install -y $$missing"; \
	  exit 1; \
	fi

# A .venv without a working pip is made again from scratch: python3 -m venv without Debian's
# python3-venv stops half-way, leaving bin/python and no pip.
#
# setuptools' "Editable installation ... folders in your working directory with the same name as
# your package" notice is information only: its editable installs of a package at the top of its
# repository (no src/) give it, with or without models/ mapped into the package.
$(STAMP): pyproject.toml | system-packages
	@$(VENV)/bin/python -c 'import pip' >/dev/null 2>&1 || { rm -rf $(VENV) && $(PYTHON) -m venv $(VENV); }
	$(VENV)/bin/python -m pip install -q --upgrade pip
	$(VENV)/bin/python -m pip install -q -e '.[test]'
	@touch $(STAMP)

demo: setup
	$(VENV)/bin/spicecl demo --out results/demo

test: setup
	$(VENV)/bin/python -m pytest -q

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
