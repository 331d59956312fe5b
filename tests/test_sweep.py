"""Sweeps: seeds, executors agree bit for bit, resume, refusing another configuration."""

from __future__ import annotations

import subprocess
import sys
import time

import numpy as np
import pytest

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
def test_dask_cluster_matches_local_pool(tmp_path):
    distributed = pytest.importorskip("distributed")
    chunks = small_chunks()
    local = run_sweep(chunks, tmp_path / "local", {"t": 1}, 7, workers=2)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster:
        remote = run_sweep(chunks, tmp_path / "dask", {"t": 1}, 7,
                           scheduler=cluster.scheduler_address)
    assert_same(local, remote)


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


def test_failed_job_stops_the_pool_promptly(tmp_path):
    chunks = [Chunk("slow", sleepy_or_failing_job, "sleep"),
              Chunk("fail", sleepy_or_failing_job, "fail")]
    t0 = time.monotonic()
    with pytest.raises(ValueError, match="job failed"):
        run_sweep(chunks, tmp_path, {"job": "fail"}, 0, workers=2)
    assert time.monotonic() - t0 < 20  # the sleeping worker was stopped, not waited for


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
    with pytest.raises(SpiceclError, match="tcp://HOST:PORT"):
        connect_scheduler("localhost")


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
