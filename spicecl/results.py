"""The one writer of result files: atomic writes and run manifests.

Every file goes to a temporary name in the target directory and is renamed into place, so an
interrupted run never leaves a half-written file. :func:`write_manifest` records what is
needed to regenerate a result: the command line, the configuration, the seed, and the
versions of Python, numpy, scipy, spicecl and ngspice, the BLAS libraries with the kernels
they picked for this CPU (:func:`blas_libraries`), and a hash of spicecl's source files
(:func:`source_hash`).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import platform
import shutil
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from spicecl.errors import SpiceclError


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def ensure_output_dir(path, option: str = "--out", command: str | None = None) -> Path:
    """Create directory ``path`` (with parents) and check that a file can be written in it.

    Commands call this before a long run, so that a bad output path fails at once rather
    than after the work. With ``command`` (a subcommand name such as ``"compare"``), a
    directory whose ``manifest.json`` records another command's run is refused
    (:func:`refuse_other_run`).
    """
    path = Path(path)
    if command is not None:
        refuse_other_run(path, command, option)
    try:
        path.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=path, prefix=".spicecl-probe.")
        os.close(fd)
        os.unlink(probe)
    except FileExistsError:  # mkdir with exist_ok: the path exists but is no directory
        raise SpiceclError(f"{option} {path}: not a directory") from None
    except OSError as exc:
        raise SpiceclError(f"{option} {path}: {exc.strerror or exc}") from None
    return path


def read_json(path):
    """The JSON value file ``path`` holds. ValueError when it holds no JSON: not UTF-8,
    malformed, or nested deeper than the parser goes (``[[[...``, where json raises
    RecursionError); OSError when it cannot be read. For files a user may have damaged:
    manifests, summaries, sidecars."""
    text = Path(path).read_text(encoding="utf-8")
    try:
        return json.loads(text)
    except RecursionError:
        raise ValueError("nested too deeply") from None


def read_npz(data: bytes) -> dict:
    """The arrays (name -> ndarray) of an NPZ file's bytes ``data``, no pickles. ValueError
    naming the fault when it is no NPZ, is damaged (a damaged zip raises BadZipFile,
    zlib.error, EOFError, NotImplementedError (a compression method byte),
    tokenize.TokenError, ... depending on where the damage is) or holds an entry that is no
    .npy array (of which np.load gives the bytes)."""
    import io
    import zipfile

    # np.load takes anything that is not a zip (NPZ) or .npy file for a pickle and says so,
    # which is no help here: name the actual fault
    if not zipfile.is_zipfile(io.BytesIO(data)):
        raise ValueError("not an NPZ (zip) archive")
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except MemoryError:
        raise
    except Exception as exc:  # noqa: BLE001 - any damage (see above)
        raise ValueError(" ".join(str(exc).split()) or type(exc).__name__) from None
    # np.load hands out the raw bytes of an entry that does not start as a .npy file does
    # (a zip of other files, an entry overwritten with its CRC fixed): no array
    for k, v in arrays.items():
        if not isinstance(v, np.ndarray):
            raise ValueError(f"entry {k!r} is not a .npy array")
    return arrays


def refuse_other_run(path, command: str, option: str = "--out") -> None:
    """Raise a one-line SpiceclError when directory ``path`` holds a ``manifest.json`` that is
    not of a ``spicecl COMMAND`` run: writing there would replace another run's manifest and
    summary and mix its files with this run's. An earlier run of the same command is
    overwritten (its files all have the same names)."""
    man = Path(path) / "manifest.json"
    if not man.is_file():
        return
    try:
        recorded = read_json(man)
    except (OSError, ValueError):
        recorded = None
    recorded = recorded.get("command") if isinstance(recorded, dict) else None
    words = recorded.split()[:2] if isinstance(recorded, str) else []
    if words == ["spicecl", command]:
        return
    what = (f"the results of another command ({' '.join(words)})" if words
            else "a manifest.json that is not a spicecl run's")
    raise SpiceclError(f"{option} {path} holds {what}; use another {option} or remove it")


def _write_all(fh, data) -> None:
    if isinstance(data, (bytes, bytearray, memoryview)):
        fh.write(data)
    else:
        for piece in data:
            fh.write(piece)


def atomic_write_bytes(path, data) -> Path:
    """Write ``data`` to ``path`` atomically (temporary file + rename). ``data``: bytes, or
    an iterable of bytes written in turn (an output larger than it is worth holding)."""
    path = Path(path)
    if path.is_dir():
        raise SpiceclError(f"cannot write {path}: it is a directory")
    if path.exists() and not path.is_file():
        # A device, FIFO or terminal (/dev/null, /dev/stdout, a pipe): write into it. A rename
        # would replace the device node itself with a regular file.
        try:
            with open(path, "wb") as fh:
                _write_all(fh, data)
        except OSError as exc:
            raise SpiceclError(f"cannot write {path}: {exc.strerror or exc}") from None
        return path
    if path.is_symlink():
        # Write the file the link points to (e.g. /dev/stdout -> /proc/self/fd/1 -> a file):
        # a rename over the link itself would replace the link. A dangling link is refused:
        # following it would create its target's directories anywhere it points.
        if not path.exists():
            raise SpiceclError(f"cannot write {path}: a symbolic link to a missing file "
                               f"({os.readlink(path)})")
        path = path.resolve()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except FileExistsError:  # mkdir with exist_ok: the parent exists but is no directory
        raise SpiceclError(f"cannot write {path}: {path.parent} is not a directory") from None
    except OSError as exc:
        raise SpiceclError(f"cannot write {path}: {exc.strerror}") from None
    try:
        with os.fdopen(fd, "wb") as fh:
            _write_all(fh, data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the usual mode
        os.replace(tmp, path)
    except BaseException as exc:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(exc, OSError):  # disk full, target busy, ...
            # (a file of a staging directory is named as where it goes)
            shown = Path(*(q for q in path.parts if not q.startswith(STAGING_PREFIX)))
            raise SpiceclError(f"cannot write {shown}: {exc.strerror or exc}") from None
        raise
    return path


def remove_partial_writes(directory) -> None:
    """Remove the temporary files (``.NAME.XXXX.tmp``) that :func:`atomic_write_bytes` leaves in
    ``directory`` when its process is killed while writing (kill -9, power loss): never read
    (only NAME is), but never removed either. Only for a directory that one run holds (a
    sweep's, under its lock): another process's write in progress would be lost."""
    for tmp in Path(directory).glob(".*.*.tmp"):
        if tmp.is_file() and not tmp.is_symlink():
            tmp.unlink(missing_ok=True)


def atomic_write_text(path, text: str) -> Path:
    return atomic_write_bytes(path, text.encode())


def _default(o):
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serializable: {type(o).__name__}")


def to_json(obj, indent: int | None = 1) -> str:
    return json.dumps(obj, indent=indent, default=_default, allow_nan=True) + "\n"


def atomic_write_json(path, obj) -> Path:
    return atomic_write_text(path, to_json(obj))


def atomic_write_npz(path, **arrays) -> Path:
    import io

    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    return atomic_write_bytes(path, buf.getvalue())


def subplots(nrows: int = 1, ncols: int = 1, *, figsize=None, **kwargs):
    """``(figure, axes)`` as ``matplotlib.pyplot.subplots`` gives them, on a figure with an
    Agg canvas of its own. spicecl draws without pyplot: ``matplotlib.use("Agg")`` switched
    a session's backend (a notebook's inline one, a GUI), and pyplot kept every figure until
    it was closed."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize)
    FigureCanvasAgg(fig)
    return fig, fig.subplots(nrows, ncols, **kwargs)


def atomic_savefig(fig, path, dpi: int = 110) -> Path:
    """Save a matplotlib figure atomically as PNG."""
    import io

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    return atomic_write_bytes(path, buf.getvalue())


def versions() -> dict:
    import scipy

    import spicecl
    from spicecl.spice.runner import ngspice_version

    return {
        "spicecl": spicecl.__version__,
        "spicecl_source": source_hash(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "ngspice": ngspice_version(),
        "blas": blas_libraries(),
    }


def numerics() -> dict:
    """The entries of :func:`versions` that decide a computed number besides its inputs:
    spicecl's source hash and the numpy, scipy and BLAS (kernels) it computes with (README,
    "Reproducibility across machines"). A sweep records them with each job, as they are in
    the process that computed it."""
    import scipy

    return {"spicecl_source": source_hash(), "numpy": np.__version__,
            "scipy": scipy.__version__, "blas": blas_libraries()}


@functools.lru_cache(maxsize=1)
def source_hash() -> str:
    """16 hex digits naming the code that runs: a sha256 over spicecl's source files
    (``spicecl/**/*.py``) and the SPICE model libraries its decks include (``models/*.lib``).

    A version number does not tell a checkout with local edits from the release. The files
    are hashed by their names relative to the package (the libraries as ``models/NAME.lib``,
    where they lie inside the package or beside it: :func:`default_models_dir`) and their
    bytes, as lines ``SHA256  NAME`` sorted by name: the same code gives the same hash from a
    wheel, an editable install or a checkout, whatever the files' times. Computed once per
    process."""
    import spicecl
    from spicecl.netlist.names import default_models_dir

    root = Path(spicecl.__file__).resolve().parent
    files = {p.relative_to(root).as_posix(): p for p in root.rglob("*.py")}
    files.update({f"models/{p.name}": p for p in default_models_dir().glob("*.lib")})
    listing = "".join(f"{hashlib.sha256(files[name].read_bytes()).hexdigest()}  {name}\n"
                      for name in sorted(files))
    return hashlib.sha256(listing.encode()).hexdigest()[:16]


def blas_libraries() -> str:
    """The BLAS/LAPACK libraries numpy and scipy compute with, and the kernels each picked for
    this CPU at run time, e.g. 'openblas 0.3.30 Haswell, openblas 0.3.31.188.0 Haswell'.

    The same seed gives the same bits only with the same kernels: another CPU (or
    OPENBLAS_CORETYPE) rounds matrix products and Cholesky solves differently in the last bit
    (README, "Reproducibility across machines"). The number of threads is left out: it does
    not change the numbers (the learning loop runs on one BLAS thread)."""
    import importlib

    from threadpoolctl import threadpool_info

    importlib.import_module("scipy.linalg")  # loads scipy's own BLAS, for threadpoolctl to see

    libs = {" ".join(str(i[k]) for k in ("internal_api", "version", "architecture") if i.get(k))
            for i in threadpool_info() if i.get("user_api") == "blas"}
    return ", ".join(sorted(libs)) or "unknown"


def config_hash(config: dict) -> str:
    """A stable short hash of a JSON-able configuration."""
    return hashlib.sha256(to_json(config, indent=None).encode()).hexdigest()[:16]


#: The spicecl command line being run (set by :func:`spicecl.cli.main`); manifests record it.
COMMAND_LINE: str | None = None


def command_line() -> str:
    """The command that produced a result: the spicecl command line when run through the CLI,
    else the process's own argv."""
    if COMMAND_LINE is not None:
        return COMMAND_LINE
    return " ".join([Path(sys.argv[0]).name] + sys.argv[1:])


def manifest(config: dict, seed, **extra) -> dict:
    return {
        "command": command_line(),
        "config": config,
        "config_hash": config_hash(config),
        "seed": seed,
        "versions": versions(),
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        **extra,
    }


#: Prefix of the staging directories of :func:`staged_outputs` (with the writer's pid).
STAGING_PREFIX = ".spicecl-staging-"


@contextlib.contextmanager
def staged_outputs(out_dir):
    """``with staged_outputs(out_dir) as stage:`` a fresh staging directory inside ``out_dir``
    for a run's files; :func:`write_manifest` on it, at the end of the block, moves them into
    ``out_dir`` and writes the manifest there, last.

    Each file is replaced atomically but a run writes several, so a run interrupted while
    writing them would mix new files with the earlier run's. Written to the staging directory
    first, they reach ``out_dir`` only once all are written: an interrupted run leaves
    ``out_dir`` as it was (the earlier complete run, or nothing), and a directory with a
    manifest holds one complete run, the one it describes. (Ctrl-C and SIGTERM are held off
    while the files are renamed into place, see :func:`_commit`; only a SIGKILL or a failed
    rename there leaves no manifest.)

    The staging directory is removed when the block ends, however it ends: the files of a
    block that raises, or that ends without :func:`write_manifest`, are discarded and
    ``out_dir`` is unchanged. An exception that left the block before its files moved says
    so for the CLI's one line: its ``unwritten_outputs`` is ``out_dir`` (of the outermost
    block, whose exit comes last: demo stages its sub-runs inside its own staging directory).
    A block removes only its own staging directory, so runs in other threads or processes
    are left alone.
    """
    stage = begin_outputs(out_dir)
    try:
        yield stage
    except BaseException as exc:
        if stage.exists():  # (gone once committed: a signal held off meanwhile comes after)
            exc.unwritten_outputs = Path(out_dir)
        raise
    finally:
        shutil.rmtree(stage, ignore_errors=True)


def begin_outputs(out_dir) -> Path:
    """A fresh staging directory inside ``out_dir``, to be committed by :func:`write_manifest`;
    :func:`staged_outputs` is this with its removal however the run ends. Staging directories
    of processes of this host that no longer run (killed) are removed
    (:func:`left_by_dead_process`); one that is neither committed nor removed stays until its
    process ends, and the next run into ``out_dir`` removes it."""
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
        for old in out.glob(f"{STAGING_PREFIX}*"):
            # (a killed run's staging directory from before the host tag too: in --out, not
            # in a TMPDIR many share, and none would remove it otherwise)
            if left_by_dead_process(old.name, STAGING_PREFIX, untagged=True):
                shutil.rmtree(old, ignore_errors=True)
        return Path(tempfile.mkdtemp(prefix=f"{STAGING_PREFIX}{os.getpid()}-{host_tag()}-",
                                     dir=out))
    except OSError as exc:
        raise SpiceclError(f"cannot write into {out}: {exc.strerror or exc}") from None


_HOST: str | None = None


def host_tag() -> str:
    """8 hex digits naming this host and pid namespace, for leftovers named after their
    process (see pid_alive): a pid only names a process there, and a directory can be shared
    (an --out or TMPDIR on a cluster's network file system, a /tmp mounted into several
    containers)."""
    global _HOST
    if _HOST is None:
        import zlib

        try:
            ns = os.readlink("/proc/self/ns/pid")
        except OSError:
            ns = ""
        _HOST = f"{zlib.crc32(f'{os.uname().nodename} {ns}'.encode()):08x}"
    return _HOST


def left_by_dead_process(name: str, prefix: str, *, untagged: bool = False) -> bool:
    """Whether ``name``, ``PREFIX PID-HOST-RANDOM``, is a leftover of a process of this host
    (see host_tag: on a file system shared by several hosts a pid names a process only on its
    own) that no longer runs (killed outright). ``untagged``: also ``PREFIX PID-RANDOM``, as
    spicecl named them before the host tag, taken as this host's (mkdtemp's RANDOM has no
    '-')."""
    if not name.startswith(prefix):
        return False
    fields = name[len(prefix):].split("-")
    ours = (len(fields) == 3 and fields[1] == host_tag()) or (untagged and len(fields) == 2)
    return ours and fields[0].isascii() and fields[0].isdigit() and not pid_alive(fields[0])


def pid_alive(pid) -> bool:
    """Whether process ``pid`` (an int, or the digits of a file name) runs on this host: the
    test that leftovers named after their process (staging directories here, ngspice's run
    directories in spicecl.spice.runner) belong to a process killed outright."""
    try:
        os.kill(int(pid), 0)
    except (ValueError, OverflowError, ProcessLookupError):  # (no such pid)
        return False
    except OSError:  # another user's process
        return True
    return True


def _commit(stage: Path, man: dict) -> Path:
    """Move a staging directory's files into its parent, the earlier manifest removed first and
    ``man`` written last; return the manifest's path.

    Ctrl-C and SIGTERM are held off meanwhile (raised once it is done), so that the directory
    ends with the earlier run or this one, complete; only a SIGKILL or a failed rename (an
    error naming the directory) here leaves it without a manifest. An earlier run's
    subdirectory (demo's oscillators/) is swapped out by renames and removed after the
    manifest is written. Two runs committing into one directory at once take turns (a lock on
    the directory), so that it ends with one run's files, not a mix."""
    out = stage.parent
    with directory_lock(out, busy=f"waiting for another run writing into {out} to finish"), \
            _signals_held():
        try:
            (out / "manifest.json").unlink(missing_ok=True)
            trash = Path(tempfile.mkdtemp(prefix=".old.", dir=stage))
            for item in sorted(stage.iterdir()):
                if item == trash:
                    continue
                target = out / item.name
                # (a directory cannot be renamed onto a file or a link: move that aside too;
                # a link is moved, not what it points to)
                if item.is_dir() and os.path.lexists(target):
                    os.replace(target, trash / item.name)
                os.replace(item, target)
        except OSError as exc:
            raise SpiceclError(f"cannot write into {out}: {exc.strerror or exc}") from None
        path = atomic_write_json(out / "manifest.json", man)
        shutil.rmtree(stage, ignore_errors=True)
    return path


#: Directories held locked, as (thread, real path), see directory_lock.
_LOCKED: set = set()


@contextlib.contextmanager
def directory_lock(path, *, wait: bool = True, busy: str | None = None):
    """An exclusive lock (flock) on directory ``path`` for the block; none where the file
    system has none. ``wait``: wait for another process holding it (a signal while waiting
    stops the run as anywhere else; ``busy``, a note printed first, says why nothing happens
    meanwhile); otherwise raise :class:`BlockingIOError` at once. Within one thread the lock
    is re-entrant (a sweep holds its directory while writing into it), where a second flock
    of the same directory would wait for itself; another thread waits as another process
    does."""
    key = threading.get_ident(), os.path.realpath(path)
    if key in _LOCKED:  # (held further out in this thread, and released there)
        yield
        return
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        yield
        return
    try:
        _flock(fd, wait, busy)
        _LOCKED.add(key)
        try:
            yield
        finally:
            _LOCKED.discard(key)
    finally:
        os.close(fd)  # (releases the lock)


def _flock(fd: int, wait: bool, busy: str | None) -> None:
    """Lock ``fd`` exclusively (see :func:`directory_lock`); nothing where the file system has
    no locks."""
    import fcntl

    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return
    except BlockingIOError:
        if not wait:
            raise
    except OSError:  # (no locks on this file system)
        return
    if busy:
        from spicecl.errors import warn

        warn(busy)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
    except OSError:
        pass


@contextlib.contextmanager
def _signals_held():
    """Hold SIGINT and SIGTERM off for the block: each is recorded and, after the block, handed
    to the handler that was in place (KeyboardInterrupt, the CLI's Terminated, or the default
    action). Python runs signal handlers in the main thread only; elsewhere nothing is held."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []
    sigs = (signal.SIGINT, signal.SIGTERM)
    previous = {sig: signal.signal(sig, lambda signum, frame: caught.append(signum))
                for sig in sigs}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        for sig in dict.fromkeys(caught):
            handler = previous[sig]
            if callable(handler):
                handler(sig, None)
            elif handler == signal.SIG_DFL:
                os.kill(os.getpid(), sig)


def write_manifest(out_dir, config: dict, seed, **extra) -> Path:
    """Write ``out_dir/manifest.json`` (atomically) and return its path. For a staging
    directory (:func:`staged_outputs`), its files are moved into the output directory first
    and the manifest written there."""
    out = Path(out_dir)
    man = manifest(config, seed, **extra)
    if out.name.startswith(STAGING_PREFIX):
        return _commit(out, man)
    return atomic_write_json(out / "manifest.json", man)
