"""An installed spicecl (a wheel, not the checkout) carries what it reads at run time: the SPICE
model libraries ship inside the package as spicecl/models/ (pyproject.toml maps the
repository's models/ there) and are found there from any working directory; its results name
no git commit that is not spicecl's own."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

import spicecl
from spicecl.netlist import default_models_dir
from spicecl.netlist.twin import MODEL_FILES

PACKAGE = Path(spicecl.__file__).resolve().parent
REPO = PACKAGE.parent
#: What a build reads: the rest of the checkout (tests/, results/, netlists/) stays out.
SOURCES = ("pyproject.toml", "README.md", "LICENSE", "spicecl", "models")

needs_checkout = pytest.mark.skipif(not (REPO / "pyproject.toml").is_file(),
                                    reason="spicecl is not run from a source checkout")


def _subpackages() -> set[str]:
    return {".".join(p.parent.relative_to(REPO).parts) for p in PACKAGE.rglob("__init__.py")
            if "__pycache__" not in p.parts}


def _run_installed(site: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess:
    """``python -m spicecl ARGS`` with only ``site`` holding spicecl, run from ``cwd``."""
    env = {**os.environ, "PYTHONPATH": str(site)}
    return subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=120)


@needs_checkout
def test_pyproject_lists_every_package_and_ships_the_models():
    tomllib = pytest.importorskip("tomllib")  # (Python >= 3.11)
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    # (manifests record spicecl.__version__; the wheel is named after the pyproject's)
    assert pyproject["project"]["version"] == spicecl.__version__
    tool = pyproject["tool"]["setuptools"]
    # packages are listed by hand (a mapped package is not found by packages.find): a new
    # subpackage missing from the list would be left out of the wheel
    assert set(tool["packages"]) == _subpackages() | {"spicecl.models"}
    assert tool["package-dir"] == {"spicecl.models": "models"}
    globs = tool["package-data"]["spicecl.models"]
    needed = set(MODEL_FILES) | {"oscillator.lib"}
    assert needed <= {p.name for g in globs for p in (REPO / "models").glob(g)}
    # the license the metadata names ships with the wheel and the sdist
    assert pyproject["project"]["license"] == "MIT"
    assert pyproject["project"]["license-files"] == ["LICENSE"]
    text = (REPO / "LICENSE").read_text()
    assert text.startswith("MIT License\n") and "Copyright (c) 2026 the spicecl developers" in text


def test_an_installed_package_finds_its_own_models(tmp_path):
    """The installed layout (site/spicecl/models/*.lib, no models/ beside the package), run
    from another directory: the decks include the package's models."""
    site = tmp_path / "site"
    shutil.copytree(PACKAGE, site / "spicecl",
                    ignore=shutil.ignore_patterns("__pycache__", "models"))
    shutil.copytree(default_models_dir(), site / "spicecl" / "models")
    cwd = tmp_path / "elsewhere"
    cwd.mkdir()
    code = ("import spicecl\nfrom spicecl.netlist import default_models_dir\n"
            "from spicecl.oscbank import design\n"
            "print(spicecl.__file__); print(default_models_dir()); print(design.OSCILLATOR_LIB)")
    out = _run_installed(site, cwd, "-c", code)
    assert out.returncode == 0, out.stderr[-2000:]
    where, models, osc = out.stdout.splitlines()
    assert Path(where) == site / "spicecl" / "__init__.py"
    assert Path(models) == site / "spicecl" / "models"
    assert Path(osc) == site / "spicecl" / "models" / "oscillator.lib"


def test_the_installed_layout_and_the_checkout_have_one_source_hash(tmp_path):
    """Manifests name the code by spicecl.results.source_hash: an installed copy (the models
    inside the package) and a checkout (models/ beside it) of the same files give the same
    hash, this process's."""
    from spicecl.results import source_hash

    site, checkout = tmp_path / "site", tmp_path / "checkout"
    ignore = shutil.ignore_patterns("__pycache__", "models")
    shutil.copytree(PACKAGE, site / "spicecl", ignore=ignore)
    shutil.copytree(default_models_dir(), site / "spicecl" / "models")
    shutil.copytree(PACKAGE, checkout / "spicecl", ignore=ignore)
    shutil.copytree(default_models_dir(), checkout / "models")
    for where in (site, checkout):
        out = _run_installed(where, tmp_path, "-m", "spicecl", "--version")
        assert out.returncode == 0, out.stderr[-2000:]
        assert out.stdout == f"spicecl {spicecl.__version__} (source {source_hash()})\n"


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """The wheel built from a copy of the sources (a build writes build/ and *.egg-info
    beside them: never into the checkout)."""
    if not (REPO / "pyproject.toml").is_file():
        pytest.skip("spicecl is not run from a source checkout")
    src = tmp_path_factory.mktemp("src")
    for name in SOURCES:
        p = REPO / name
        if p.is_dir():
            shutil.copytree(p, src / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(p, src / name)
    dist = tmp_path_factory.mktemp("dist")
    out = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w",
                          str(dist), str(src)], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    (whl,) = dist.glob("spicecl-*.whl")
    return whl


@pytest.mark.slow
def test_the_wheel_holds_the_package_and_its_models_only(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    code = {n for n in names if not n.startswith("spicecl-")}  # (minus the .dist-info)
    sources = {p.relative_to(REPO).as_posix() for p in PACKAGE.rglob("*.py")
               if "__pycache__" not in p.parts}
    assert sources <= code
    libs = {f"spicecl/models/{f}" for f in set(MODEL_FILES) | {"oscillator.lib"}}
    assert libs <= code
    assert all(n.startswith("spicecl/") for n in code)  # no tests/, results/, netlists/
    assert code - sources == {f"spicecl/models/{p.name}" for p in (REPO / "models").iterdir()
                              if p.suffix == ".lib" or p.name == "README.md"}
    (license,) = [n for n in names if n.endswith("/LICENSE")]
    assert zipfile.ZipFile(wheel).read(license) == (REPO / "LICENSE").read_bytes()


@pytest.mark.slow
def test_the_unpacked_wheel_writes_decks_that_include_its_models(wheel, tmp_path):
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    cwd = tmp_path / "elsewhere"
    cwd.mkdir()
    out = _run_installed(site, cwd, "-m", "spicecl", "netlist", "twin", "--network", "exp16",
                         "--seed", "1", "-o", "x.cir")
    assert out.returncode == 0, out.stderr[-2000:]
    includes = [ln.split(None, 1)[1] for ln in (cwd / "x.cir").read_text().splitlines()
                if ln.startswith(".include ")]
    assert len(includes) == 3
    for inc in includes:  # (relative to the deck's directory)
        lib = (cwd / inc).resolve()
        assert lib.parent == (site / "spicecl" / "models").resolve() and lib.is_file()


_REVISION = "from spicecl.experiments import _git_revision; print(_git_revision())"


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_an_installed_package_inside_another_repository_records_no_git_revision(tmp_path):
    """reproduce's manifest records the checkout's commit; a spicecl installed into a .venv
    inside the user's own repository recorded that repository's commit (with '+dirty')."""
    proj = tmp_path / "proj"
    site = proj / ".venv" / "site"
    shutil.copytree(PACKAGE, site / "spicecl", ignore=shutil.ignore_patterns("__pycache__"))
    git = ["git", "-C", str(proj), "-c", "user.name=u", "-c", "user.email=u@x"]
    subprocess.run(git + ["init", "-q"], check=True)
    (proj / "notes.txt").write_text("the user's project\n")
    subprocess.run(git + ["add", "notes.txt"], check=True)
    subprocess.run(git + ["commit", "-q", "-m", "user"], check=True)
    out = _run_installed(site, tmp_path, "-c", _REVISION)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "None"


@needs_checkout
@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_a_checkout_records_its_git_revision(tmp_path):
    head = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--show-toplevel", "--short",
                           "HEAD"], capture_output=True, text=True)
    lines = head.stdout.splitlines()
    if head.returncode != 0 or Path(lines[0]).resolve() != REPO:
        pytest.skip("the checkout is not a git repository of its own")
    out = _run_installed(REPO, tmp_path, "-c", _REVISION)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().removesuffix("+dirty") == lines[1]
