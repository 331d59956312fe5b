"""Shared pytest set-up: skip tests marked ``spice`` (with a reason) when ngspice is absent."""

from __future__ import annotations

import shutil

import pytest


def pytest_collection_modifyitems(config, items):
    if shutil.which("ngspice") is not None:
        return
    skip = pytest.mark.skip(reason="ngspice is not installed (sudo apt-get install -y ngspice)")
    for item in items:
        if "spice" in item.keywords:
            item.add_marker(skip)


#: Skip marker for tests that start ngspice (use together with ``pytest.mark.spice``).
requires_ngspice = pytest.mark.skipif(shutil.which("ngspice") is None,
                                      reason="ngspice is not installed (sudo apt-get install -y "
                                             "ngspice libngspice0-dev)")
