"""The one place in spicecl that starts ngspice: ``ngspice -b`` on a deck, in its own process.

:func:`run_ngspice` copies a deck into a fresh temporary directory, appends a ``.control``
block that ``save``\\ s only the requested vectors, runs the deck's one analysis and
``write``\\ s them to a binary raw file, runs ``ngspice -b`` there as a subprocess with a
timeout, and reads the raw file with :mod:`spicecl.spice.rawfile`. Every failure (ngspice
missing, non-convergence, "timestep too small", a crash, a timeout, a vector that does not
exist) is a one-line :class:`~spicecl.errors.SpiceclError` that names the deck and quotes the
relevant ngspice log lines; the calling process survives.

Why not PySpice's runner: its subprocess mode breaks on numpy >= 2.3 and on ngspice's first
"Note:" line, and its shared mode raises on any stderr line (PySpice 1.5, ngspice 39). Why a
``.control`` block: ``.options interp`` with ``ngspice -b -r file`` wrote corrupt raw files on
ngspice 39.3; ``run`` + ``write`` inside ``.control`` does not.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from spicecl.errors import RunError, SimulationError, SpiceclError, check_range

#: Longest ngspice timeout, s (~11.6 days; Python's subprocess waits cannot take ~2.1e6 s or more).
MAX_TIMEOUT = 1e6

INSTALL_HINT = "sudo apt-get install -y ngspice libngspice0-dev"

#: Vector names accepted: ``time``, ``frequency``, ``v(node)``, ``v(a,b)``, ``i(vsource)``,
#: and bare node/vector names; node names may contain subcircuit dots and '#'.
_VECTOR_RE = re.compile(r"(?:[a-z_][a-z0-9_#.:]*|[vi]\([a-z0-9_#.:]+(?:,[a-z0-9_#.:]+)?\))")

#: Where failed runs' decks and logs are kept (None: ``spicecl-failed-UID`` in the temp
#: directory, private to the user).
KEEP_DIR = None

#: Vectors per ``write`` command (ngspice 39 refuses 1000 or more arguments).
WRITE_CHUNK = 500

#: Log lines that mean the analysis failed even when ngspice exits with status 0.
_FATAL_RE = re.compile(r"run simulation\(s\) aborted|doAnalyses:|timestep too small|"
                       r"dc solution failed|^\s*error|fatal|no such vector|interrupted|"
                       r"could not find|unknown subckt|can't find|too many args",
                       re.IGNORECASE)
_RELEVANT_RE = re.compile(r"error|abort|too small|fail|singular|fatal|not available|"
                          r"no such|unknown|can't|could not|convergence|limit|undefined|"
                          r"too many", re.IGNORECASE)


@dataclass
class SimResult:
    """Result of one ngspice run.

    Attributes
    ----------
    vectors : dict name -> array, shape (P,)
        The requested vectors, keyed by the lower-cased names asked for; P = 1 for ``.op``,
        the number of time points for ``.tran``.
    log : str
        ngspice's stdout and stderr.
    elapsed : float
        Wall time of the ngspice process, seconds.
    """

    vectors: dict = field(default_factory=dict)
    log: str = ""
    elapsed: float = 0.0


def ngspice_available() -> bool:
    """True when an ``ngspice`` executable is on PATH (no process is started)."""
    return shutil.which("ngspice") is not None


#: ngspice_version's answers, per executable: a session whose PATH comes to name another
#: ngspice (or none) records that one's version in its manifests, not the first one's
_NGSPICE_VERSIONS: dict = {}


def ngspice_version() -> str | None:
    """The ngspice version string (e.g. '39.3'), or None when ngspice is not installed."""
    exe = shutil.which("ngspice")
    if exe is None:
        return None
    if exe not in _NGSPICE_VERSIONS:
        try:
            out = subprocess.run([exe, "-v"], capture_output=True, text=True, timeout=20,
                                 stdin=subprocess.DEVNULL).stdout
        except (OSError, subprocess.TimeoutExpired):
            return None
        m = re.search(r"ngspice-(\S+)", out)
        _NGSPICE_VERSIONS[exe] = (m.group(1) if m else out.strip().splitlines()[0]
                                  if out.strip() else "?")
    return _NGSPICE_VERSIONS[exe]


def _ngspice_path() -> str:
    exe = shutil.which("ngspice")
    if exe is None:
        raise SpiceclError(f"ngspice is not installed (not on PATH); install it with: "
                           f"{INSTALL_HINT}")
    return exe


def _quote_log(log: str, limit: int = 4) -> str:
    """The few log lines that say what went wrong, joined on one line."""
    seen: list[str] = []
    fatal = [ln.strip() for ln in log.splitlines() if _FATAL_RE.search(ln)]
    other = [ln.strip() for ln in log.splitlines() if _RELEVANT_RE.search(ln)]
    for ln in fatal + other:
        ln = " ".join(ln.split())
        if ln and ln not in seen:
            seen.append(ln)
        if len(seen) >= limit:
            break
    if not seen:
        tail = [" ".join(ln.split()) for ln in log.splitlines() if ln.strip()][-2:]
        seen = tail
    text = " | ".join(seen) or "(it printed nothing)"
    return text[:400] + ("..." if len(text) > 400 else "")


def _check_vectors(vectors, name: str) -> list[str]:
    if isinstance(vectors, str):
        vectors = [vectors]
    out = []
    for v in vectors:
        s = str(v).strip().lower().replace(" ", "")
        if not _VECTOR_RE.fullmatch(s):
            raise SpiceclError(f"deck {name}: vector name {str(v)!r} is not allowed "
                               f"(use time, v(node), v(a,b) or i(vsource))")
        if s not in out:
            out.append(s)
    if not out:
        raise SpiceclError(f"deck {name}: no vectors requested")
    return out


def _strip_deck(deck_text: str, name: str) -> str:
    """The deck without a final .end; refuse .control blocks (the runner adds its own)."""
    lines = deck_text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    if not deck_text.strip():
        raise SpiceclError(f"deck {name}: empty")
    if lines[0].strip().lower().startswith("*ng_script"):
        # ngspice then runs every line of the file as a command (shell included)
        raise SpiceclError(f"deck {name}, line 1: '*ng_script' makes ngspice read the deck as "
                           f"a script of commands; the first line must be a title")
    for k, ln in enumerate(lines[1:], start=2):
        low = ln.strip().lower()
        if low.startswith((".control", ".endc")):
            raise SpiceclError(f"deck {name}, line {k}: has a .control block; the runner "
                               f"adds its own")
        if low.startswith("*#"):  # ngspice runs the rest of such a "comment" as a command
            raise SpiceclError(f"deck {name}, line {k}: a '*#' line is an ngspice command, "
                               f"not a comment; the runner adds its own commands")
    while lines and not lines[-1].strip():
        lines.pop()
    if lines and lines[-1].strip().lower() == ".end":
        lines.pop()
    for k, ln in enumerate(lines[1:], start=2):
        if ln.strip().lower() == ".end":
            raise SpiceclError(f"deck {name}, line {k}: .end before the end of the deck")
    return "\n".join(lines)


def _lookup(data: dict, asked: str):
    """Find an asked vector among the raw file's names (ngspice spells some differently)."""
    if asked in data:
        return data[asked]
    m = re.match(r"^([vi])\((.+)\)$", asked)
    if m:
        kind, inner = m.groups()
        alias = inner if kind == "v" else f"{inner}#branch"
        if alias in data:
            return data[alias]
    elif f"v({asked})" in data:
        return data[f"v({asked})"]
    return None


def run_ngspice(deck_text: str, vectors: list[str], *, name: str = "deck",
                timeout: float = 600.0) -> SimResult:
    """Run one deck with ``ngspice -b`` and return the requested vectors.

    Parameters
    ----------
    deck_text : str
        A full netlist: title line first, elements, models or ``.include`` lines, one analysis
        line (``.op``, ``.tran ...``) and optionally ``.ic``/``.options``; with or without a
        final ``.end``; no ``.control`` block (the runner adds one).
    vectors : list of str
        Names such as ``"v(n1)"``, ``"i(v1)"``, ``"time"`` (case-insensitive).
    name : str
        Deck name used in error messages (and the temporary file name).
    timeout : float
        Seconds before ngspice is killed and a SpiceclError raised.

    Returns
    -------
    SimResult with ``vectors`` keyed by the lower-cased names asked for.
    """
    check_range("timeout", timeout, 0, MAX_TIMEOUT, low_open=True)
    exe = _ngspice_path()
    safe_name = re.sub(r"[^A-Za-z0-9_.-]", "_", str(name))[:60] or "deck"
    asked = _check_vectors(vectors, safe_name)
    body = _strip_deck(str(deck_text), safe_name)
    # "time"/"frequency" are the plot scale: always written, never listed explicitly.
    listed = [v for v in asked if v not in ("time", "frequency")]
    # ngspice's `write` takes at most 999 arguments ("write: too many args"): one raw file
    # per WRITE_CHUNK vectors, merged below.
    chunks = [listed[k:k + WRITE_CHUNK] for k in range(0, len(listed), WRITE_CHUNK)] or [[]]
    saves = ""
    if listed and not any("," in v for v in listed):
        # `save` the vectors before the run and `write` what was saved: `write` with the names
        # looks each one up among all of the plot's vectors (4000 names on a 5000-edge twin
        # deck: 400 s of a 480 s run), and ngspice keeps only these. (`save` drops v(a,b)
        # silently, hence not with those.)
        saves = "".join(f"save {' '.join(c)}\n" for c in chunks)
        chunks = [[]]
        writes = "write out0.raw\n"
    else:
        writes = "".join(f"write out{k}.raw {' '.join(c) if c else 'all'}\n"
                         for k, c in enumerate(chunks))
    control = ("\n.control\nset filetype=binary\nset noaskquit\n"
               f"{saves}run\n{writes}quit\n.endc\n.end\n")
    with _run_directory(safe_name) as tmp:
        deck_path = Path(tmp) / f"{safe_name}.cir"
        try:
            deck_path.write_text(body + control)
        except OSError as exc:  # a full temporary directory (was taken for standard output's)
            raise RunError(f"cannot write deck {safe_name} for ngspice into the temporary "
                           f"directory {Path(tmp).parent} (TMPDIR): "
                           f"{exc.strerror or exc}") from None
        t0 = time.perf_counter()
        try:
            # "./": a deck named "-r" or "--version" must not be read as an ngspice option
            proc = subprocess.Popen([*_launcher(), exe, "-b", f"./{deck_path.name}"], cwd=tmp,
                                    stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                    stderr=subprocess.STDOUT, start_new_session=True)
        except OSError as exc:
            raise SpiceclError(f"cannot start ngspice for deck {safe_name}: {exc.strerror}; "
                               f"install it with: {INSTALL_HINT}") from None
        _RUNNING.add(proc)
        try:
            out, _ = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill(proc)
            out, _ = proc.communicate()
            log = out.decode("utf-8", "replace")
            raise SimulationError(f"ngspice timed out after {timeout:g} s on deck {safe_name}: "
                                  f"{_quote_log(log)}{_keep(deck_path, log)}") from None
        except BaseException:
            # Ctrl-C, SIGTERM turned into an exception, ...: ngspice runs in its own session,
            # so the terminal's SIGINT never reached it; without this it kept running (with
            # no timeout any more) in a temporary directory that is being removed. (Its
            # output pipe is closed too, not left to the garbage collector.)
            _kill(proc)
            proc.wait()
            proc.stdout.close()
            raise
        finally:
            _RUNNING.discard(proc)
        elapsed = time.perf_counter() - t0
        log = out.decode("utf-8", "replace")
        raws = [Path(tmp) / f"out{k}.raw" for k in range(len(chunks))]
        have_raw = all(r.exists() for r in raws)
        if proc.returncode < 0:
            sig = -proc.returncode
            raise SimulationError(f"ngspice crashed (signal {sig}) on deck {safe_name}: "
                                  f"{_quote_log(log)}{_keep(deck_path, log)}")
        if saves and "no data saved" in log:
            # every vector `save`d is unknown: ngspice refuses to run at all
            more = f" and {len(listed) - 3} more" if len(listed) > 3 else ""
            raise SpiceclError(f"deck {safe_name}: no such vector {', '.join(listed[:3])}{more} "
                               f"(ngspice has none of the vectors asked for)")
        fatal = [ln for ln in log.splitlines() if _FATAL_RE.search(ln)]
        if proc.returncode != 0 or fatal or not have_raw:
            what = _describe_failure(log, proc.returncode, have_raw)
            raise SimulationError(f"ngspice {what} on deck {safe_name}: {_quote_log(log)}"
                                  f"{_keep(deck_path, log)}")
        from spicecl.spice.rawfile import read_single_plot

        plots = []
        for r in raws:
            try:
                plots.append(read_single_plot(r))
            except SpiceclError as exc:
                # ngspice ran on an accepted deck: an empty or broken raw file (a full disk)
                # is a failed run, not bad input; the path named is about to be removed
                why = str(exc).replace(f"raw file {r}: ", "")
                raise SimulationError(f"ngspice wrote an unreadable raw file for deck "
                                      f"{safe_name} ({why}; disk full?): {_quote_log(log)}"
                                      f"{_keep(deck_path, log)}") from None
        if not all(p.complete for p in plots):
            # exit status 0 but fewer points than announced (a full disk): the last values
            # would silently be those of an earlier time
            raise SimulationError(f"ngspice wrote a truncated raw file for deck {safe_name} "
                                  f"(disk full?): {_quote_log(log)}{_keep(deck_path, log)}")
    result = {}
    for v in asked:
        arr = next((a for a in (_lookup(p.data, v) for p in plots) if a is not None), None)
        if arr is None:
            raise SpiceclError(f"deck {safe_name}: ngspice wrote no vector {v!r} (has "
                               f"{', '.join(plots[0].names[:12])})")
        result[v] = np.asarray(arr)
    return SimResult(result, log, elapsed)


@contextlib.contextmanager
def _run_directory(name: str):
    """A fresh temporary run directory for deck ``name``, removed after the block; a
    temporary directory that cannot take it (none writable, TMPDIR missing or full) is a
    one-line :class:`~spicecl.errors.RunError` rather than a traceback."""
    try:
        _remove_stale_dirs()
        run_dir = tempfile.TemporaryDirectory(prefix=_tmp_prefix())
    except OSError as exc:  # (tempfile's "No usable temporary directory found" included)
        where = tempfile.tempdir or os.environ.get("TMPDIR") or "the temporary directory"
        raise RunError(f"cannot make a run directory for ngspice (deck {name}) in {where}: "
                       f"{exc.strerror or exc}; set TMPDIR to a writable directory") from None
    with run_dir as tmp:
        yield tmp


def _keep(deck_path: Path, log: str) -> str:
    """Copy a failed run's deck and log out of its temporary directory, for re-running by hand
    (``ngspice -b NAME.cir``); the note for the error message, or "" when that fails."""
    keep = Path(KEEP_DIR or Path(tempfile.gettempdir()) / f"spicecl-failed-{os.getuid()}")
    try:
        keep.mkdir(mode=0o700, exist_ok=True)
        st = keep.lstat()
        # under a shared /tmp another user could have made it (or a symlink to elsewhere)
        if keep.is_symlink() or st.st_uid != os.getuid():
            return ""
        shutil.copyfile(deck_path, keep / deck_path.name)
        (keep / deck_path.with_suffix(".log").name).write_text(log)
    except OSError:
        return ""
    return f" (deck and log kept as {keep / deck_path.name} and .log)"


def _describe_failure(log: str, returncode: int, have_raw: bool) -> str:
    low = log.lower()
    if ("dc solution failed" in low or "doanalyses: op" in low
            or "source stepping failed" in low):
        return "did not converge (operating point)"
    if "timestep too small" in low:
        return "stopped: timestep too small"
    if "aborted" in low:
        return "aborted the analysis"
    if "is not available" in low:
        return "has no such vector"
    if returncode != 0:
        return f"failed (exit status {returncode})"
    if not have_raw:
        return "wrote no results"
    return "reported an error"


#: _launcher's answers, per (setpriv, true) found on PATH: one PATH without setpriv (a
#: session's, or a test's with a fake ngspice) must not leave ngspice unprotected afterwards
_LAUNCHERS: dict = {}


def _launcher() -> list[str]:
    """``setpriv --pdeathsig KILL --``, to put before the ngspice command, or [] where that
    does not work (not Linux, no setpriv, or one older than util-linux 2.33).

    ngspice runs in its own session, and a parent killed outright (SIGKILL: the OOM killer,
    ``kill -9``, a batch scheduler's hard limit) runs none of the clean-up in this module:
    ngspice ran on to the end of its analysis (in a transient it dies of SIGPIPE at its next
    progress line, but reading a large deck, an operating point or writing the raw file print
    nothing). With a parent-death signal the kernel kills it when the thread that started it
    ends, and :func:`run_ngspice` always waits in that thread until ngspice has ended.

    Why setpriv (util-linux, "Essential" on Debian and Ubuntu) rather than ``prctl`` through
    ctypes in ``preexec_fn``: Python code between fork and exec can deadlock in a process
    with threads, and spicecl's worker processes have threads (parent watch, tqdm); it also
    makes subprocess fork rather than vfork. What it cannot do is check, after setting the
    signal, that the parent is still alive: a parent killed in the ~1 ms between fork and
    setpriv's prctl leaves that one ngspice running. The expected run time lost that way is
    about that millisecond whatever the deck's length (the longer the deck, the rarer the
    hit), so it is left; its temporary directory is removed by the next run anyway.
    """
    setpriv, true = shutil.which("setpriv"), shutil.which("true")
    key = (setpriv, true)
    if key not in _LAUNCHERS:
        cmd, ok = [], False
        if sys.platform.startswith("linux") and setpriv and true:
            cmd = [setpriv, "--pdeathsig", "KILL", "--"]
            try:
                ok = subprocess.run(cmd + [true], stdin=subprocess.DEVNULL,
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                    timeout=20).returncode == 0
            except (OSError, subprocess.TimeoutExpired):
                pass
        _LAUNCHERS[key] = cmd if ok else []
    return _LAUNCHERS[key]


#: ngspice processes this process is waiting for (normally at most one).
_RUNNING: set = set()


#: Start of the names of ngspice's temporary run directories (see _tmp_prefix).
TMP_NAME = "spicecl-ngspice-"


def _tmp_prefix(pid: int | None = None) -> str:
    """Prefix of the temporary run directories of process ``pid`` (default: this one) on this
    host: ``spicecl-ngspice-PID-HOST-`` (see kill_running and _remove_stale_dirs)."""
    from spicecl.results import host_tag

    return f"{TMP_NAME}{os.getpid() if pid is None else pid}-{host_tag()}-"


#: Temporary directories already swept by _remove_stale_dirs in this process.
_SWEPT: set = set()


def _remove_stale_dirs() -> None:
    """Remove the run directories that dead processes of this user left in the temporary
    directory (once per process and directory): a process killed outright (SIGKILL) removes
    none of its own. A directory's pid (see _tmp_prefix) must be that of no live process on
    this host (:func:`spicecl.results.left_by_dead_process`); a reused pid just leaves the
    directory. Only real directories owned by this user go, never a symbolic link (nor what it
    points to)."""
    from spicecl.results import left_by_dead_process

    root = tempfile.gettempdir()  # (OSError when none is usable: the caller says so)
    if root in _SWEPT:
        return
    _SWEPT.add(root)
    uid = os.getuid()
    try:
        entries = list(os.scandir(root))
    except OSError:
        return
    for entry in entries:
        if not left_by_dead_process(entry.name, TMP_NAME):
            continue
        try:
            st = entry.stat(follow_symlinks=False)
        except OSError:
            continue
        if stat.S_ISDIR(st.st_mode) and st.st_uid == uid:
            shutil.rmtree(entry.path, ignore_errors=True)  # (rmtree follows no symlink)


def kill_running() -> None:
    """Kill every ngspice this process started and still waits for, and remove its temporary
    run directories: for a worker process about to leave with ``os._exit`` (its ngspice, in
    its own session, would outlive it, and no ``TemporaryDirectory`` clean-up runs). The
    directories are found by name, so one being created or read (no ngspice running) goes
    too."""
    for proc in list(_RUNNING):
        _kill(proc)
    try:
        root = Path(tempfile.gettempdir())
    except OSError:  # none usable: no run directory was made either
        return
    for tmp in root.glob(_tmp_prefix() + "*"):
        shutil.rmtree(tmp, ignore_errors=True)


def _kill(proc: subprocess.Popen) -> None:
    """Kill the ngspice process we started (its own session); the caller reaps it."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        try:
            proc.kill()
        except ProcessLookupError:
            pass
