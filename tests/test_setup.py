"""`make setup`'s decisions on a fresh Debian machine, with the system faked by shims on PATH.

The shims stand in for `id` (root or not), `apt-get` (records its calls and "installs"
packages), `ngspice` (on PATH once installed), `ls` (finds libngspice.so once installed) and
Debian's `python3`, which has no ensurepip until python3-venv is installed: without it,
`python3 -m venv` stops half-way and leaves a .venv with bin/python and no pip. The venv's
python records its pip calls. No network, no apt, no real venv; the real ngspice and apt-get
are hidden, since PATH holds only the shims.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
MAKE = shutil.which("make")
ALL_PACKAGES = "ngspice libngspice0-dev python3-venv"

pytestmark = pytest.mark.skipif(MAKE is None or not Path("/bin/bash").exists(),
                                reason="needs make and /bin/bash")

SHIMS = {
    "id": """
        [ "$1" = -u ] || exit 99
        cat "$STATE/uid"
        """,
    "apt-get": """
        echo "$*" >> "$STATE/apt-get.log"
        [ "$1" = install ] || exit 0
        for arg in "$@"; do
          case "$arg" in -*|install) ;; *) touch "$STATE/installed/$arg" ;; esac
        done
        [ ! -e "$STATE/installed/ngspice" ] || ln -sf "$STATE/ngspice" "$(dirname "$0")/ngspice"
        """,
    "ls": """
        [ -e "$STATE/installed/libngspice0-dev" ]  # make setup lists only libngspice.so
        """,
    "python3": """
        case "$*" in
          "-c import ensurepip") [ -e "$STATE/installed/python3-venv" ] ;;
          "-m venv .venv")
            mkdir -p .venv/bin && cp "$STATE/venv-python" .venv/bin/python
            if [ ! -e "$STATE/installed/python3-venv" ]; then
              echo "The virtual environment was not created successfully because ensurepip is not available." >&2
              exit 1
            fi
            touch .venv/pip ;;
          *) echo "python3 shim: unexpected arguments $*" >&2; exit 99 ;;
        esac
        """,
}

VENV_PYTHON = """
    venv="$(dirname "$0")/.."
    case "$*" in
      "-c import pip") [ -e "$venv/pip" ] ;;
      "-m pip "*)
        [ -e "$venv/pip" ] || { echo "$0: No module named pip" >&2; exit 1; }
        echo "$*" >> "$STATE/pip.log" ;;
      *) echo "venv python shim: unexpected arguments $*" >&2; exit 99 ;;
    esac
    """


def _script(path: Path, body: str) -> None:
    lines = [line.strip() for line in body.strip().splitlines()]
    path.write_text("#!/bin/bash\n" + "\n".join(lines) + "\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)


class FakeDebian:
    """A project directory holding the Makefile, and a fake Debian system around it."""

    def __init__(self, root: Path, uid: int, installed: tuple[str, ...] = ()):
        self.project = root / "project"
        self.state = root / "state"
        self.bin = root / "bin"
        for d in (self.project, self.state / "installed", self.bin):
            d.mkdir(parents=True)
        shutil.copy(REPO / "Makefile", self.project / "Makefile")
        (self.project / "pyproject.toml").touch()
        (self.state / "uid").write_text(f"{uid}\n")
        for name, body in SHIMS.items():
            _script(self.bin / name, body)
        _script(self.state / "venv-python", VENV_PYTHON)
        _script(self.state / "ngspice", "exit 0")
        for tool in ("rm", "touch", "mkdir", "cp", "cat", "dirname", "ln"):
            os.symlink(shutil.which(tool), self.bin / tool)
        if installed:
            subprocess.run([str(self.bin / "apt-get"), "install", "-y", *installed],
                           env=self.env(), check=True)
            (self.state / "apt-get.log").unlink()

    def env(self) -> dict[str, str]:
        return {"PATH": str(self.bin), "STATE": str(self.state), "HOME": str(self.state),
                "LC_ALL": "C"}

    def make_setup(self) -> subprocess.CompletedProcess:
        return subprocess.run([MAKE, "setup"], cwd=self.project, env=self.env(),
                              capture_output=True, text=True)

    def log(self, name: str) -> list[str]:
        path = self.state / name
        return path.read_text().splitlines() if path.exists() else []

    def half_made_venv(self) -> None:
        """What `python3 -m venv .venv` leaves without python3-venv: bin/python, no pip."""
        (self.project / ".venv" / "bin").mkdir(parents=True)
        shutil.copy(self.state / "venv-python", self.project / ".venv" / "bin" / "python")


def test_not_root_prints_one_install_command_for_all_missing_packages_and_stops(tmp_path):
    debian = FakeDebian(tmp_path, uid=1000)
    out = debian.make_setup()
    assert out.returncode != 0
    assert f"  sudo apt-get update && sudo apt-get install -y {ALL_PACKAGES}\n" in out.stdout
    assert "Traceback" not in out.stdout + out.stderr
    assert debian.log("apt-get.log") == []
    assert not (debian.project / ".venv").exists()  # nothing half-made for the next run


def test_not_root_with_ngspice_asks_for_python3_venv_only(tmp_path):
    debian = FakeDebian(tmp_path, uid=1000, installed=("ngspice", "libngspice0-dev"))
    out = debian.make_setup()
    assert out.returncode != 0
    assert "  sudo apt-get update && sudo apt-get install -y python3-venv\n" in out.stdout
    assert not (debian.project / ".venv").exists()


def test_root_installs_what_is_missing_then_setup_is_a_no_op(tmp_path):
    debian = FakeDebian(tmp_path, uid=0)
    out = debian.make_setup()
    assert out.returncode == 0, out.stdout + out.stderr
    installs = [line for line in debian.log("apt-get.log") if line.startswith("install")]
    assert installs == [f"install -y -qq {ALL_PACKAGES}"]
    assert debian.log("pip.log") == ["-m pip install -q --upgrade pip",
                                     "-m pip install -q -e .[test]"]

    again = debian.make_setup()
    assert again.returncode == 0, again.stdout + again.stderr
    assert len(debian.log("apt-get.log")) == 2  # the update and install of the first run
    assert len(debian.log("pip.log")) == 2


@pytest.mark.parametrize("uid", [0, 1000])
def test_half_made_venv_is_made_again_once_python3_venv_is_there(tmp_path, uid):
    # the old Makefile took bin/python for a venv and ran pip in it for ever: "No module named pip"
    debian = FakeDebian(tmp_path, uid=uid, installed=("ngspice", "libngspice0-dev",
                                                      "python3-venv"))
    debian.half_made_venv()
    out = debian.make_setup()
    assert out.returncode == 0, out.stdout + out.stderr
    assert debian.log("apt-get.log") == []
    assert (debian.project / ".venv" / "pip").exists()
    assert (debian.project / ".venv" / ".spicecl-installed").exists()
    assert debian.log("pip.log")[-1] == "-m pip install -q -e .[test]"


def test_half_made_venv_as_root_installs_python3_venv_and_makes_the_venv_again(tmp_path):
    debian = FakeDebian(tmp_path, uid=0, installed=("ngspice", "libngspice0-dev"))
    debian.half_made_venv()
    out = debian.make_setup()
    assert out.returncode == 0, out.stdout + out.stderr
    assert [line for line in debian.log("apt-get.log") if line.startswith("install")] == [
        "install -y -qq python3-venv"]
    assert (debian.project / ".venv" / ".spicecl-installed").exists()
