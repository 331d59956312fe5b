"""Sweeps: seeds, executors agree bit for bit, resume, refusing another configuration."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from spicecl import sweep
from spicecl.errors import SpiceclError
from spicecl.experiments.common import TaskSpec, TrainChunk, run_train_chunk
from spicecl.learning import LearningConfig
from spicecl.sweep import Chunk, connect_scheduler, run_sweep, spawn_seeds

CALLS: list[str] = []
FAIL_ON: set[str] = set()


def counting_job(spec):
    """A job that records its executions (runs in this process: workers=1)."""
    CALLS.append(spec["name"])
    if spec["name"] in FAIL_ON:
        raise KeyboardInterrupt  # an interrupted sweep
    return {"value": np.array([spec["x"] ** 2])}


def sleepy_or_failing_job(spec):
    """Runs in a pool worker: sleeps, or fails at once."""
    if spec == "fail":
        raise ValueError("job failed")
    time.sleep(30)
    return {}


def killed_job(spec):
    """Runs in a pool worker and dies as the kernel's OOM killer would kill it."""
    os.kill(os.getpid(), signal.SIGKILL)


def sigint_state_job(spec):
    """Runs in a pool worker: how it would take a Ctrl-C sent to the process group."""
    blocked = signal.SIGINT in signal.pthread_sigmask(signal.SIG_BLOCK, [])
    return {"ignored": np.array(signal.getsignal(signal.SIGINT) == signal.SIG_IGN),
            "blocked": np.array(blocked)}


def blas_threads_job(spec):
    """Runs in a pool worker: the threads of each BLAS library loaded after importing scipy's."""
    import importlib

    from threadpoolctl import threadpool_info

    importlib.import_module("scipy.linalg")  # loads scipy's own BLAS too
    return {"threads": np.array([i["num_threads"] for i in threadpool_info()
                                 if i["user_api"] == "blas"])}


def lock_probe_job(spec):
    """Runs in this process: whether another thread finds sweep directory ``spec`` locked."""
    import threading

    from spicecl.results import directory_lock

    held = []

    def probe():
        try:
            with directory_lock(spec, wait=False):
                held.append(False)
        except BlockingIOError:
            held.append(True)

    t = threading.Thread(target=probe)
    t.start()
    t.join()
    return {"held": np.array(held[0])}


def pid_then_sleep_job(spec):
    """Runs in a pool worker: leaves its pid in directory ``spec``, then sleeps."""
    (Path(spec) / str(os.getpid())).touch()
    time.sleep(60)
    return {}


def small_chunks(root: int = 7) -> list[Chunk]:
    task = TaskSpec(kind="regression", n_train=8, n_test=8)
    tseeds = spawn_seeds(root, 4, stream=0)
    chunks = []
    for ip, p in enumerate((1.0, 0.5)):
        rseeds = spawn_seeds(root, 4, stream=1 + ip)
        cfg = LearningConfig(p=p, batch="single", gamma=3e10)
        for start in (0, 2):
            spec = TrainChunk("exp16", 0, task, tuple(tseeds[start:start + 2]), (cfg, cfg),
                              tuple(rseeds[start:start + 2]), 60, n_records=7)
            chunks.append(Chunk(f"p{p}_t{start}", run_train_chunk, spec))
    return chunks


def assert_same(a: dict, b: dict) -> None:
    assert set(a) - {"__stats__"} == set(b) - {"__stats__"}
    for name in a:
        if name == "__stats__":
            continue
        for key in a[name]:
            if key == "cpu_seconds":
                continue
            np.testing.assert_array_equal(a[name][key], b[name][key], err_msg=f"{name}/{key}")


def test_spawn_seeds_are_stable_and_distinct():
    a = [np.random.default_rng(s).random() for s in spawn_seeds(3, 5)]
    b = [np.random.default_rng(s).random() for s in spawn_seeds(3, 5)]
    c = [np.random.default_rng(s).random() for s in spawn_seeds(3, 5, stream=1)]
    assert a == b
    assert len(set(a + c)) == 10
    # streams of neighbouring root seeds do not overlap either (--seed 4 is not --seed 3's
    # stream 1)
    d = [np.random.default_rng(s).random() for s in spawn_seeds(4, 5, stream=0)]
    assert not set(d) & set(a + c)
    # the documented scheme that committed sweeps were drawn with: spawn key (stream, index);
    # another order gives other, equally distinct, numbers (only this pins them)
    for s, i in ((0, 3), (2, 1)):
        seq = spawn_seeds(3, 5, stream=s)[i]
        assert seq.entropy == 3 and seq.spawn_key == (s, i)


def test_a_directory_with_jobs_but_no_manifest_is_refused(tmp_path):
    # (a sweep killed before its manifest, or copied jobs: resuming would mix in chunks of
    # an unknown configuration)
    from spicecl.errors import SpiceclError
    from spicecl.sweep import check_out_dir

    (tmp_path / "jobs").mkdir()
    np.savez(tmp_path / "jobs" / "a.npz", x=np.zeros(2))
    with pytest.raises(SpiceclError, match="has job results but no manifest.json"):
        check_out_dir(tmp_path, {"t": 1})


def test_a_sweep_directory_in_use_by_another_run_is_refused(tmp_path):
    """A second run of a sweep while the first still runs (a resume started too early) is
    refused in one line, before it touches the directory: it computed every unfinished job a
    second time, and removed the first run's half-written job files, which made that fail."""
    from conftest import directory_held_by_another_process

    from spicecl.errors import SpiceclError

    out = tmp_path / "sweep"
    (out / "jobs").mkdir(parents=True)
    half = out / "jobs" / ".a.npz.x1y2.tmp"  # the other run is writing job a
    half.write_bytes(b"PK")
    with directory_held_by_another_process(out):
        CALLS.clear()
        chunks = [Chunk("a", counting_job, {"name": "a", "x": 2.0})]
        with pytest.raises(SpiceclError) as exc:
            run_sweep(chunks, out, {"t": "lock"}, 0)
        assert "\n" not in str(exc.value)
        assert f"--out {out} is in use by another run of this sweep" in str(exc.value)
        assert CALLS == [] and half.exists() and not (out / "manifest.json").exists()
    res = run_sweep(chunks, out, {"t": "lock"}, 0)  # once it has ended: runs
    assert CALLS == ["a"] and res["a"]["value"][0] == 4.0


def test_a_job_file_holding_pickled_objects_is_not_loaded(tmp_path):
    # np.load with allow_pickle would run the pickle's code; such a file is recomputed
    from spicecl.sweep import _load_chunk

    np.savez(tmp_path / "a.npz", x=np.array([{"a": 1}], dtype=object))
    assert _load_chunk(tmp_path / "a.npz") is None
    np.savez(tmp_path / "b.npz", x=np.arange(3.0))
    np.testing.assert_array_equal(_load_chunk(tmp_path / "b.npz")[0]["x"], np.arange(3.0))


@pytest.mark.parametrize("flags", [{}, {"noise": True}, {"keep_snapshots": True},
                                   {"diffusion": True, "noise": True, "keep_snapshots": True}])
def test_a_train_chunk_holds_what_its_job_returns_and_nothing_else(flags):
    """TrainChunk.holds, by which a sweep recomputes job files of foreign contents, accepts
    every result run_train_chunk gives (each combination of the optional arrays)."""
    spec = replace(small_chunks()[3].spec, steps=9, n_snapshots=3, **flags)
    res = run_train_chunk(spec)
    assert spec.holds(res)
    assert not spec.holds({**res, "extra": np.zeros(2)})
    assert not replace(spec, steps=10).holds(res)


def test_local_pool_matches_in_process(tmp_path):
    chunks = small_chunks()
    one = run_sweep(chunks, tmp_path / "one", {"t": 1}, 7, workers=1)
    two = run_sweep(chunks, tmp_path / "two", {"t": 1}, 7, workers=2)
    assert_same(one, two)
    assert two["__stats__"]["computed"] == len(chunks)
    # the p = 0.5 runs learn something and differ from p = 1
    assert not np.array_equal(one["p1.0_t0"]["final_resistance"],
                              one["p0.5_t0"]["final_resistance"])


@pytest.mark.dask
def test_dask_cluster_matches_local_pool(tmp_path, monkeypatch):
    distributed = pytest.importorskip("distributed")
    chunks = small_chunks()
    local = run_sweep(chunks, tmp_path / "local", {"t": 1}, 7, workers=2)
    clients = []

    def connect(address):
        clients.append(connect_scheduler(address))
        return clients[-1]

    monkeypatch.setattr(sweep, "connect_scheduler", connect)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=":0") as cluster:
        remote = run_sweep(chunks, tmp_path / "dask", {"t": 1}, 7,
                           scheduler=cluster.scheduler_address)
        # the sweep's connection to the cluster is closed with the sweep, not left open
        assert [c.status for c in clients] == ["closed"]
    assert_same(local, remote)


@pytest.mark.dask
def test_reproduce_on_a_dask_cluster_from_the_command_line(tmp_path, capsys):
    """`spicecl reproduce --scheduler tcp://...` (version check, every chunk on the cluster)
    writes the same numbers as the local pool, byte for byte."""
    from spicecl.cli import main

    distributed = pytest.importorskip("distributed")
    assert main(["reproduce", "fig4c", "--quick", "--workers", "2", "--out",
                 str(tmp_path / "local")]) == 0
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=":0") as cluster:
        assert cluster.scheduler_address.startswith("tcp://")
        assert main(["reproduce", "fig4c", "--quick", "--scheduler", cluster.scheduler_address,
                     "--out", str(tmp_path / "dask")]) == 0
    capsys.readouterr()
    for name in ("final_errors.csv", "summary.json"):
        local = (tmp_path / "local" / "fig4c" / name).read_text()
        dask = (tmp_path / "dask" / "fig4c" / name).read_text()
        if name == "summary.json":
            local, dask = (json.loads(x) for x in (local, dask))
            run = dask.pop("run"), local.pop("run")
            assert run[0]["scheduler"] == cluster.scheduler_address, run[0]
        assert local == dask, name


@pytest.mark.dask
def test_a_killed_dask_worker_is_a_one_line_error(tmp_path):
    # was a KilledWorker traceback
    distributed = pytest.importorskip("distributed")
    import dask

    with dask.config.set({"distributed.scheduler.allowed-failures": 0}), \
            distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True,
                                     dashboard_address=":0") as cluster:
        with pytest.raises(SpiceclError, match="Dask workers died running job killed"):
            run_sweep([Chunk("killed", killed_job, None)], tmp_path, {"job": "killed"}, 0,
                      scheduler=cluster.scheduler_address)


@pytest.mark.dask
def test_a_scheduler_without_workers_is_waited_for_then_refused(tmp_path, monkeypatch, capsys):
    # the jobs waited for ever without a word, and no worker was version-checked
    distributed = pytest.importorskip("distributed")
    from spicecl import sweep

    monkeypatch.setattr(sweep, "WAIT_FOR_WORKERS", 1.0)
    with distributed.LocalCluster(n_workers=0, dashboard_address=":0") as cluster:
        with pytest.raises(SpiceclError, match="no worker joined within 1 s; start workers"):
            run_sweep([Chunk("a", sleepy_or_failing_job, "ok")], tmp_path, {"job": "none"}, 0,
                      scheduler=cluster.scheduler_address)
    assert "no workers yet; waiting up to 1 s" in capsys.readouterr().err


@pytest.mark.dask
def test_a_lost_dask_scheduler_is_a_one_line_error(tmp_path):
    # was a FutureCancelledError traceback ("scheduler-connection-lost"), then a ~30-line
    # traceback logged by distributed while the client closed (its reconnection cancelled)
    pytest.importorskip("distributed")
    addr, pids = tmp_path / "address", tmp_path / "pids"
    pids.mkdir()
    code = ("import time; from distributed import LocalCluster\n"
            "if __name__ == '__main__':\n"
            "    c = LocalCluster(n_workers=1, threads_per_worker=1, processes=True, "
            "dashboard_address=':0')\n"
            f"    open({str(addr)!r}, 'w').write(c.scheduler_address)\n"
            "    time.sleep(120)\n")
    script = tmp_path / "cluster.py"
    script.write_text(code)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(  # its workers import this module
        [str(Path(__file__).parent), *filter(None, [os.environ.get("PYTHONPATH")])])}
    cluster = subprocess.Popen([sys.executable, str(script)], start_new_session=True, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def kill_cluster_once_the_job_runs():
        while not any(pids.iterdir()) and cluster.poll() is None:
            time.sleep(0.1)
        os.killpg(cluster.pid, signal.SIGKILL)

    import threading

    try:
        deadline = time.monotonic() + 60
        while not (addr.exists() and addr.read_text()):
            assert cluster.poll() is None and time.monotonic() < deadline
            time.sleep(0.1)
        threading.Thread(target=kill_cluster_once_the_job_runs, daemon=True).start()
        t0 = time.monotonic()
        logged = []  # what distributed's client logs (to stderr, not seen by caplog)
        handler = logging.Handler(logging.ERROR)
        handler.emit = logged.append
        logging.getLogger("distributed.client").addHandler(handler)
        try:
            with pytest.raises(SpiceclError, match="lost the Dask scheduler"):
                run_sweep([Chunk("sleep", pid_then_sleep_job, str(pids))], tmp_path / "out",
                          {"job": "lost"}, 0, scheduler=addr.read_text())
        finally:
            logging.getLogger("distributed.client").removeHandler(handler)
        assert time.monotonic() - t0 < 40
        assert not logged, [r.getMessage() for r in logged]
    finally:
        try:
            os.killpg(cluster.pid, signal.SIGKILL)
        except OSError:
            pass
        cluster.wait()


@pytest.mark.dask
def test_a_cluster_left_without_workers_is_a_one_line_error(tmp_path):
    # all workers gone (died, stopped) while jobs wait: the run waited for ever without a word
    pytest.importorskip("distributed")
    pids = tmp_path / "pids"
    pids.mkdir()
    code = ("import threading, time\n"
            "from distributed import LocalCluster\n"
            "from spicecl import sweep\n"
            "from spicecl.errors import SpiceclError\n"
            "from test_sweep import pid_then_sleep_job\n"
            "if __name__ == '__main__':\n"
            "    sweep.WAIT_FOR_WORKERS = 1.0\n"
            "    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True, "
            "dashboard_address=':0') as cluster:\n"
            "        def stop():\n"
            f"            while not any(__import__('os').scandir({str(pids)!r})):\n"
            "                time.sleep(0.1)\n"
            "            cluster.scale(0)\n"
            "        threading.Thread(target=stop, daemon=True).start()\n"
            "        try:\n"
            "            sweep.run_sweep([sweep.Chunk('sleep', pid_then_sleep_job, "
            f"{str(pids)!r})], {str(tmp_path / 'out')!r}, {{'job': 'left'}}, 0, "
            "scheduler=cluster.scheduler_address)\n"
            "        except SpiceclError as exc:\n"
            "            print(f'{type(exc).__name__}: {exc}')\n")
    script = tmp_path / "left.py"
    script.write_text(code)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(  # its workers import this module
        [str(Path(__file__).parent), *filter(None, [os.environ.get("PYTHONPATH")])])}
    try:
        out = subprocess.run([sys.executable, str(script)], env=env, capture_output=True,
                             text=True, timeout=40)
    except subprocess.TimeoutExpired:
        pytest.fail("the sweep still waited 40 s after its cluster's last worker left")
    assert out.stdout.startswith("RunError: --scheduler tcp://"), out.stdout + out.stderr[-2000:]
    assert "no Dask worker left for 1 s (1 job unfinished); finished jobs are saved" in out.stdout
    assert "no Dask worker left (1 job unfinished); waiting up to 1 s" in out.stderr


def test_resume_skips_finished_jobs(tmp_path):
    chunks = [Chunk(f"c{i}", counting_job, {"name": f"c{i}", "x": float(i)}) for i in range(5)]
    CALLS.clear()
    FAIL_ON.clear()
    FAIL_ON.add("c3")
    with pytest.raises(KeyboardInterrupt):
        run_sweep(chunks, tmp_path, {"job": "count"}, 0)
    assert CALLS == ["c0", "c1", "c2", "c3"]
    assert sorted(p.name for p in (tmp_path / "jobs").iterdir()) == \
        ["c0.npz", "c1.npz", "c2.npz"]
    CALLS.clear()
    FAIL_ON.clear()
    res = run_sweep(chunks, tmp_path, {"job": "count"}, 0)
    assert CALLS == ["c3", "c4"]
    assert res["__stats__"]["loaded"] == 3 and res["__stats__"]["computed"] == 2
    assert [float(res[f"c{i}"]["value"][0]) for i in range(5)] == [0.0, 1.0, 4.0, 9.0, 16.0]
    CALLS.clear()
    run_sweep(chunks, tmp_path, {"job": "count"}, 0)
    assert CALLS == []


def compute_with(monkeypatch, **other) -> None:
    """Make this process compute with (and record) other versions than its own."""
    from spicecl import results

    real = results.numerics
    monkeypatch.setattr(results, "numerics", lambda: {**real(), **other})


def as_before_job_records(out: Path) -> None:
    """Make the job files of sweep directory ``out`` as spicecl wrote them before they recorded
    the versions that computed them."""
    for path in (out / "jobs").glob("*.npz"):
        with np.load(path) as z:
            arrays = {k: z[k] for k in z.files if k != sweep.VERSIONS_ENTRY}
        np.savez_compressed(path, **arrays)


def test_every_resume_says_its_jobs_were_computed_with_other_numerics(tmp_path, capsys,
                                                                       monkeypatch):
    """A sweep resumed on another machine (other BLAS kernels) or with another numpy or scipy
    mixes its jobs' roundings with this process's. The warning read the versions from the
    manifest, which every run rewrites: a second resume said nothing, and the sweep claimed
    one set of versions for jobs computed with two. Each job file records its own."""
    chunks = small_chunks()
    run_sweep(chunks[:1], tmp_path, {"t": 1}, 7)
    stats = run_sweep(chunks[:2], tmp_path, {"t": 1}, 7)["__stats__"]
    assert capsys.readouterr().err == "" and stats["versions_of_jobs"] is None  # the same
    with monkeypatch.context() as other:
        compute_with(other, blas="openblas 0.3.30 Sandybridge")
        run_sweep(chunks[:3], tmp_path, {"t": 1}, 7)
    capsys.readouterr()
    for resume in (chunks, chunks):  # (the first computes the last job, the second loads)
        stats = run_sweep(resume, tmp_path, {"t": 1}, 7)["__stats__"]
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "resuming jobs computed with other numerics (blas " in err
        assert "blas openblas 0.3.30 Sandybridge there" in err, err
        mix = stats["versions_of_jobs"]
        names = [c.name for c in chunks]
        assert [s["jobs"] for s in mix] == [names[:2] + names[3:], names[2:3]], mix
        assert mix[1]["versions"]["blas"] == "openblas 0.3.30 Sandybridge"
        assert mix[0]["versions"] == {**mix[1]["versions"], "blas": mix[0]["versions"]["blas"]}


def test_every_resume_says_its_jobs_were_computed_by_other_code(tmp_path, capsys, monkeypatch):
    from spicecl.results import source_hash

    chunks = small_chunks()
    with monkeypatch.context() as other:
        compute_with(other, spicecl_source="0123456789abcdef")
        run_sweep(chunks[:2], tmp_path, {"t": 1}, 7)
    for resume in (chunks[:3], chunks[:3]):
        stats = run_sweep(resume, tmp_path, {"t": 1}, 7)["__stats__"]
        err = capsys.readouterr().err
        assert err.count("\n") == 1, err
        assert (f"resuming jobs computed by other spicecl code (source 0123456789abcdef "
                f"there, {source_hash()} here)") in err
        assert [s["jobs"] for s in stats["versions_of_jobs"]] == [[c.name for c in chunks[:2]],
                                                                  [chunks[2].name]]


def test_jobs_from_before_their_versions_were_recorded_take_their_manifests(tmp_path, capsys,
                                                                            monkeypatch):
    """Job files without versions (an older spicecl's) get those of their manifest, the best
    known, and keep them: every run rewrites the manifest. A version the manifest lacks (it
    predates it) is not taken for another."""
    chunks = small_chunks()
    run_sweep(chunks[:2], tmp_path, {"t": 1}, 7)
    as_before_job_records(tmp_path)
    man = tmp_path / "manifest.json"
    m = json.loads(man.read_text())
    del m["versions"]["spicecl_source"], m["versions"]["blas"]
    man.write_text(json.dumps(m))
    for resume in (chunks[:3], chunks):
        stats = run_sweep(resume, tmp_path, {"t": 1}, 7)["__stats__"]
        assert capsys.readouterr().err == "" and stats["versions_of_jobs"] is None
    # one whose manifest names other numerics: said at the first resume and the next
    as_before_job_records(tmp_path)
    m = json.loads(man.read_text())
    m["versions"]["numpy"] = "0.0.1"
    man.write_text(json.dumps(m))
    with monkeypatch.context() as other:  # (this run's manifest would say 0.0.2)
        compute_with(other, numpy="0.0.2")
        run_sweep(chunks, tmp_path, {"t": 1}, 7)
    assert "numpy 0.0.1 there, 0.0.2 here" in capsys.readouterr().err
    run_sweep(chunks, tmp_path, {"t": 1}, 7)
    assert f"numpy 0.0.1 there, {np.__version__} here" in capsys.readouterr().err


def test_failed_job_stops_the_pool_promptly(tmp_path):
    chunks = [Chunk("slow", sleepy_or_failing_job, "sleep"),
              Chunk("fail", sleepy_or_failing_job, "fail")]
    t0 = time.monotonic()
    with pytest.raises(ValueError, match="job failed"):
        run_sweep(chunks, tmp_path, {"job": "fail"}, 0, workers=2)
    assert time.monotonic() - t0 < 20  # the sleeping worker was stopped, not waited for


def test_a_killed_worker_is_a_one_line_error(tmp_path):
    # a worker killed by the OOM killer (or by hand) was a BrokenProcessPool traceback
    chunks = [Chunk("slow", sleepy_or_failing_job, "sleep"), Chunk("killed", killed_job, None)]
    t0 = time.monotonic()
    with pytest.raises(SpiceclError, match="worker process died") as info:
        run_sweep(chunks, tmp_path, {"job": "killed"}, 0, workers=2)
    assert "rerun the same command to resume" in str(info.value)
    assert info.value.exit_status == 1  # a run that failed, not input refused (2)
    assert time.monotonic() - t0 < 20


def test_pool_workers_leave_ctrl_c_to_the_parent(tmp_path):
    # Ctrl-C reaches every process of the group; a worker that took it printed "Process
    # SpawnProcess-1:" and a KeyboardInterrupt traceback (at start-up: from spawn_main) after
    # the parent's one-line "spicecl: interrupted". The parent stops the workers itself.
    chunks = [Chunk(f"c{i}", sigint_state_job, i) for i in range(2)]
    res = run_sweep(chunks, tmp_path, {"job": "sigint"}, 0, workers=2)
    for i in range(2):
        assert bool(res[f"c{i}"]["ignored"]) and bool(res[f"c{i}"]["blocked"])
    assert signal.SIGINT not in signal.pthread_sigmask(signal.SIG_BLOCK, [])  # parent: restored


def test_pool_workers_run_one_blas_thread(tmp_path, monkeypatch):
    """The workers fill the cores: each runs one BLAS thread. OPENBLAS_NUM_THREADS=1, set by
    the worker's initializer, came after numpy had loaded its BLAS with a thread per core
    (importing spicecl.sweep imports numpy), so only scipy's took it: numpy's kept 2 here."""
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        monkeypatch.delenv(var, raising=False)
    res = run_sweep([Chunk(f"c{i}", blas_threads_job, i) for i in range(2)], tmp_path,
                    {"job": "blas"}, 0, workers=2)
    for i in range(2):
        assert len(res[f"c{i}"]["threads"]) >= 1 and set(res[f"c{i}"]["threads"]) == {1}


def _running(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")
def test_workers_exit_when_the_parent_is_killed(tmp_path):
    # a parent killed without stopping its pool (SIGKILL; SIGTERM outside the CLI) left its
    # workers behind for ever, blocked on a result pipe nobody reads
    pids = tmp_path / "pids"
    pids.mkdir()
    code = (f"import sys; sys.path.insert(0, {str(Path(__file__).parent)!r}); "
            f"import test_sweep; from spicecl.sweep import Chunk, run_sweep; "
            f"run_sweep([Chunk(f'c{{i}}', test_sweep.pid_then_sleep_job, {str(pids)!r}) "
            f"for i in range(2)], {str(tmp_path / 'out')!r}, {{'job': 'orphans'}}, 0, "
            f"workers=2)")
    proc = subprocess.Popen([sys.executable, "-c", code])
    workers: list[int] = []
    try:
        deadline = time.monotonic() + 60
        while len(list(pids.iterdir())) < 2:
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.1)
        workers = [int(p.name) for p in pids.iterdir()]
        proc.kill()
        proc.wait()
        deadline = time.monotonic() + 10
        while any(_running(w) for w in workers) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not [w for w in workers if _running(w)]
    finally:
        proc.kill()
        for w in workers:
            if _running(w):
                os.kill(w, signal.SIGKILL)


def test_a_damaged_job_file_is_recomputed(tmp_path):
    # a truncated NPZ raised zipfile.BadZipFile (a traceback) instead of being recomputed
    chunks = [Chunk(f"c{i}", counting_job, {"name": f"c{i}", "x": float(i)}) for i in range(3)]
    FAIL_ON.clear()
    run_sweep(chunks, tmp_path, {"job": "count"}, 0)
    job = tmp_path / "jobs" / "c1.npz"
    good = job.read_bytes()
    for damaged in (good[:len(good) // 2], good[:40], b"PK\x03\x04" + bytes(60), b""):
        job.write_bytes(damaged)
        CALLS.clear()
        res = run_sweep(chunks, tmp_path, {"job": "count"}, 0)
        assert CALLS == ["c1"]
        assert res["__stats__"]["loaded"] == 2 and float(res["c1"]["value"][0]) == 1.0


@pytest.mark.parametrize("text,why", [
    ("[1, 2]", "not a JSON object"), ("null", "not a JSON object"),
    ("\"config_hash\"", "not a JSON object"), ("{\"config_hash\":", "not JSON: Expecting value"),
    ("", "not JSON: Expecting value"), ("\udcff", "not JSON: 'utf-8' codec can't decode"),
    ("[" * 100_000, "not JSON: nested too deeply")])  # (json's RecursionError: a traceback)
def test_a_damaged_manifest_is_a_one_line_error(tmp_path, text, why):
    # valid JSON that is no object was an AttributeError traceback; the message says why
    chunks = [Chunk("c0", counting_job, {"name": "c0", "x": 1.0})]
    (tmp_path / "manifest.json").write_bytes(text.encode("utf-8", "surrogateescape"))
    with pytest.raises(SpiceclError, match="unreadable manifest.json") as exc:
        run_sweep(chunks, tmp_path, {"job": "count"}, 0)
    assert f"({why}" in str(exc.value) and "\n" not in str(exc.value)


def test_output_dir_of_another_configuration_is_refused(tmp_path):
    chunks = [Chunk("c0", counting_job, {"name": "c0", "x": 1.0})]
    run_sweep(chunks, tmp_path, {"job": "count", "n": 1}, 0)
    with pytest.raises(SpiceclError, match="another configuration"):
        run_sweep(chunks, tmp_path, {"job": "count", "n": 2}, 0)


def test_unreachable_scheduler_fails_fast():
    t0 = time.monotonic()
    with pytest.raises(SpiceclError, match="cannot connect") as info:
        connect_scheduler("tcp://127.0.0.1:1", timeout=2)
    assert time.monotonic() - t0 < 15
    assert "\n" not in str(info.value)
    # a refused connection says so (it was "Timed out trying to connect ... after 2 s")
    assert "Connection refused" in str(info.value)
    with pytest.raises(SpiceclError, match="tcp://HOST:PORT"):
        connect_scheduler("localhost")


@pytest.mark.dask
def test_a_cluster_without_our_packages_or_versions_is_refused(monkeypatch):
    # a cluster without spicecl gave a Dask RuntimeError traceback at the first job; another
    # version would silently give other numbers than a local run
    distributed = pytest.importorskip("distributed")
    from spicecl import sweep
    from spicecl.sweep import check_cluster

    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True,
                                  dashboard_address=":0") as cluster, \
            distributed.Client(cluster.scheduler_address, set_as_default=False) as client:
        check_cluster(client, "A")  # same environment: fine
        with pytest.raises(SpiceclError, match=r"--scheduler A: worker tcp://\S+ cannot use "
                           r"no-such-package-xyz \(PackageNotFoundError\); install"):
            check_cluster(client, "A", packages=("no-such-package-xyz",))
        monkeypatch.setattr(sweep, "_version_here", lambda pkg: "0.0.other")  # this process
        with pytest.raises(SpiceclError, match=r"runs numpy \S+, this process 0.0.other; the "
                           "numbers would differ"):
            check_cluster(client, "A", packages=("numpy",))


@pytest.mark.dask
def test_workers_with_other_blas_kernels_are_told(capsys):
    # a worker on another CPU type rounds in the last bit (README, "Reproducibility across
    # machines"): its jobs are not bit for bit a local run's, which the user is told
    distributed = pytest.importorskip("distributed")
    from spicecl.results import blas_libraries
    from spicecl.sweep import check_cluster

    kernels = "Nehalem" if "Sandybridge" in blas_libraries() else "Sandybridge"
    for env, told in (({}, False), ({"OPENBLAS_CORETYPE": kernels}, True)):
        with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True,
                                      dashboard_address=":0", env=env) as cluster, \
                distributed.Client(cluster.scheduler_address, set_as_default=False) as client:
            check_cluster(client, "A")
        err = capsys.readouterr().err
        assert ("compute with other BLAS kernels" in err) == told, err
        assert (kernels in err) == told


@pytest.mark.dask
def test_workers_that_cannot_import_spicecl_or_run_other_code_are_refused(tmp_path):
    # both passed the check (it compared the installed versions only): a worker that could
    # not import spicecl shut itself down at its first job and the run waited for ever; a
    # worker with another checkout of the same version (PYTHONPATH unset, say) silently ran
    # other code
    import shutil

    import spicecl
    distributed = pytest.importorskip("distributed")
    from spicecl.sweep import check_cluster

    broken = tmp_path / "broken" / "spicecl"
    broken.mkdir(parents=True)
    (broken / "__init__.py").write_text("raise ModuleNotFoundError('no spicecl here')\n")
    other = tmp_path / "other"
    shutil.copytree(Path(spicecl.__file__).parent, other / "spicecl",
                    ignore=shutil.ignore_patterns("__pycache__"))
    with open(other / "spicecl" / "learning.py", "a") as fh:
        fh.write("\n# another revision\n")
    for path, words in [(broken.parent, r"cannot import spicecl \(ModuleNotFoundError: no "
                                        r"spicecl here\); install spicecl"),
                        (other, rf"runs other spicecl code \(from {other / 'spicecl'}\) than "
                                r"this process")]:
        # a worker of its own environment (a LocalCluster's workers get this process's
        # sys.path), started elsewhere than in the checkout
        with distributed.LocalCluster(n_workers=0, dashboard_address=":0") as cluster, \
                distributed.Client(cluster.scheduler_address, set_as_default=False) as client:
            worker = subprocess.Popen(
                [sys.executable, "-m", "distributed.cli.dask_worker", cluster.scheduler_address,
                 "--nthreads", "1", "--no-nanny", "--no-dashboard"], cwd=tmp_path,
                env={**os.environ, "PYTHONPATH": str(path)}, start_new_session=True,
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            try:
                client.wait_for_workers(1, timeout=30)
                with pytest.raises(SpiceclError,
                                   match=rf"--scheduler A: worker tcp://\S+ {words}"):
                    check_cluster(client, "A")
            finally:
                os.killpg(worker.pid, signal.SIGKILL)
                worker.wait()


def _start_scheduler(tmp_path, **env):
    """A `dask scheduler` in its own session (kill it with os.killpg), with ``env`` added to
    its environment, and its address once it listens."""
    info = tmp_path / "scheduler.json"
    scheduler = subprocess.Popen(
        [sys.executable, "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1",
         "--port", "0", "--dashboard-address", ":0", "--scheduler-file", str(info)],
        cwd=tmp_path, env={**os.environ, **env}, start_new_session=True,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while not info.exists() or not info.read_text():
        if scheduler.poll() is not None or time.monotonic() > deadline:
            if scheduler.poll() is None:
                os.killpg(scheduler.pid, signal.SIGKILL)
                scheduler.wait()
            pytest.fail("the dask scheduler did not start")
        time.sleep(0.1)
    return scheduler, json.loads(info.read_text())["address"]


@pytest.mark.dask
def test_a_scheduler_that_cannot_import_spicecl_is_refused(tmp_path, monkeypatch):
    # it unpickles the jobs: the run ended in a RuntimeError traceback ("Error during
    # deserialization of the task graph")
    pytest.importorskip("distributed")
    from spicecl import sweep

    monkeypatch.setattr(sweep, "WAIT_FOR_WORKERS", 1.0)
    broken = tmp_path / "broken" / "spicecl"
    broken.mkdir(parents=True)
    (broken / "__init__.py").write_text("raise ModuleNotFoundError('no spicecl here')\n")
    scheduler, address = _start_scheduler(tmp_path, PYTHONPATH=str(broken.parent))
    try:
        with pytest.raises(SpiceclError, match="the scheduler cannot import spicecl "
                                               r"\(ModuleNotFoundError: no spicecl here\)"):
            connect_scheduler(address, timeout=5)
    finally:
        os.killpg(scheduler.pid, signal.SIGKILL)
        scheduler.wait()


@pytest.mark.dask
def test_a_scheduler_lost_while_the_cluster_is_checked_is_a_one_line_error(tmp_path,
                                                                           monkeypatch):
    # the scheduler went away while the run waited for its first worker: a traceback of 70
    # lines (OSError: Timed out trying to connect), after distributed's own ERROR log line
    pytest.importorskip("distributed")
    from spicecl import sweep
    from spicecl.errors import RunError

    scheduler, address = _start_scheduler(tmp_path)

    def kill_the_scheduler(message):  # (told when the run starts to wait for a worker)
        assert "no workers yet" in message
        os.killpg(scheduler.pid, signal.SIGKILL)
        scheduler.wait()

    logged = []  # what distributed's client logs (to stderr, not seen by caplog)
    handler = logging.Handler(logging.ERROR)
    handler.emit = logged.append
    logging.getLogger("distributed.client").addHandler(handler)
    try:
        monkeypatch.setattr(sweep, "warn", kill_the_scheduler)
        with pytest.raises(RunError) as exc:
            connect_scheduler(address, timeout=1)
        assert str(exc.value).startswith(f"--scheduler {address}: lost the Dask scheduler "
                                         f"while checking the cluster ("), exc.value
        assert "\n" not in str(exc.value) and exc.value.exit_status == 1
        assert not logged, [r.getMessage() for r in logged]
    finally:
        logging.getLogger("distributed.client").removeHandler(handler)
        if scheduler.poll() is None:
            os.killpg(scheduler.pid, signal.SIGKILL)
            scheduler.wait()


def run_identified_before_versions(func, spec):
    """run_identified of spicecl before job files recorded versions, as a worker of that code
    runs it: (its code identity, the result alone)."""
    from spicecl.sweep import code_identity

    return ("older code", *code_identity()[1:]), func(spec)


@pytest.mark.dask
@pytest.mark.parametrize("before_versions", [False, True])
def test_a_result_from_other_code_is_not_saved(tmp_path, monkeypatch, before_versions):
    # a worker that joined after the check (it checks the workers connected then) could run
    # other code; each job returns the identity of the code that computed it. One of code
    # from before job files recorded versions returns (identity, result), which was unpacked
    # as (identity, (result, versions)) before its identity was compared: a traceback
    distributed = pytest.importorskip("distributed")
    from spicecl import sweep

    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True,
                                  dashboard_address=":0") as cluster:
        monkeypatch.setattr(sweep, "check_cluster", lambda client, address: None)  # joined late
        if before_versions:
            monkeypatch.setattr(sweep, "run_identified", run_identified_before_versions)
        else:
            mine = sweep.code_identity()
            monkeypatch.setattr(sweep, "code_identity", lambda: ("other", mine[1], "/elsewhere"))
        with pytest.raises(SpiceclError, match=r"job c0 was not saved: worker tcp://\S+ runs "
                                               r"other spicecl code (\(from \S+\) than "
                                               r"this process \(from /elsewhere\)|than this "
                                               r"process \(from \S+: changed since)"):
            run_sweep([Chunk("c0", counting_job, {"name": "c0", "x": 2.0})], tmp_path,
                      {"job": "late"}, 0, scheduler=cluster.scheduler_address)
    assert not list((tmp_path / "jobs").glob("*.npz"))


@pytest.mark.dask
def test_a_job_of_a_dask_worker_records_the_workers_versions(tmp_path, monkeypatch):
    # a worker can compute with other BLAS kernels than this process (a cluster of mixed
    # machines is accepted, with a warning): its jobs are recorded as computed with its own
    distributed = pytest.importorskip("distributed")
    from spicecl import results

    real = results.numerics()
    compute_with(monkeypatch, blas="other kernels, here only")
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True,
                                  dashboard_address=":0") as cluster:
        stats = run_sweep([Chunk("c0", counting_job, {"name": "c0", "x": 2.0})], tmp_path,
                          {"job": "worker"}, 0, scheduler=cluster.scheduler_address)["__stats__"]
    assert stats["versions_of_jobs"] is None
    assert sweep._load_chunk(tmp_path / "jobs" / "c0.npz")[1] == real


@pytest.mark.dask
def test_a_scheduler_address_with_a_trailing_slash_connects(tmp_path):
    # it was refused as "no Dask scheduler answered (handshake failed: ValueError)"
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True,
                                  dashboard_address=":0") as cluster:
        connect_scheduler(cluster.scheduler_address + "/", timeout=5).close()


@pytest.mark.parametrize("address, words", [
    ("tcp://", "expected an address like tcp://HOST:PORT"),
    ("tcp://host", "expected an address like tcp://HOST:PORT"),
    ("tcp://host:port", "(bad port)"),
    ("tcp://host:99999", "(bad port)"),
    ("tls://host:8786", "(scheme 'tls'; only tcp:// is supported)"),
    ("inproc://x", "(scheme 'inproc'; only tcp:// is supported)"),
    ("tcp://host:8786/path", "expected an address like tcp://HOST:PORT"),
])
def test_a_malformed_scheduler_address_is_named(address, words):
    # these were "handshake failed: ValueError/TypeError" after a connection attempt
    pytest.importorskip("distributed")
    with pytest.raises(SpiceclError) as info:
        connect_scheduler(address, timeout=2)
    assert words in str(info.value) and "\n" not in str(info.value)


class _OneWorkerHere:
    """A Dask client stand-in whose one worker is this process."""

    def run_on_scheduler(self, func):
        return func()

    def scheduler_info(self):
        return {"workers": {"tcp://w:1": {}}}

    def run(self, func, *args, on_error):
        try:
            return {"tcp://w:1": func(*args)}
        except Exception as exc:  # noqa: BLE001 - as on_error="return"
            return {"tcp://w:1": exc}


def test_a_cluster_running_this_checkout_from_pythonpath_is_accepted(monkeypatch):
    # a checkout on PYTHONPATH (the README's advice for workers) has no installed version:
    # the workers were refused ("cannot use spicecl (PackageNotFoundError); install spicecl")
    # though they run this very code, which the source digest checks
    import importlib.metadata

    from spicecl import sweep

    real = importlib.metadata.version

    def version(pkg):
        if pkg == "spicecl":
            raise importlib.metadata.PackageNotFoundError(pkg)
        return real(pkg)

    monkeypatch.setattr(importlib.metadata, "version", version)
    sweep.code_identity.cache_clear()
    try:
        sweep.check_cluster(_OneWorkerHere(), "A")
        # one that cannot import spicecl is told so, without a version it does not have
        monkeypatch.setattr(sweep, "_code_probe", lambda: lambda: ImportError("none here"))
        with pytest.raises(SpiceclError, match=r"cannot import spicecl \(ImportError: none "
                                               r"here\); install spicecl on the cluster's"):
            sweep.check_cluster(_OneWorkerHere(), "A")
    finally:
        sweep.code_identity.cache_clear()


def test_a_sweep_of_plain_jobs_counts_them_whole(tmp_path, capsys):
    # (the bar's counts are scaled, 7.20k, only for reproduce's task-steps: jobs read 0/3)
    chunks = [Chunk(f"c{k}", counting_job, {"name": f"c{k}", "x": k}) for k in range(3)]
    run_sweep(chunks, tmp_path, {"job": "bar"}, 0, progress=True)
    err = capsys.readouterr().err
    assert "| 0/3 [" in err and "job/s" in err and "0.00/3.00" not in err


def test_a_malformed_scheduler_address_is_told_before_dask_loads():
    # (importing dask.distributed takes ~3 s: a typo waited for it)
    code = ("import sys\nfrom spicecl.sweep import connect_scheduler\n"
            "try:\n    connect_scheduler('localhost:8786')\nexcept Exception as exc:\n"
            "    print(type(exc).__name__, 'distributed' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60)
    assert out.stdout.split() == ["SpiceclError", "False"], out.stderr[-2000:]


def test_a_server_that_is_not_dask_is_refused():
    import socket
    import threading

    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)

    def serve():
        conn, _ = srv.accept()
        conn.sendall(b"HTTP/1.0 200 OK\r\n\r\n" * 64)
        time.sleep(1)
        conn.close()

    threading.Thread(target=serve, daemon=True).start()
    t0 = time.monotonic()
    try:
        with pytest.raises(SpiceclError, match="--scheduler"):
            connect_scheduler(f"tcp://127.0.0.1:{srv.getsockname()[1]}", timeout=2)
    finally:
        srv.close()
    assert time.monotonic() - t0 < 15


def test_no_heavy_imports():
    code = ("import sys, spicecl.sweep, spicecl.experiments, spicecl.experiments.fig1, "
            "spicecl.experiments.fig2, spicecl.experiments.fig4d, spicecl.commands.reproduce; "
            "bad = [m for m in ('matplotlib', 'dask', 'distributed', 'PySpice') "
            "if m in sys.modules]; print(bad); sys.exit(1 if bad else 0)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


def test_a_job_file_left_half_written_by_kill_9_is_ignored_then_removed(tmp_path):
    """kill -9 between a job file's write and its rename leaves .NAME.npz.XXXX.tmp: the
    resumed sweep must not read it, and removes it."""
    code = (
        "import os, signal, numpy as np\n"
        "from spicecl import results\n"
        "from spicecl.sweep import Chunk, run_sweep\n"
        "from tests.test_sweep import counting_job\n"
        "real = os.replace\n"
        "def rep(a, b):\n"
        "    if str(b).endswith('c1.npz'):\n"
        "        os.kill(os.getpid(), signal.SIGKILL)\n"
        "    return real(a, b)\n"
        "results.os.replace = rep\n"
        f"run_sweep([Chunk(f'c{{i}}', counting_job, {{'name': f'c{{i}}', 'x': i}}) "
        f"for i in range(3)], {str(tmp_path / 'out')!r}, {{'job': 'kill9'}}, 0)\n")
    root = Path(__file__).resolve().parent.parent
    proc = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True,
                          env={**os.environ, "PYTHONPATH": str(root)})
    assert proc.returncode == -signal.SIGKILL
    jobs = tmp_path / "out" / "jobs"
    assert sorted(p.name for p in jobs.iterdir() if not p.name.startswith(".")) == ["c0.npz"]
    assert len(list(jobs.glob(".c1.npz.*.tmp"))) == 1
    CALLS.clear()
    res = run_sweep([Chunk(f"c{i}", counting_job, {"name": f"c{i}", "x": i}) for i in range(3)],
                    tmp_path / "out", {"job": "kill9"}, 0)
    assert CALLS == ["c1", "c2"] and res["__stats__"]["loaded"] == 1
    assert sorted(p.name for p in jobs.iterdir()) == ["c0.npz", "c1.npz", "c2.npz"]


def test_chunks_of_one_name_are_refused(tmp_path):
    # two chunks writing jobs/NAME.npz: the second would replace the first's result
    c = small_chunks()[0]
    with pytest.raises(ValueError, match="chunk names must be unique"):
        run_sweep([c, c], tmp_path / "out", {"t": 1}, 7)


def test_a_run_writing_into_the_sweep_directory_it_holds_does_not_wait_for_itself(tmp_path):
    # the sweep's lock and the staged outputs' lock are one (results.directory_lock): two
    # flocks of one directory in one process, as they were, wait for each other for ever
    import subprocess
    import sys

    code = ("import sys; from pathlib import Path\n"
            "from spicecl.sweep import sweep_lock\n"
            "from spicecl.results import staged_outputs, write_manifest\n"
            "out = Path(sys.argv[1])\n"
            "with sweep_lock(out), sweep_lock(out), staged_outputs(out) as stage:\n"
            "    (stage / 'a.txt').write_text('a')\n"
            "    write_manifest(stage, {'t': 1}, 0)\n")
    subprocess.run([sys.executable, "-c", code, str(tmp_path / "d")], check=True, timeout=60)
    assert (tmp_path / "d" / "a.txt").read_text() == "a"
    assert (tmp_path / "d" / "manifest.json").exists()


def test_a_resume_with_nothing_finished_says_nothing_of_numerics(tmp_path, capsys):
    """Only finished jobs carry another machine's roundings: a manifest of other numerics
    over an empty jobs/ is resumed without a word."""
    chunks = [Chunk("c0", counting_job, {"name": "c0", "x": 1.0})]
    FAIL_ON.clear()
    run_sweep(chunks, tmp_path, {"job": "count"}, 0)
    man = tmp_path / "manifest.json"
    m = json.loads(man.read_text())
    m["versions"]["numpy"] = "0.0.1"
    man.write_text(json.dumps(m))
    (tmp_path / "jobs" / "c0.npz").unlink()
    run_sweep(chunks, tmp_path, {"job": "count"}, 0)
    assert "numerics" not in capsys.readouterr().err


def test_an_out_that_is_no_directory_or_has_an_unreadable_manifest_is_one_line(tmp_path):
    chunks = [Chunk("c0", counting_job, {"name": "c0", "x": 1.0})]
    afile = tmp_path / "afile"
    afile.write_text("x")
    for out, why in ((afile, f"--out {afile}: not a directory"),
                     (afile / "sub", f"--out {afile / 'sub'}: Not a directory")):
        with pytest.raises(SpiceclError) as exc:
            run_sweep(chunks, out, {"job": "count"}, 0)
        assert str(exc.value) == why
    (tmp_path / "d" / "manifest.json").mkdir(parents=True)  # (a directory: OSError)
    with pytest.raises(SpiceclError, match=r"unreadable manifest.json \(Is a directory\); "):
        run_sweep(chunks, tmp_path / "d", {"job": "count"}, 0)
    with pytest.raises(SpiceclError, match="^--workers must be >= 1, got 0$"):
        run_sweep(chunks, tmp_path / "w", {"job": "count"}, 0, workers=0)


def test_a_config_written_another_way_resumes_and_a_changed_one_names_what_changed(tmp_path):
    from spicecl.sweep import _config_diff

    chunks = [Chunk("c0", counting_job, {"name": "c0", "x": 1.0})]
    FAIL_ON.clear()
    config = {"job": "count", "gamma": 3e10, "overrides": {"a": 1, "b": 2}}
    run_sweep(chunks, tmp_path, config, 0)
    man = tmp_path / "manifest.json"
    m = json.loads(man.read_text())
    m["config_hash"] = "written-by-hand"  # the same settings, hashed from another spelling
    man.write_text(json.dumps(m))
    CALLS.clear()
    res = run_sweep(chunks, tmp_path, {"overrides": {"b": 2, "a": 1}, "gamma": 3 * 10**10,
                                       "job": "count"}, 0)
    assert CALLS == [] and res["__stats__"]["loaded"] == 1
    new = {"k": [1, 2, 3, 4, 5], "overrides": {}}
    old = {f"k{i}": i for i in range(6)}
    assert _config_diff(old, {f"k{i}": -i for i in range(6)}) == \
        "it differs in k1, k2, k3, k4, ..."  # (k0 = 0 either way)
    assert _config_diff({f"k{i}": i for i in range(4)}, {}) == "it differs in k0, k1, k2, k3"
    assert _config_diff({"overrides": {"p": [1], "t": 2}}, {"overrides": {"p": [1], "t": 3}}) \
        == "it differs in --set t"
    assert _config_diff({"overrides": {"p": [1]}}, {"overrides": {"b": 2}}) == \
        "it differs in --set b, --set p"  # (a setting given on one side only)
    from spicecl.results import config_hash

    assert _config_diff(None, new) == f"config hash {config_hash(new)} here, none readable there"


def test_a_sweeps_stats_count_the_computed_and_the_loaded_jobs(tmp_path):
    chunks = [Chunk(f"c{i}", counting_job, {"name": f"c{i}", "x": float(i)}, cost=i + 1)
              for i in range(3)]
    FAIL_ON.clear()
    run_sweep(chunks[:1], tmp_path, {"job": "count"}, 0)
    t0 = time.perf_counter()
    stats = run_sweep(chunks, tmp_path, {"job": "count"}, 0)["__stats__"]
    wall = time.perf_counter() - t0
    assert stats["computed"] == 2 and stats["loaded"] == 1 and stats["computed_cost"] == 5.0
    assert 0 <= stats["seconds"] <= wall  # (the run's own time, measured inside)


def test_code_identity_changes_with_any_source_file_name_or_content(tmp_path, monkeypatch):
    import spicecl
    from spicecl import sweep
    from spicecl.results import source_hash

    pkg = tmp_path / "spicecl"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "a.py").write_text("x = 1\n")
    monkeypatch.setattr(spicecl, "__file__", str(pkg / "__init__.py"))

    def identity():
        sweep.code_identity.cache_clear()
        source_hash.cache_clear()
        return sweep.code_identity()

    try:
        first = identity()
        assert identity() == first and first[2] == str(pkg)
        (pkg / "sub" / "a.py").write_text("x = 2\n")
        second = identity()
        (pkg / "sub" / "a.py").rename(pkg / "sub" / "b.py")
        third = identity()
        (pkg / "notes.txt").write_text("not source")
        assert identity() == third
    finally:
        sweep.code_identity.cache_clear()
        source_hash.cache_clear()
    assert len({first[0], second[0], third[0]}) == 3


def test_a_sweep_into_a_new_directory_holds_it_while_it_runs(tmp_path):
    out = tmp_path / "new" / "sweep"  # (created by the run)
    res = run_sweep([Chunk("a", lock_probe_job, str(out))], out, {"job": "lock"}, 0)
    assert bool(res["a"]["held"])


def test_other_code_says_how_a_worker_differs_and_the_scheduler_is_checked_by_code_only():
    from spicecl.sweep import _check_code, _other_code

    mine = ("abc", ("0.1.0", "2.4.6", "1.17.1"), "/src/spicecl")
    assert _other_code("worker w", ("abc", ("0.1.0", "2.3.0", "1.17.1"), "/src/spicecl"),
                       mine) == "worker w runs numpy 2.3.0, this process 2.4.6"
    assert _other_code("worker w", ("xyz", mine[1], "/src/spicecl"), mine) == (
        "worker w runs other spicecl code than this process (from /src/spicecl: changed "
        "since worker w started? restart it)")
    assert _other_code("worker w", ("xyz", mine[1], "/elsewhere"), mine) == (
        "worker w runs other spicecl code (from /elsewhere) than this process (from "
        "/src/spicecl)")
    # the scheduler only unpickles the jobs: its spicecl code matters, not its numpy
    other_numpy = ("abc", ("0.1.0", "2.3.0", "1.17.1"), "/src/spicecl")
    _check_code("tcp://h:1", "the scheduler", other_numpy, mine)
    with pytest.raises(SpiceclError, match="worker w runs numpy 2.3.0, this process 2.4.6; "
                                           "the numbers could differ from a local run"):
        _check_code("tcp://h:1", "worker w", other_numpy, mine)
    with pytest.raises(SpiceclError, match="the scheduler runs other spicecl code .*; it "
                                           "unpickles the jobs"):
        _check_code("tcp://h:1", "the scheduler", ("xyz",) + mine[1:], mine)
