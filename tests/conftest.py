"""Shared pytest set-up: skip tests marked ``spice`` (with a reason) when ngspice is absent;
keep the decks of runs that fail on purpose out of /tmp; tell whether this process computes
with the numerics of a committed result (:func:`other_numerics`)."""

from __future__ import annotations

import contextlib
import shutil

import numpy as np
import pytest


def pytest_collection_modifyitems(config, items):
    if shutil.which("ngspice") is not None:
        return
    skip = pytest.mark.skip(reason="ngspice is not installed (sudo apt-get install -y ngspice "
                                   "libngspice0-dev)")
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


@pytest.fixture(autouse=True)
def _dask_scratch_stays_in_the_test_dir(request, monkeypatch, tmp_path_factory):
    """Dask's schedulers and workers of ``dask`` tests, in this process (LocalCluster) and in
    the processes a test starts (``dask scheduler``, ``dask worker``), keep their scratch
    space in pytest's directory: in /tmp they left dask-scratch-space/ (two lock files)."""
    if request.node.get_closest_marker("dask") is None:
        yield
        return
    try:
        import dask
    except ImportError:  # (the test skips itself)
        yield
        return
    scratch = str(tmp_path_factory.getbasetemp() / "dask-scratch")
    monkeypatch.setenv("DASK_TEMPORARY_DIRECTORY", scratch)  # (read by a new process's dask)
    with dask.config.set({"temporary-directory": scratch}):
        yield


#: The committed-results tests' tolerances where :func:`other_numerics` says the numerics
#: differ, each from the largest change measured with OpenBLAS's Sandybridge, Nehalem and
#: Prescott kernels instead of the committed runs' Haswell ones (README, "Reproducibility
#: across machines"); with the same numerics those tests compare bit for bit.
OTHER_NUMERICS_TOL = {
    # compare's discrete and hardware means: <= 2e-14; 1.3e-5 where a tap decision tied at
    # sigma_max = 0 and flipped with the last bit
    "discrete_rel": 1e-3,
    # compare's idealized (continuous rule) means, in their s.e.m.: chaotic, up to 0.53 s.e.m.
    # (29 %); 2 s.e.m. is the findings' "not significantly different"
    "idealized_sem": 2.0,
    # a number printed with 10 digits (fig4c's final_errors.csv; the values moved by <= 1.8e-14):
    # one unit of the last digit
    "printed_rel": 1e-9,
    # the oscillator summary's floats (Pearson r's, BLAS products): <= 5.1e-15
    "summary_abs": 1e-12,
}


#: The BLAS of the committed results whose manifests predate ``versions.blas``: numpy's and
#: scipy's OpenBLAS with the Haswell kernels they pick on the AMD EPYC (Zen 3) they ran on.
COMMITTED_BLAS = "openblas 0.3.30 Haswell, openblas 0.3.31.188.0 Haswell"


def other_numerics(manifest: dict) -> str | None:
    """None when this process computes as the run of ``manifest`` did (numpy, scipy, the BLAS
    libraries and the kernels they picked for the CPU); else what differs, for a message. Only
    then are its numbers promised bit for bit: another CPU or build rounds in the last bit
    (README, "Reproducibility across machines")."""
    import scipy

    from spicecl.results import blas_libraries

    recorded = manifest["versions"]
    here = {"numpy": np.__version__, "scipy": scipy.__version__, "blas": blas_libraries()}
    for key, value in here.items():
        then = recorded.get(key, COMMITTED_BLAS if key == "blas" else None)
        if then != value:
            return f"{key} {value} here, {then} in the committed run"
    return None


def replace_zip_entry(npz, entry: str, data: bytes) -> None:
    """Rewrite the zip ``npz`` with member ``entry``'s bytes replaced (its CRC made anew)."""
    import io
    import zipfile

    src = zipfile.ZipFile(io.BytesIO(npz.read_bytes()))
    with zipfile.ZipFile(npz, "w") as z:
        for info in src.infolist():
            z.writestr(info.filename, data if info.filename == entry else src.read(info))


@contextlib.contextmanager
def directory_held_by_another_process(path, seconds: float = 60.0):
    """Another process holding an exclusive flock on directory ``path`` (as a running spicecl
    does) for the block, or for ``seconds`` if that ends first."""
    import subprocess
    import sys

    other = subprocess.Popen(
        [sys.executable, "-c", "import fcntl, os, sys, time; fd = os.open(sys.argv[1], "
         "os.O_RDONLY); fcntl.flock(fd, fcntl.LOCK_EX); print('locked', flush=True); "
         "time.sleep(float(sys.argv[2]))", str(path), str(seconds)],
        stdout=subprocess.PIPE, text=True)
    try:
        assert other.stdout.readline() == "locked\n"
        yield other
    finally:
        other.kill()
        other.wait()
        other.stdout.close()
