"""Sweeps: lists of independent jobs run on a local process pool or a Dask cluster, resumably.

A sweep is a list of :class:`Chunk` objects. Each chunk names a job function defined at the
top level of a module (so it pickles by reference) and a picklable spec (a frozen dataclass);
the function returns a dict of numpy arrays. A chunk usually holds several networks trained
together by :func:`spicecl.learning.train`, which amortizes the Python overhead of a step;
the chunking is part of the configuration, never of the executor, so the numbers are the same
whatever runs them.

Randomness: every chunk's spec carries :class:`numpy.random.SeedSequence` children spawned from
one root seed (:func:`spawn_seeds`), so a local pool with any number of workers, a Dask
cluster, and a resumed run all give identical results, bit for bit.

Files: ``OUT/manifest.json`` (via :func:`spicecl.results.write_manifest`, with the config
hash) is written before the first job; each finished chunk is written atomically to
``OUT/jobs/NAME.npz`` by the parent process, with the versions that computed it (where it
ran: :func:`run_recorded`). A rerun into the same directory loads finished chunks instead of
recomputing them, and says so when they were computed by other code or numerics; a directory
whose manifest has another config hash is refused.
"""

from __future__ import annotations

import functools
import itertools
import json
import logging
import os
import socket
import sys
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from spicecl.errors import RunError, SpiceclError, warn
from spicecl.results import (atomic_write_npz, config_hash, read_json, read_npz,
                             remove_partial_writes, write_manifest)

#: Seconds to wait for a Dask scheduler before giving up.
CONNECT_TIMEOUT = 5.0


@dataclass(frozen=True)
class Chunk:
    """One unit of work: ``func(spec) -> dict[str, ndarray]``.

    name : file stem of the result (``OUT/jobs/NAME.npz``); unique in a sweep
    func : a function defined at module top level (picklable by reference)
    spec : its picklable argument
    cost : relative cost (for the progress bar), e.g. networks x steps
    check : whether a result read back from the job file is one ``func`` returns for
        ``spec`` (e.g. :meth:`spicecl.experiments.common.TrainChunk.holds`); a job file
        that fails it (written by other code) is recomputed, as a damaged one is
    """

    name: str
    func: Callable[[Any], dict]
    spec: Any
    cost: float = 1.0
    check: Callable[[dict], bool] | None = None


def spawn_seeds(root: int, n: int, stream: int = 0) -> list[np.random.SeedSequence]:
    """``n`` independent seeds of stream ``stream`` of the root seed (SeedSequence spawn keys).

    Streams keep, e.g., task draws apart from learning draws: the same task seeds serve
    every p value of a sweep while each run gets its own learning seed.
    """
    return [np.random.SeedSequence(int(root), spawn_key=(int(stream), i)) for i in range(n)]


def check_out_dir(out, config: dict) -> None:
    """Refuse (one-line SpiceclError) a sweep directory that holds another configuration's
    results; :func:`run_sweep` calls it, and commands for every directory before any work."""
    out, chash = Path(out), config_hash(config)
    man = out / "manifest.json"
    if man.exists():
        try:
            old = read_json(man)
            why = "not a JSON object"
        except OSError as exc:
            old, why = None, exc.strerror or str(exc)
        except ValueError as exc:  # (UnicodeDecodeError included)
            old, why = None, f"not JSON: {str(exc).splitlines()[0][:80]}"
        if not isinstance(old, dict):  # damaged, or valid JSON that is no manifest
            raise SpiceclError(f"--out {out}: unreadable manifest.json ({why}); use another "
                               f"--out directory")
        if "status" not in old and "command" in old:  # not a sweep's: train, compare, ...
            cmd = " ".join(str(old["command"]).split()[:2])
            raise SpiceclError(f"--out {out} holds the results of another command ({cmd}); "
                               f"use another --out or remove it")
        if old.get("config_hash") != chash and not _same_config(old.get("config"), config):
            raise SpiceclError(f"--out {out} holds results of another configuration "
                               f"({_config_diff(old.get('config'), config)}); use another "
                               f"--out or remove it")
    elif (out / "jobs").is_dir() and any((out / "jobs").glob("*.npz")):
        raise SpiceclError(f"--out {out}: has job results but no manifest.json; use another "
                           f"--out directory")


@contextmanager
def sweep_lock(out):
    """Hold sweep directory ``out`` (created if need be) for the block: another process asking
    for it is refused, in one line (:func:`spicecl.results.directory_lock`, which also keeps
    staged outputs of two runs from mixing). Two runs of one sweep at once computed the same
    jobs twice, and each removed the other's half-written job files
    (``jobs/.NAME.npz.*.tmp``), which made the other fail. Taken again in the same thread
    (run_figure around run_sweep), it is the same lock; another thread of this process is
    refused as another process is."""
    from spicecl.results import directory_lock

    out = Path(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise SpiceclError(f"--out {out}: not a directory") from None
    except OSError as exc:
        raise SpiceclError(f"--out {out}: {exc.strerror or exc}") from None
    with ExitStack() as held:
        try:
            held.enter_context(directory_lock(out, wait=False))
        except BlockingIOError:
            raise SpiceclError(f"--out {out} is in use by another run of this sweep (still "
                               f"running); wait for it to end, then rerun to resume, or use "
                               f"another --out") from None
        yield


def _warn_of_other_numerics(out: Path, made_by: dict) -> None:
    """Say so when finished jobs of a sweep being resumed (``made_by``: {name: the versions
    that computed it}, :func:`_load_finished`) were computed by other spicecl code (another
    source hash) or with other numerics than this process's (numpy, scipy, BLAS kernels:
    another machine or build): the former can change any number, the latter round
    differently in the last bit, which the continuous rule can amplify, so the sweep's numbers
    are then no one machine's (README, "Reproducibility across machines"). A version a job's
    record lacks (its manifest predates it) is not taken for another."""
    from spicecl.results import numerics

    now = numerics()
    other = {k: sorted({str(v[k]) for v in made_by.values() if k in v and v[k] != now[k]})
             for k in now}
    if other["spicecl_source"]:
        warn(f"--out {out}: resuming jobs computed by other spicecl code (source "
             f"{' and '.join(other['spicecl_source'])} there, {now['spicecl_source']} here): "
             f"this sweep's results then mix versions of the code")
    diff = [f"{k} {' and '.join(other[k])} there, {now[k]} here"
            for k in ("numpy", "scipy", "blas") if other[k]]
    if diff:
        warn(f"--out {out}: resuming jobs computed with other numerics ({'; '.join(diff)}): "
             f"they differ from this process's in the last bit (the continuous rule can "
             f"amplify it), so this sweep's numbers are not bit for bit one machine's")


def _as_json(config) -> object:
    from spicecl.results import to_json

    return json.loads(to_json(config, indent=None))


def _same_config(old, config: dict) -> bool:
    """The same configuration written differently: --set keys in another order, or a number
    written another way (3e10, 30000000000); dicts compare without order, 3e10 == 3 * 10**10."""
    return isinstance(old, dict) and old == _as_json(config)


def _config_diff(old, config: dict) -> str:
    """Which settings differ, for the refusal message (or the hashes, without a config)."""
    new = _as_json(config)
    if not isinstance(old, dict):
        return f"config hash {config_hash(new)} here, none readable there"
    keys = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
    if "overrides" in keys:  # name the --set settings, not what they change
        a, b = old.get("overrides") or {}, new.get("overrides") or {}
        keys = [f"--set {k}" for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]
    shown = ", ".join(keys[:4]) + (", ..." if len(keys) > 4 else "")
    return f"it differs in {shown}"


#: The entry of a job file (``OUT/jobs/NAME.npz``) holding, as JSON, the versions that
#: computed the job (:func:`spicecl.results.numerics`).
VERSIONS_ENTRY = "__versions__"


def _write_job(path: Path, res: dict, versions: dict) -> None:
    atomic_write_npz(path, **res, **{VERSIONS_ENTRY: np.array(json.dumps(versions))})


def _load_chunk(path: Path) -> tuple[dict, dict | None] | None:
    """A job file's (result, the versions that computed it); the versions are None in a file
    written before spicecl recorded them; None for a damaged or foreign file."""
    try:
        res = read_npz(path.read_bytes())
        made_by = res.pop(VERSIONS_ENTRY, None)
        if made_by is None:
            return res, None
        made_by = json.loads(str(made_by))
    except (OSError, ValueError, RecursionError):  # a foreign or damaged file: recompute it
        return None
    return (res, made_by) if isinstance(made_by, dict) else None


def _load_finished(chunks: list[Chunk], out: Path) -> tuple[dict, dict]:
    """The finished jobs of ``chunks`` in ``out/jobs``: ({name: result}, {name: the versions
    that computed it}). A job file written before spicecl recorded them is given those of
    its manifest (the run that wrote the manifest last: the best known), once, in the file
    itself: every run rewrites the manifest."""
    results, made_by, then = {}, {}, None
    for c in chunks:
        path = out / "jobs" / f"{c.name}.npz"
        loaded = _load_chunk(path) if path.exists() else None
        if loaded is None or (c.check is not None and not c.check(loaded[0])):
            continue
        results[c.name], made_by[c.name] = loaded
        if made_by[c.name] is None:
            then = _numerics_of_manifest(out) if then is None else then
            made_by[c.name] = then
            _write_job(path, results[c.name], then)
    return results, made_by


def _numerics_of_manifest(out: Path) -> dict:
    """Those of the versions of :func:`spicecl.results.numerics` that ``out/manifest.json``
    records (check_out_dir saw it: there are job files)."""
    from spicecl.results import numerics

    recorded = read_json(out / "manifest.json").get("versions")
    if not isinstance(recorded, dict):
        return {}
    return {k: recorded[k] for k in numerics() if k in recorded}


def _differ(a: dict, b: dict) -> bool:
    """Whether two records of versions differ in a version both hold."""
    return any(k in b and a[k] != b[k] for k in a)


def versions_of_jobs(made_by: dict) -> list | None:
    """The sets of versions that computed the jobs of ``made_by`` ({name: versions}), each
    ``{"versions": ..., "jobs": [names]}``, when they differ; None when one set computed
    them all."""
    sets: dict[str, tuple] = {}
    for name, versions in made_by.items():
        sets.setdefault(json.dumps(versions, sort_keys=True), (versions, []))[1].append(name)
    if not any(_differ(a, b) for (a, _), (b, _) in itertools.combinations(sets.values(), 2)):
        return None
    return [{"versions": versions, "jobs": names} for versions, names in sets.values()]


class _Progress:
    def __init__(self, total: float, enabled: bool | None, desc: str, unit: str):
        from tqdm import tqdm

        if enabled is None:
            enabled = sys.stderr.isatty()
        self.bar = tqdm(total=round(total), desc=desc, disable=not enabled, unit=unit,
                        unit_scale=unit != "job", leave=False, mininterval=0.5)  # (7.20k steps)

    def update(self, n: float) -> None:
        self.bar.update(round(n))

    def close(self) -> None:
        self.bar.close()


def connect_scheduler(address: str, timeout: float = CONNECT_TIMEOUT):
    """A ``distributed.Client`` for ``address``; a one-line SpiceclError when unreachable."""
    import asyncio

    host, port = parse_scheduler_address(address)  # (a typo told at once: dask loads in ~3 s)
    try:
        import dask
        from distributed import Client
    except ImportError:
        raise SpiceclError("--scheduler needs dask.distributed: pip install 'spicecl[dask]'") \
            from None
    # (Dask itself takes no trailing "/", and an IPv6 host in brackets)
    target = f"tcp://[{host}]:{port}" if ":" in host else f"tcp://{host}:{port}"
    try:
        # A plain TCP connection first: "refused" or "unknown host" in milliseconds, where
        # Dask would retry for the whole timeout and then only say it timed out.
        socket.create_connection((host, port), timeout=timeout).close()
    except OSError as exc:
        why = exc.strerror or str(exc) or type(exc).__name__
        raise SpiceclError(f"--scheduler {address}: cannot connect to {host} port {port} "
                           f"({why})") from None
    try:
        with dask.config.set({"distributed.comm.timeouts.connect": f"{timeout}s"}):
            # Probe first: a failed handshake then leaves no half-built Client behind (whose
            # finalizer would block for seconds at exit).
            _probe_scheduler(target, timeout)
            client = Client(target, timeout=f"{timeout}s", set_as_default=False)
    except (OSError, TimeoutError, asyncio.TimeoutError) as exc:  # refused, unreachable
        text = str(exc).strip()
        msg = text.splitlines()[0][:200] if text else type(exc).__name__
        raise SpiceclError(f"--scheduler {address}: cannot connect within {timeout:g} s "
                           f"({msg})") from None
    except Exception as exc:  # something answered, but not a Dask scheduler
        raise SpiceclError(f"--scheduler {address}: cannot connect: no Dask scheduler "
                           f"answered (handshake failed: {type(exc).__name__})") from None
    try:
        with _quiet_dask_client():  # (its "failed to reconnect" line: told below, in one)
            try:
                check_cluster(client, address)
            except BaseException:
                client.close()
                raise
    except OSError as exc:  # (CommClosedError too) the scheduler went away meanwhile
        text = str(exc).strip()
        msg = text.splitlines()[0][:200] if text else type(exc).__name__
        raise RunError(f"--scheduler {address}: lost the Dask scheduler while checking the "
                       f"cluster ({msg}); rerun once it runs again") from None
    return client


#: Packages whose versions the cluster's workers must share with this process: the same seed
#: gives the same numbers only with the same code.
SAME_VERSION = ("spicecl", "numpy", "scipy")
#: How long a run waits for the first worker of a Dask cluster that has none (seconds).
WAIT_FOR_WORKERS = 60.0


def _version_here(pkg: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(pkg)
    except PackageNotFoundError:
        return None


@functools.lru_cache(maxsize=1)
def code_identity() -> tuple:
    """What besides a job's spec decides its numbers, in this process: (the hash of
    spicecl's source files, :func:`spicecl.results.source_hash`, the versions of
    :data:`SAME_VERSION`, spicecl's directory). Two checkouts of one version (a clone on
    PYTHONPATH, the installed one) can differ; the directory only names the code in
    messages."""
    import spicecl
    from spicecl.results import source_hash

    root = Path(spicecl.__file__).resolve().parent
    return (source_hash(), tuple(_version_here(p) for p in SAME_VERSION), str(root))


def run_recorded(func: Callable[[Any], dict], spec) -> tuple[dict, dict]:
    """A job: ``(func(spec), the versions that computed it)``
    (:func:`spicecl.results.numerics`, as they are in the process that runs it)."""
    from spicecl.results import numerics

    return func(spec), numerics()


def run_identified(func: Callable[[Any], dict], spec) -> tuple:
    """A job on a Dask worker: ``(code_identity(), run_recorded(func, spec))``, so that a result
    computed by other code (a worker that joined after :func:`check_cluster`) is never saved,
    and one of other BLAS kernels is recorded as such."""
    return code_identity(), run_recorded(func, spec)


def _other_code(who: str, theirs: tuple, mine: tuple) -> str:
    """How ``who`` (a worker, with identity ``theirs``) differs from this process."""
    for pkg, got, want in zip(SAME_VERSION, theirs[1], mine[1]):
        if got != want:
            return f"{who} runs {pkg} {got}, this process {want}"
    if theirs[2] == mine[2]:  # one checkout, changed after the cluster imported it
        return (f"{who} runs other spicecl code than this process (from {mine[2]}: changed "
                f"since {who} started? restart it)")
    return (f"{who} runs other spicecl code (from {theirs[2]}) than this process (from "
            f"{mine[2]})")


def check_cluster(client, address: str, packages=SAME_VERSION) -> None:
    """Refuse (one-line SpiceclError) a cluster whose scheduler or workers cannot import
    spicecl or run other spicecl source files than this process (the scheduler unpickles the
    jobs too), or whose workers lack one of ``packages`` or run another version of it
    (spicecl's own by its source files only: a checkout on PYTHONPATH has no installed
    version; the workers connected now are checked; :func:`run_identified` checks each job's
    result)."""
    import asyncio
    from importlib.metadata import version

    probe, mine = _code_probe(), code_identity()
    _check_code(address, "the scheduler", client.run_on_scheduler(probe), mine)
    if not client.scheduler_info().get("workers"):
        # (with none, the jobs would wait without a word, and no worker would be checked)
        warn(f"--scheduler {address}: no workers yet; waiting up to {WAIT_FOR_WORKERS:g} s "
             f"for one to join")
        try:
            client.wait_for_workers(1, timeout=WAIT_FOR_WORKERS)
        except (TimeoutError, asyncio.TimeoutError):  # (two classes before Python 3.11)
            raise SpiceclError(f"--scheduler {address}: no worker joined within "
                               f"{WAIT_FOR_WORKERS:g} s; start workers (dask worker "
                               f"{address}) and rerun") from None
    # (spicecl by its source files, below: a checkout on PYTHONPATH has no installed version)
    for pkg in [p for p in packages if p != "spicecl"]:
        want = _version_here(pkg)
        theirs = client.run(version, pkg, on_error="return")
        for worker, got in sorted(theirs.items()):
            if isinstance(got, BaseException):
                need = f"{pkg} {want}" if want else pkg
                raise SpiceclError(f"--scheduler {address}: worker {worker} cannot use {pkg} "
                                   f"({type(got).__name__}); install {need} on the cluster's "
                                   f"workers")
            if got != want:
                raise SpiceclError(f"--scheduler {address}: worker {worker} runs {pkg} {got}, "
                                   f"this process {want}; the numbers would differ from a "
                                   f"local run: install the same version on the workers")
    for worker, got in sorted(client.run(probe, on_error="return").items()):
        _check_code(address, f"worker {worker}", got, mine)
    _warn_of_other_kernels(client, address)


def _warn_of_other_kernels(client, address: str) -> None:
    """Warn when workers' BLAS picked other kernels than this process's (another CPU type):
    their jobs then equal a local run's to rounding, not bit for bit (README,
    "Reproducibility across machines"). Not refused: a cluster of mixed machines is common."""
    from spicecl.results import blas_libraries

    here = blas_libraries()
    other = {w: b for w, b in sorted(client.run(blas_libraries, on_error="return").items())
             if isinstance(b, str) and b != here}
    if other:
        worker, theirs = next(iter(other.items()))
        warn(f"--scheduler {address}: {len(other)} worker(s) compute with other BLAS kernels "
             f"(e.g. {worker}: {theirs}; here: {here}): their jobs equal a local run's to "
             f"rounding, not bit for bit")


def _code_probe():
    """A function that returns :func:`code_identity` where it runs, or the exception that
    stopped spicecl's import there. Nested, so pickled by value: it runs where spicecl cannot
    be imported, or is another version."""

    def probe():
        import os

        try:
            import spicecl
        except Exception as exc:  # noqa: BLE001 - told by _check_code
            return exc
        try:
            from spicecl.sweep import code_identity
        except ImportError:  # an older spicecl
            return None, (), os.path.dirname(spicecl.__file__)
        return code_identity()

    return probe


def _check_code(address: str, who: str, got, mine: tuple) -> None:
    """Refuse ``who`` (a worker, or the scheduler: only its spicecl matters) whose probe
    gave ``got``."""
    if isinstance(got, BaseException):
        why = " ".join(f"{type(got).__name__}: {got}".split())[:200]
        need = f"spicecl {mine[1][0]}" if mine[1][0] else "spicecl"
        raise SpiceclError(f"--scheduler {address}: {who} cannot import spicecl ({why}); "
                           f"install {need} on the cluster's scheduler and workers (or set "
                           f"their PYTHONPATH)")
    scheduler = who == "the scheduler"
    if got[0] != mine[0] or (not scheduler and got[1] != mine[1]):
        why = ("it unpickles the jobs" if scheduler else
               "the numbers could differ from a local run")
        raise SpiceclError(f"--scheduler {address}: {_other_code(who, got, mine)}; {why}: "
                           f"give the cluster this process's code (the same checkout, or "
                           f"PYTHONPATH)")


def parse_scheduler_address(address: str) -> tuple[str, int]:
    """(host, port) of a ``tcp://HOST:PORT`` address; a one-line SpiceclError otherwise."""
    from urllib.parse import urlsplit

    usage = f"--scheduler {address!r}: expected an address like tcp://HOST:PORT"
    try:
        parts = urlsplit(address)
        port = parts.port
    except ValueError:  # a port that is no number or out of range
        raise SpiceclError(f"{usage} (bad port)") from None
    if parts.scheme != "tcp":
        got = f"scheme {parts.scheme!r}" if parts.scheme else "no scheme"
        raise SpiceclError(f"{usage} ({got}; only tcp:// is supported)")
    if not parts.hostname or port is None or parts.path not in ("", "/") or parts.query:
        raise SpiceclError(usage)
    return parts.hostname, port


def _probe_scheduler(address: str, timeout: float) -> None:
    """Open and close one comm to ``address`` (Dask handshake included), within timeout."""
    import asyncio

    from distributed.comm import connect

    async def probe():
        comm = await connect(address, timeout=timeout)
        await comm.close()

    asyncio.run(asyncio.wait_for(probe(), timeout + 1.0))


def run_sweep(chunks: list[Chunk], out_dir, config: dict, seed, *, workers: int = 1,
              scheduler: str | None = None, progress: bool | None = None,
              desc: str = "sweep", unit: str = "job",
              extra_manifest: dict | None = None) -> dict[str, dict]:
    """Run (or resume) ``chunks``; return {chunk name: result dict}.

    Parameters
    ----------
    out_dir : directory of the sweep (manifest.json and jobs/)
    config : JSON-able configuration; its hash guards the directory
    seed : the root seed (recorded in the manifest)
    workers : local processes (1: run in this process); ignored with ``scheduler``
    scheduler : ``tcp://HOST:PORT`` of a Dask scheduler
    progress : tqdm bar (default: only when stderr is a terminal)
    desc, unit : the bar's label and what the chunks' costs count ("job" for the default
        cost 1; reproduce's costs are task-steps)

    The returned dict also carries the run's statistics under the key ``"__stats__"``:
    ``{"computed": n, "loaded": n, "computed_cost": sum of the computed chunks' costs,
    "seconds": s, "versions_of_jobs": None, or the sets of versions that computed the jobs
    when more than one did (:func:`versions_of_jobs`)}``.
    """
    names = [c.name for c in chunks]
    if len(set(names)) != len(names):
        raise ValueError("chunk names must be unique")
    if int(workers) < 1:
        raise SpiceclError(f"--workers must be >= 1, got {workers}")
    out = Path(out_dir)
    check_out_dir(out, config)
    with sweep_lock(out):
        return _run_sweep_locked(chunks, out, config, seed, workers, scheduler, progress,
                                 desc, unit, extra_manifest)


def _run_sweep_locked(chunks, out: Path, config, seed, workers, scheduler, progress, desc,
                      unit, extra_manifest) -> dict[str, dict]:
    client = connect_scheduler(scheduler) if scheduler else None
    jobs_dir = out / "jobs"
    # Temporary files of a run killed while writing a job, or the figure's files (summary,
    # plot, CSVs, manifest) after the jobs: a sweep directory serves one run at a time.
    for where in (out, jobs_dir):
        remove_partial_writes(where)
    results, made_by = _load_finished(chunks, out)
    _warn_of_other_numerics(out, made_by)
    write_manifest(out, config, seed, status="running", **(extra_manifest or {}))
    todo = [c for c in chunks if c.name not in results]
    t0 = time.perf_counter()
    bar = _Progress(sum(c.cost for c in chunks), progress, desc, unit)
    bar.update(sum(c.cost for c in chunks if c.name in results))

    def finish(c: Chunk, res: dict, versions: dict) -> None:
        _write_job(jobs_dir / f"{c.name}.npz", res, versions)
        results[c.name], made_by[c.name] = res, versions
        bar.update(c.cost)

    try:
        if client is not None:
            with _quiet_dask_client():  # (closing included: it ends a failed reconnection)
                try:
                    _run_dask(client, todo, finish, scheduler)
                finally:
                    client.close()
        elif int(workers) == 1 or len(todo) <= 1:
            for c in todo:
                finish(c, *run_recorded(c.func, c.spec))
        else:
            # (no more processes than jobs: a pool of 2**31 workers raised OverflowError from
            # its semaphore, and any worker beyond the jobs would only start and idle)
            _run_pool(min(int(workers), len(todo)), todo, finish)
    finally:
        bar.close()
    stats = {"computed": len(todo), "loaded": len(chunks) - len(todo),
             "computed_cost": float(sum(c.cost for c in todo)),
             "seconds": time.perf_counter() - t0,
             "versions_of_jobs": versions_of_jobs({c.name: made_by[c.name] for c in chunks})}
    results["__stats__"] = stats
    return results


def pool_init() -> None:
    """Initializer of spicecl's worker processes (sweeps, oscillator banks)."""
    import signal
    import threading

    # One BLAS thread per worker process: the workers already fill the cores. (The number of
    # threads does not change the numbers.) numpy's BLAS was loaded, with a thread per core,
    # when this module imported numpy, before these variables: limit it too, unless the user
    # chose a number.
    variables = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
    if not any(var in os.environ for var in variables):
        from threadpoolctl import threadpool_limits

        threadpool_limits(limits=1, user_api="blas")
    for var in variables:
        os.environ.setdefault(var, "1")
    # Ctrl-C reaches the whole process group; the parent stops the workers itself, so a
    # worker must not print its own KeyboardInterrupt traceback ("Process SpawnProcess-1:").
    # (SIGINT is already blocked from the start: see submit_all.)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # stop_pool terminates the workers: an ngspice a worker waits for runs in its own session
    # and would outlive it
    signal.signal(signal.SIGTERM, _exit_now)
    # A parent that dies without stopping its workers (SIGKILL, or SIGTERM outside the CLI)
    # would leave them blocked for ever on a result pipe nobody reads: exit with it.
    threading.Thread(target=_exit_with_parent, args=(os.getppid(),), daemon=True,
                     name="spicecl-parent-watch").start()
    # tqdm's default lock is a multiprocessing semaphore; a worker terminated while holding
    # one (a failed or interrupted sweep) made Python's resource tracker print a "leaked
    # semaphore" warning after our one-line error. A worker only needs a thread lock.
    from tqdm import tqdm

    tqdm.set_lock(threading.RLock())


def _exit_now(signum=None, frame=None) -> None:
    """Leave a worker at once, killing the ngspice it waits for (if any) first."""
    runner = sys.modules.get("spicecl.spice.runner")  # (imported only if a job used it)
    if runner is not None:
        runner.kill_running()
    os._exit(1 if signum is None else 128 + signum)


def _exit_with_parent(parent: int, interval: float = 0.5) -> None:
    while os.getppid() == parent:
        time.sleep(interval)
    _exit_now()


def submit_all(ex: ProcessPoolExecutor, calls) -> dict:
    """Submit each ``(key, func, *args)`` of ``calls``: {future: key}; the workers (started by
    the submits) inherit a blocked SIGINT.

    Ctrl-C reaches the whole process group; the parent stops the workers itself. A worker
    still starting up (importing, before :func:`pool_init` ignores SIGINT) printed its own
    KeyboardInterrupt traceback. A signal mask is inherited through fork and exec; a Ctrl-C
    meanwhile stays pending in the parent and is raised when the mask is restored.
    """
    import signal

    block = hasattr(signal, "pthread_sigmask")
    old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT}) if block else None
    try:
        return {ex.submit(func, *args): key for key, func, *args in calls}
    finally:
        if block:
            signal.pthread_sigmask(signal.SIG_SETMASK, old)


def stop_pool(ex: ProcessPoolExecutor) -> None:
    """Stop a pool now (interrupted, or a job failed): queued jobs are dropped and running
    ones terminated, rather than run to the end as ``shutdown`` would."""
    procs = list((getattr(ex, "_processes", None) or {}).values())
    ex.shutdown(wait=False, cancel_futures=True)
    for proc in procs:
        proc.terminate()
    for proc in procs:
        proc.join(5)


def _wake_pool_manager(ex: ProcessPoolExecutor) -> None:
    """Make the executor's manager thread look at its worker processes again.

    A worker spawned on demand (the "spawn" start method) can be added after the manager
    thread began waiting on the workers' sentinels (``submit`` wakes it before spawning); if
    that worker then dies (OOM killer, kill -9), nothing was noticed until another job
    finished, which for long jobs meant a hang of their full length.
    """
    wakeup = getattr(ex, "_executor_manager_thread_wakeup", None)
    if wakeup is not None:
        try:
            wakeup.wakeup()
        except (OSError, ValueError):  # already closed: the pool is shutting down
            pass


def _run_pool(workers: int, todo: list[Chunk], finish) -> None:
    import multiprocessing as mp
    from concurrent.futures.process import BrokenProcessPool

    ctx = mp.get_context("spawn")  # no forked copies of threads, tqdm monitors or clients
    ex = ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=pool_init)
    try:
        pending = submit_all(ex, [(c, run_recorded, c.func, c.spec) for c in todo])
        while pending:
            done, _ = wait(pending, timeout=1.0, return_when=FIRST_COMPLETED)
            if not done:
                _wake_pool_manager(ex)
            for f in done:
                c = pending.pop(f)
                try:
                    res = f.result()
                except BrokenProcessPool:
                    # (the pool fails every pending job, so c need not be the culprit)
                    raise RunError("a worker process died (killed, or out of memory?); "
                                   "finished jobs are saved: rerun the same command to "
                                   "resume") from None
                finish(c, *res)
    except BaseException:
        # Interrupted (or a job failed): stop the workers now rather than letting them
        # finish their chunks; finished chunks are already on disk for a resume.
        stop_pool(ex)
        raise
    ex.shutdown(wait=True)


#: Seconds between looks at a Dask cluster's workers while no job finishes.
WATCH_EVERY = 2.0


@contextmanager
def _quiet_dask_client():
    """Silence ``distributed.client``'s log: a lost scheduler is reported in one line by
    :func:`_run_dask`, where distributed logs it as a traceback of ~30 lines (or a "failed to
    reconnect" line while the client closes)."""
    quiet = logging.getLogger("distributed.client")
    level = quiet.level
    quiet.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        quiet.setLevel(level)


def _run_dask(client, todo: list[Chunk], finish, address: str) -> None:
    from concurrent.futures import CancelledError

    from distributed import KilledWorker, as_completed

    futures = {client.submit(run_identified, c.func, c.spec, key=f"spicecl-{c.name}-{id(c):x}",
                             pure=False): c for c in todo}
    mine = code_identity()
    watch = _WorkerWatch(client, address)
    try:
        done = as_completed(list(futures), loop=client.loop)
        while not done.is_empty():
            batch = done.next_batch(block=False)
            if not batch:  # (polled: a cluster whose workers all left would wait for ever)
                watch.check(futures)
                time.sleep(0.1)
            for f in batch:
                c = futures[f]
                try:
                    theirs, recorded = f.result()
                except CancelledError:  # FutureCancelledError: the scheduler went away
                    raise RunError("lost the Dask scheduler (connection closed, or it "
                                   "cancelled the jobs); finished jobs are saved: rerun the "
                                   "same command to resume") from None
                except KilledWorker:
                    raise RunError(f"Dask workers died running job {c.name} (killed, or out "
                                   f"of memory?); finished jobs are saved: rerun the same "
                                   f"command to resume") from None
                if theirs[:2] != mine[:2]:  # (a worker that joined after check_cluster)
                    who = f"worker {next(iter(client.who_has([f]).get(f.key) or ()), '?')}"
                    raise SpiceclError(f"--scheduler {address}: job {c.name} was not saved: "
                                       f"{_other_code(who, theirs, mine)}; give every worker "
                                       f"this process's code and packages, then rerun the "
                                       f"same command to resume")
                finish(c, *recorded)  # (unpacked once known to be of this code's shape)
    finally:
        for f in futures:
            f.cancel()


class _WorkerWatch:
    """Notices a Dask cluster left without workers while jobs wait (all died, or were
    stopped): a warning, then a one-line RunError after :data:`WAIT_FOR_WORKERS` seconds."""

    def __init__(self, client, address: str):
        self.client, self.address = client, address
        self.last = time.monotonic()
        self.alone_since: float | None = None

    def check(self, futures) -> None:
        now = time.monotonic()
        if now - self.last < WATCH_EVERY or self.client.status != "running":
            return  # (not running: the lost scheduler is told by the cancelled jobs)
        self.last = now
        try:
            # (worker -> threads; scheduler_info(n_workers=0) gave no count before distributed
            # 2025 (dask/distributed#9045), and then nothing was watched)
            n = len(self.client.nthreads())
        except Exception:  # noqa: BLE001 - the scheduler is going away: the jobs will say so
            return
        if n != 0:
            self.alone_since = None
            return
        n = sum(not f.done() for f in futures)
        unfinished = f"{n} job{'s' if n != 1 else ''} unfinished"
        if self.alone_since is None:
            self.alone_since = now
            warn(f"--scheduler {self.address}: no Dask worker left ({unfinished}); "
                 f"waiting up to {WAIT_FOR_WORKERS:g} s for one to join")
        elif now - self.alone_since >= WAIT_FOR_WORKERS:
            raise RunError(f"--scheduler {self.address}: no Dask worker left for "
                           f"{WAIT_FOR_WORKERS:g} s ({unfinished}); finished jobs are "
                           f"saved: start workers (dask worker {self.address}) and "
                           f"rerun the same command to resume")
