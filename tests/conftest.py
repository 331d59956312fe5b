"""Shared pytest set-up: skip tests marked ``spice`` (with a reason) when ngspice is absent;
keep the decks of runs that fail on purpose out of /tmp."""

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


@pytest.fixture(autouse=True)
def _failed_decks_stay_in_the_test_dir(monkeypatch, tmp_path_factory):
    """Decks of runs that fail on purpose are kept in pytest's directory, not in /tmp."""
    import spicecl.spice.runner as runner

    monkeypatch.setattr(runner, "KEEP_DIR", tmp_path_factory.getbasetemp() / "spicecl-failed")
