"""Atomic result files and manifests."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

from spicecl.cli import main
from spicecl.errors import SpiceclError
from spicecl.results import atomic_write_bytes, atomic_write_json, source_hash, write_manifest


def test_atomic_write_replaces_whole_file_and_leaves_no_temporaries(tmp_path):
    p = tmp_path / "sub" / "a.json"
    atomic_write_json(p, {"x": 1})
    atomic_write_json(p, {"x": 2})
    assert json.loads(p.read_text()) == {"x": 2}
    assert [f.name for f in p.parent.iterdir()] == ["a.json"]
    mode = stat.S_IMODE(os.stat(p).st_mode)
    assert mode & 0o044  # readable by others like any file, not mkstemp's 0600


def test_interrupted_write_keeps_the_old_file(tmp_path, monkeypatch):
    p = tmp_path / "a.txt"
    atomic_write_bytes(p, b"old")

    def boom(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(KeyboardInterrupt):
        atomic_write_bytes(p, b"new")
    assert p.read_bytes() == b"old"
    assert [f.name for f in tmp_path.iterdir()] == ["a.txt"]


def test_manifest_records_config_seed_and_versions(tmp_path):
    m = json.loads(write_manifest(tmp_path, {"a": 1}, 7).read_text())
    assert m["config"] == {"a": 1} and m["seed"] == 7
    assert {"spicecl", "numpy", "scipy", "python", "ngspice"} <= set(m["versions"])
    assert len(m["config_hash"]) == 16
    import platform
    import shutil

    import scipy

    import spicecl

    assert m["versions"]["spicecl"] == spicecl.__version__
    # the code that ran, not only its version number (a checkout with local edits)
    assert m["versions"]["spicecl_source"] == source_hash()
    assert len(source_hash()) == 16 and int(source_hash(), 16) >= 0
    assert m["versions"]["numpy"] == np.__version__ and m["versions"]["scipy"] == scipy.__version__
    assert m["versions"]["python"] == platform.python_version()
    # the BLAS kernels picked for this CPU: another CPU rounds in the last bit (README)
    from threadpoolctl import threadpool_info

    arch = {i["architecture"] for i in threadpool_info()
            if i["user_api"] == "blas" and i.get("architecture")}
    assert m["versions"]["blas"] and all(a in m["versions"]["blas"] for a in arch)
    if shutil.which("ngspice"):  # the installed ngspice's own version line
        line = subprocess.run(["ngspice", "-v"], capture_output=True, text=True).stdout
        assert f"ngspice-{m['versions']['ngspice']}" in line


def test_the_numerics_a_sweep_records_per_job_are_the_manifests_versions_of_them():
    from spicecl.results import numerics, versions

    assert numerics() == {k: versions()[k] for k in ("spicecl_source", "numpy", "scipy", "blas")}


def test_source_hash_follows_the_source_files_bytes_not_their_times(tmp_path, monkeypatch):
    """A copy of a package tree (spicecl/**/*.py beside models/*.lib): the hash changes with
    any source file's bytes or name, and with nothing else."""
    import spicecl
    from spicecl.netlist import names

    pkg, models = tmp_path / "spicecl", tmp_path / "models"
    (pkg / "sub").mkdir(parents=True)
    models.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "a.py").write_text("x = 1\n")
    (models / "cell.lib").write_text(".subckt cell a b\n.ends\n")
    monkeypatch.setattr(spicecl, "__file__", str(pkg / "__init__.py"))
    monkeypatch.setattr(names, "default_models_dir", lambda: models)

    def fresh_hash():
        source_hash.cache_clear()
        return source_hash()

    try:
        first = fresh_hash()
        old = time.time() - 86400
        for f in (pkg / "sub" / "a.py", models / "cell.lib"):
            os.utime(f, (old, old))
        (pkg / "notes.txt").write_text("not source")
        (models / "README.md").write_text("not a library")
        assert fresh_hash() == first
        seen = [first]
        for change in (lambda: (pkg / "sub" / "a.py").write_text("x = 2\n"),
                       lambda: (pkg / "sub" / "a.py").rename(pkg / "sub" / "b.py"),
                       lambda: (models / "cell.lib").write_text(".subckt cell a c\n.ends\n"),
                       lambda: (pkg / "sub" / "c.py").write_text("")):
            change()
            seen.append(fresh_hash())
        assert len(set(seen)) == len(seen)
    finally:
        source_hash.cache_clear()


def test_version_prints_the_source_hash(capsys):
    import spicecl
    from spicecl.cli import main

    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert capsys.readouterr().out == f"spicecl {spicecl.__version__} (source {source_hash()})\n"


def test_manifest_records_the_spicecl_command_line_not_the_host_process(tmp_path):
    from spicecl.cli import main

    out = tmp_path / "run"
    assert main(["train", "--network", "exp16", "--steps", "5", "--seed", "3",
                 "--out", str(out)]) == 0
    m = json.loads((out / "manifest.json").read_text())
    assert m["command"] == f"spicecl train --network exp16 --steps 5 --seed 3 --out {out}"


def test_unwritable_targets_are_one_line_errors_naming_the_path(tmp_path, monkeypatch):
    from spicecl.errors import SpiceclError

    with pytest.raises(SpiceclError, match="it is a directory"):
        atomic_write_bytes(tmp_path, b"x")
    (tmp_path / "f.txt").write_text("a file")
    with pytest.raises(SpiceclError, match=r"f\.txt is not a directory"):
        atomic_write_bytes(tmp_path / "f.txt" / "out.json", b"x")

    def full(*a, **k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(SpiceclError, match="cannot write .*a.txt: No space left on device"):
        atomic_write_bytes(tmp_path / "a.txt", b"x")
    assert sorted(f.name for f in tmp_path.iterdir()) == ["f.txt"]


def test_cli_output_that_is_a_directory_is_exit_2(tmp_path, capsys):
    from spicecl.cli import main

    assert main(["network", "export", "exp16", "-o", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(tmp_path) in err and "Traceback" not in err


def test_writing_to_a_fifo_or_device_writes_into_it_and_keeps_it(tmp_path):
    # `-o /dev/null`, `-o /dev/stdout`: a rename would replace the device node with a file.
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    fd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    try:
        atomic_write_bytes(fifo, b"data")
        assert os.read(fd, 100) == b"data"
    finally:
        os.close(fd)
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)
    link = tmp_path / "null"
    link.symlink_to(os.devnull)
    atomic_write_bytes(link, b"x")
    assert link.is_symlink() and link.is_char_device()
    assert sorted(f.name for f in tmp_path.iterdir()) == ["null", "pipe"]


def test_writing_through_a_symlink_updates_its_target_and_keeps_the_link(tmp_path):
    # e.g. `-o /dev/stdout > file`: /dev/stdout -> /proc/self/fd/1 -> file; renaming over the
    # link replaced /dev/stdout itself
    target = tmp_path / "target.json"
    target.write_text("old")
    link = tmp_path / "link.json"
    link.symlink_to(target)
    atomic_write_bytes(link, b"new")
    assert link.is_symlink() and target.read_bytes() == b"new"


@pytest.mark.parametrize("command,argv,writer", [
    ("train", ["--network", "exp16", "--steps", "5"], "spicecl.report.atomic_savefig"),
    ("compare", ["--network", "exp16", "--task", "allostery", "--tasks", "1", "--steps", "5",
                 "--p", "1", "--p", "0.5"], "spicecl.compare.plot_compare"),
])
def test_a_rerun_interrupted_while_writing_keeps_the_earlier_run(tmp_path, capsys, monkeypatch,
                                                                 command, argv, writer):
    """A re-run into the same --out that is stopped after some of its files leaves the earlier
    complete run as it was. (Before: the earlier manifest was removed first and the new files
    written over the earlier ones, so the earlier run was lost and the directory held a mix.)"""
    from spicecl.cli import main

    out = tmp_path / "run"
    assert main([command, *argv, "--seed", "3", "--out", str(out)]) == 0
    assert json.loads((out / "manifest.json").read_text())["seed"] == 3
    before = {f.name: f.read_bytes() for f in out.iterdir()}

    def interrupted(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(writer, interrupted)
    capsys.readouterr()
    assert main([command, *argv, "--seed", "4", "--out", str(out)]) == 130
    assert {f.name: f.read_bytes() for f in out.iterdir()} == before  # no staging dir either
    assert capsys.readouterr().err == (f"spicecl: interrupted; nothing was written to {out} "
                                       f"(any earlier results there are unchanged)\n")
    monkeypatch.undo()
    assert main([command, *argv, "--seed", "4", "--out", str(out)]) == 0
    assert json.loads((out / "manifest.json").read_text())["seed"] == 4
    assert sorted(f.name for f in out.iterdir()) == sorted(before)
    capsys.readouterr()


def test_an_interrupted_first_run_leaves_nothing_and_a_killed_runs_staging_goes(tmp_path,
                                                                                capsys,
                                                                                monkeypatch):
    """No earlier run: an interrupted one leaves an empty --out (it left its first files there,
    without a manifest). A run killed outright (kill -9) leaves its hidden staging directory;
    the next run into the directory removes it."""
    import subprocess

    from spicecl.cli import main
    from spicecl.results import STAGING_PREFIX, host_tag

    out = tmp_path / "run"
    argv = ["train", "--network", "exp16", "--steps", "5", "--seed", "3", "--out", str(out)]

    def interrupted(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr("spicecl.report.atomic_savefig", interrupted)
    assert main(argv) == 130
    assert list(out.iterdir()) == []
    monkeypatch.undo()
    dead = subprocess.Popen(["true"])
    dead.wait()  # a pid that no longer runs
    here = host_tag()
    elsewhere = "0badc0de" if here != "0badc0de" else "ffffffff"
    (out / f"{STAGING_PREFIX}{dead.pid}-{here}-abc").mkdir()
    (out / f"{STAGING_PREFIX}{dead.pid}-{here}-abc" / "history.csv").write_text("half")
    (out / f"{STAGING_PREFIX}1-{here}-live").mkdir()  # pid 1 runs: another run's, left alone
    # the same pid on another host sharing the directory (a network file system): its own
    (out / f"{STAGING_PREFIX}{dead.pid}-{elsewhere}-abc").mkdir()
    (out / f"{STAGING_PREFIX}{dead.pid}-abc_x1y2").mkdir()  # named before the host tag
    assert main(argv) == 0
    assert not (out / f"{STAGING_PREFIX}{dead.pid}-{here}-abc").exists()
    assert (out / f"{STAGING_PREFIX}1-{here}-live").is_dir()
    assert (out / f"{STAGING_PREFIX}{dead.pid}-{elsewhere}-abc").is_dir()
    assert not (out / f"{STAGING_PREFIX}{dead.pid}-abc_x1y2").exists()
    assert (out / "manifest.json").is_file()
    capsys.readouterr()


def test_a_dangling_symlink_is_not_followed(tmp_path):
    """It created the missing target's directories wherever the link pointed."""
    from spicecl.errors import SpiceclError
    from spicecl.results import atomic_write_text

    link = tmp_path / "out.cir"
    link.symlink_to(tmp_path / "elsewhere" / "deep" / "x.cir")
    with pytest.raises(SpiceclError, match="a symbolic link to a missing file"):
        atomic_write_text(link, "x")
    assert not (tmp_path / "elsewhere").exists()


def test_a_full_disk_while_staging_names_the_output_file_and_leaves_nothing(tmp_path, capsys,
                                                                            monkeypatch):
    import errno

    import spicecl.results
    from spicecl.cli import main

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(spicecl.results.os, "fsync", full)
    out = tmp_path / "run"
    assert main(["train", "--network", "exp16", "--steps", "5", "--seed", "1",
                 "--out", str(out)]) == 2
    assert capsys.readouterr().err == (f"spicecl: error: cannot write {out / 'history.csv'}: "
                                       f"No space left on device\n")
    assert list(out.iterdir()) == []


@pytest.mark.parametrize("sig,status", [("SIGINT", 130), ("SIGTERM", 143)])
def test_ctrl_c_while_the_files_move_into_place_waits_for_the_manifest(tmp_path, capsys,
                                                                       monkeypatch, sig, status):
    """The files are renamed into --out after the earlier manifest is removed: a Ctrl-C
    between two renames left no manifest. It is held off until the manifest is written."""
    import os
    import signal

    import spicecl.results
    from spicecl.cli import main
    from spicecl.results import STAGING_PREFIX

    out = tmp_path / "run"
    argv = ["train", "--network", "exp16", "--steps", "5", "--out", str(out)]
    assert main([*argv, "--seed", "3"]) == 0
    real = os.replace
    sent = []

    def replace(src, dst):
        if STAGING_PREFIX not in str(dst) and not sent:  # the first file moving into place
            sent.append(dst)
            os.kill(os.getpid(), getattr(signal, sig))
        return real(src, dst)

    monkeypatch.setattr(spicecl.results.os, "replace", replace)
    assert main([*argv, "--seed", "4"]) == status  # (still reported as interrupted)
    monkeypatch.undo()
    assert sent
    assert json.loads((out / "manifest.json").read_text())["seed"] == 4
    assert not [p for p in out.iterdir() if p.name.startswith(".")]
    capsys.readouterr()


@pytest.mark.parametrize("sig,what", [("SIGINT", "interrupted"), ("SIGTERM", "terminated")])
def test_a_signal_held_off_until_the_run_is_in_place_does_not_say_nothing_was_written(
        tmp_path, capsys, monkeypatch, sig, what):
    import signal

    import spicecl.results
    from spicecl.cli import main
    from spicecl.results import STAGING_PREFIX

    out = tmp_path / "run"
    real = os.replace

    def replace(src, dst):
        if STAGING_PREFIX not in str(dst):  # a file moving into place
            os.kill(os.getpid(), getattr(signal, sig))
        return real(src, dst)

    monkeypatch.setattr(spicecl.results.os, "replace", replace)
    assert main(["train", "--network", "exp16", "--steps", "5", "--out", str(out)]) > 128
    assert (out / "manifest.json").is_file()
    assert capsys.readouterr().err == f"spicecl: {what}\n"


@pytest.mark.parametrize("writer", ["spicecl.oscbank.plots.plot_waveforms",
                                    "spicecl.compare.plot_compare"])
def test_an_interrupted_demo_names_its_out_not_a_stage_inside_it(tmp_path, capsys, monkeypatch,
                                                                 writer):
    """demo stages its sub-runs (oscillators/, learning/) inside its own staging directory: a
    Ctrl-C in one of them names the --out, and leaves it empty."""
    from spicecl.cli import main

    def interrupted(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(writer, interrupted)
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--seed", "1", "--tasks", "2", "--steps", "1",
                 "--samples", "2", "--cosim-steps", "0"]) == 130
    assert capsys.readouterr().err.splitlines()[-1] == (
        f"spicecl: interrupted; nothing was written to {out} (any earlier results there are "
        f"unchanged)")
    assert list(out.iterdir()) == []


def test_a_library_write_that_failed_leaves_no_staging_directory(tmp_path):
    # a failed write's staging directory stayed while the process ran (a notebook), until the
    # next write into the directory; the write's block removes it on the way out
    from spicecl.results import staged_outputs, write_manifest

    with pytest.raises(OSError, match="the write failed"):
        with staged_outputs(tmp_path) as first:
            (first / "summary.json").write_text("{}")
            raise OSError("the write failed here")
    assert list(tmp_path.iterdir()) == []
    with staged_outputs(tmp_path) as second:
        (second / "summary.json").write_text("{}")
        write_manifest(second, {"a": 1}, 1)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["manifest.json", "summary.json"]


def test_a_library_write_that_forgets_its_manifest_writes_nothing(tmp_path):
    """A staged block that ends without write_manifest: its files are discarded with its
    staging directory, and the directory keeps the earlier run."""
    from spicecl.results import staged_outputs, write_manifest

    with staged_outputs(tmp_path) as stage:
        (stage / "a.txt").write_text("old")
        write_manifest(stage, {"run": 1}, 1)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    with staged_outputs(tmp_path) as stage:
        (stage / "a.txt").write_text("new")
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before


def test_the_data_is_flushed_to_the_file_before_fsync_and_renamed_after(tmp_path, monkeypatch):
    """fsync covers only what reached the file: Python's buffer must be flushed first, and the
    rename comes after the fsync (a crash then leaves the old file or the whole new one)."""
    events = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd):
        events.append(("fsync", os.fstat(fd).st_size))
        real_fsync(fd)

    def replace(a, b):
        events.append(("replace", os.path.getsize(a)))
        real_replace(a, b)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    data = b"x" * 1000  # below the buffer size: without a flush it would all sit in the buffer
    atomic_write_bytes(tmp_path / "f.bin", data)
    assert events == [("fsync", 1000), ("replace", 1000)]
    assert (tmp_path / "f.bin").read_bytes() == data


def test_an_output_directory_that_cannot_take_a_file_fails_before_the_run(tmp_path, monkeypatch):
    import tempfile

    from spicecl.errors import SpiceclError
    from spicecl.results import ensure_output_dir

    def denied(*a, **k):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(tempfile, "mkstemp", denied)
    with pytest.raises(SpiceclError, match=r"--out .*out: Permission denied"):
        ensure_output_dir(tmp_path / "out")


def test_a_write_in_another_thread_keeps_its_staging_directory(tmp_path):
    # begin_outputs removed every staging directory of its own process in the directory, and
    # the CLI's way out every uncommitted one: a run writing in another thread (same pid)
    # lost its staging directory; its files went to a recreated hidden directory, its
    # manifest too, and its results never reached the directory, with no error
    import threading

    from spicecl.results import begin_outputs, staged_outputs, write_manifest

    staged, go, done = [], threading.Event(), threading.Event()

    def writer():
        out = begin_outputs(tmp_path)
        staged.append(out)
        go.wait(10)
        (out / "a.txt").write_text("a")
        write_manifest(out, {"run": "a"}, 1)
        done.set()

    t = threading.Thread(target=writer)
    t.start()
    try:
        while not staged:
            time.sleep(0.01)
        with pytest.raises(KeyboardInterrupt):  # a command in this thread, stopped
            with (staged_outputs(tmp_path / "elsewhere") as other,
                  staged_outputs(tmp_path) as mine):  # (another run into the same directory)
                assert staged[0].is_dir()
                raise KeyboardInterrupt
        assert staged[0].is_dir() and not mine.exists() and not other.exists()
    finally:
        go.set()
        t.join(10)
    assert done.is_set()
    assert json.loads((tmp_path / "manifest.json").read_text())["config"] == {"run": "a"}
    assert (tmp_path / "a.txt").read_text() == "a"


def test_two_runs_committing_into_one_directory_at_once_do_not_mix(tmp_path, monkeypatch):
    # two runs into one --out (two processes, or threads) moved their files into place at the
    # same time: the directory ended with the files of both and the manifest of one
    import threading

    import spicecl.results
    from spicecl.results import begin_outputs, write_manifest

    real = os.replace
    moved, a_half_done, b_done = [], threading.Event(), threading.Event()

    def replace(src, dst):
        real(src, dst)
        if threading.current_thread().name == "A" and Path(dst).parent == tmp_path:
            moved.append(dst)
            if len(moved) == 10:  # run B commits now, if it can
                a_half_done.set()
                b_done.wait(1)

    monkeypatch.setattr(spicecl.results.os, "replace", replace)

    def run(name):
        out = begin_outputs(tmp_path)
        for i in range(20):
            (out / f"f{i}.txt").write_text(name)
        if name == "B":
            a_half_done.wait(10)
        write_manifest(out, {"run": name}, 1)
        if name == "B":
            b_done.set()

    threads = [threading.Thread(target=run, args=(n,), name=n) for n in "AB"]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    winner = json.loads((tmp_path / "manifest.json").read_text())["config"]["run"]
    assert {(tmp_path / f"f{i}.txt").read_text() for i in range(20)} == {winner}
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


def test_a_subdirectory_that_is_a_symlink_is_replaced_not_an_error(tmp_path):
    # demo's oscillators/ or learning/ made a link to a directory elsewhere (disk space): the
    # staged directory was renamed onto the link (ENOTDIR) after the earlier manifest was
    # removed and other files had moved, so the run failed leaving a mix and no manifest
    from spicecl.results import begin_outputs, write_manifest

    out, elsewhere = tmp_path / "out", tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "old.txt").write_text("old")
    out.mkdir()
    (out / "sub").symlink_to(elsewhere)
    stage = begin_outputs(out)
    (stage / "a.txt").write_text("new")
    (stage / "sub").mkdir()
    (stage / "sub" / "new.txt").write_text("new")
    write_manifest(stage, {"run": 2}, 1)
    assert (out / "manifest.json").is_file() and (out / "a.txt").read_text() == "new"
    assert sorted(p.name for p in (out / "sub").iterdir()) == ["new.txt"]
    assert (elsewhere / "old.txt").read_text() == "old"  # what the link pointed to is kept


def test_a_run_waiting_for_another_to_finish_writing_says_so(tmp_path, capsys):
    """A run committing into a directory another run holds (a reproduce sweep still running
    there) waited silently, for hours if need be; it now says what it waits for."""
    from conftest import directory_held_by_another_process

    from spicecl.results import staged_outputs, write_manifest

    out = tmp_path / "d"
    out.mkdir()
    with directory_held_by_another_process(out, seconds=1.5):
        with staged_outputs(out) as stage:
            (stage / "a.txt").write_text("a")
            write_manifest(stage, {"t": 1}, 0)
    err = capsys.readouterr().err
    assert f"spicecl: warning: waiting for another run writing into {out} to finish" in err
    assert (out / "a.txt").read_text() == "a" and (out / "manifest.json").exists()


@pytest.mark.parametrize("text", ["[1]", "{", "[" * 100_000, '{"a": ' * 100_000])
def test_a_manifest_that_is_no_run_is_refused_in_one_line(tmp_path, text):
    """refuse_other_run: a manifest.json nested too deeply for json (RecursionError), not
    JSON, or no object is no spicecl run's: refused, not a traceback."""
    from spicecl.results import refuse_other_run

    (tmp_path / "manifest.json").write_text(text)
    with pytest.raises(SpiceclError, match="a manifest.json that is not a spicecl run's"):
        refuse_other_run(tmp_path, "train")


#: A path the system cannot name: one component of 300 bytes (NAME_MAX is 255 on Linux).
_LONG = "x" * 300


@pytest.mark.parametrize("argv, option", [
    (["train", "--network", "exp16", "--steps", "2", "--out", "LONG"], "--out"),
    (["network", "export", "exp16", "-o", "LONG"], "-o/--output"),
    (["netlist", "twin", "--network", "exp16", "--seed", "1", "-o", "LONG"], "-o/--output"),
    (["netlist", "twin", "--network", "exp16", "--seed", "1", "-o", "d.cir", "--models",
      "LONG"], "--models"),
    (["bench", "learning", "--out", "LONG/b.json"], "--out"),
    (["compare", "--network", "exp16", "--task", "allostery", "--p", "1", "--tasks", "2",
      "--steps", "2", "--seed", "1", "--variation", "LONG"], "--variation"),
    (["reproduce", "fig1", "--quick", "--out", "LONG"], "--out"),
    (["demo", "--out", "LONG"], "--out"),
    (["oscillators", "--edges", "2", "--bias", "2.5", "--samples", "4", "--seed", "1",
      "--out", "LONG"], "--out"),
])
def test_path_options_with_a_name_too_long_are_usage_errors(tmp_path, monkeypatch, capsys,
                                                            argv, option):
    # pathlib's exists()/is_dir() raise "OSError: [Errno 36] File name too long" (they are
    # quiet only about missing paths): every command that reads or writes the path gave a
    # traceback
    monkeypatch.chdir(tmp_path)
    argv = [str(tmp_path / _LONG) + a[4:] if a.startswith("LONG") else a for a in argv]
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"error: argument {option}: a file or directory name in " \
        f"the path is 300 bytes long, the system allows " in err, err
    assert list(tmp_path.iterdir()) == []


def test_network_with_a_name_too_long_is_one_line(capsys):
    long = "/tmp/" + _LONG
    assert main(["solve", "--network", long, "--fix", "0=1"]) == 2
    assert capsys.readouterr().err == f"spicecl: error: network {long!r}: File name too long\n"
