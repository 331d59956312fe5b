"""spicecl.spice: binary raw reader, ngspice runner and its one-line errors."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import requires_ngspice

from spicecl.errors import SimulationError, SpiceclError
from spicecl.spice.rawfile import read_raw, read_single_plot
from spicecl.spice.runner import ngspice_available, run_ngspice

DIVIDER = """divider
V1 in 0 DC 3
R1 in mid 1k
R2 mid 0 2k
.op
.end
"""

RC = """rc step
V1 in 0 DC 1
R1 in out 1k
C1 out 0 1u
.ic v(out)=0
.tran 10u 5m
"""


def _write_raw(path, names, data, flags="real", plots=1):
    """A binary raw file as ngspice writes it (data: (P, V) real or complex)."""
    out = b""
    for _ in range(plots):
        head = ["Title: t", "Date: now", "Plotname: Test", f"Flags: {flags}",
                f"No. Variables: {len(names)}", f"No. Points: {data.shape[0]}", "Variables:"]
        head += [f"\t{k}\t{n}\tvoltage" for k, n in enumerate(names)]
        head.append("Binary:")
        if flags == "complex":
            body = np.column_stack([np.column_stack([data[:, k].real, data[:, k].imag])
                                    for k in range(data.shape[1])]).astype("<f8").tobytes()
        else:
            body = np.asarray(data, "<f8").tobytes()
        out += ("\n".join(head) + "\n").encode() + body
    path.write_bytes(out)


def test_raw_reader_real_and_complex(tmp_path):
    d = np.arange(12.0).reshape(4, 3)
    _write_raw(tmp_path / "r.raw", ["time", "v(a)", "i(v1)"], d)
    p = read_single_plot(tmp_path / "r.raw")
    assert p.names == ("time", "v(a)", "i(v1)")
    np.testing.assert_array_equal(p.data["v(a)"], d[:, 1])
    c = d + 1j * d[::-1]
    _write_raw(tmp_path / "c.raw", ["frequency", "v(b)", "v(c)"], c, flags="complex")
    q = read_single_plot(tmp_path / "c.raw")
    np.testing.assert_array_equal(q.data["v(c)"], c[:, 2])
    _write_raw(tmp_path / "m.raw", ["time", "v(a)", "i(v1)"], d, plots=2)
    assert len(read_raw(tmp_path / "m.raw")) == 2
    with pytest.raises(SpiceclError, match="2 plots"):
        read_single_plot(tmp_path / "m.raw")
    (tmp_path / "bad.raw").write_bytes(b"Title: x\nNo. Variables: 2\n")
    with pytest.raises(SpiceclError, match="truncated"):
        read_raw(tmp_path / "bad.raw")


def test_raw_reader_keeps_the_whole_points_of_a_run_cut_short(tmp_path):
    # ngspice killed mid-run announces more points than it wrote: keep the whole ones
    d = np.arange(12.0).reshape(4, 3)
    _write_raw(tmp_path / "r.raw", ["time", "v(a)", "i(v1)"], d)
    raw = (tmp_path / "r.raw").read_bytes()
    (tmp_path / "cut.raw").write_bytes(raw[:-8 * 3 - 5])  # the last point and a bit more lost
    p = read_single_plot(tmp_path / "cut.raw")
    np.testing.assert_array_equal(p.data["time"], d[:2, 0])
    assert not p.complete and read_single_plot(tmp_path / "r.raw").complete
    (tmp_path / "cut.raw").write_bytes(raw[:-8 * 3])  # exactly the last point lost
    np.testing.assert_array_equal(read_single_plot(tmp_path / "cut.raw").data["v(a)"], d[:3, 1])
    # complex: a point is two float64 per vector
    c = d + 1j * d[::-1]
    _write_raw(tmp_path / "c.raw", ["frequency", "v(b)", "v(c)"], c, flags="complex")
    raw = (tmp_path / "c.raw").read_bytes()
    (tmp_path / "cut.raw").write_bytes(raw[:-16 * 3 - 5])
    p = read_single_plot(tmp_path / "cut.raw")
    assert not p.complete
    np.testing.assert_array_equal(p.data["v(c)"], c[:2, 2])


def test_raw_reader_names_trailing_bytes_and_missing_variable_lists(tmp_path):
    d = np.arange(8.0).reshape(4, 2)
    _write_raw(tmp_path / "r.raw", ["time", "V(Out)"], d)
    raw = (tmp_path / "r.raw").read_bytes()
    (tmp_path / "r.raw").write_bytes(raw + b"\n")  # a trailing newline is no second plot
    p = read_single_plot(tmp_path / "r.raw")
    assert p.names == ("time", "v(out)")  # lower-cased, as the runner looks them up
    np.testing.assert_array_equal(p.data["v(out)"], d[:, 1])
    head = raw[:raw.index(b"Variables:\n")] + b"Binary:\n" + raw[raw.index(b"Binary:\n") + 8:]
    (tmp_path / "nov.raw").write_bytes(head)
    with pytest.raises(SpiceclError, match="header announces 2 variables, lists 0"):
        read_raw(tmp_path / "nov.raw")


@pytest.mark.spice
@requires_ngspice
def test_a_truncated_raw_file_after_a_clean_exit_is_a_simulation_error(monkeypatch):
    # exit status 0 but fewer points than announced (a full disk): refused, not read as if
    # the run had ended at the last whole point
    from dataclasses import replace

    from spicecl.spice import rawfile

    real = rawfile.read_single_plot
    monkeypatch.setattr(rawfile, "read_single_plot",
                        lambda path: replace(real(path), complete=False))
    with pytest.raises(SimulationError, match="truncated raw file"):
        run_ngspice(DIVIDER, ["v(mid)"], name="cut")




@pytest.mark.spice
@requires_ngspice
def test_op_divider_exact():
    res = run_ngspice(DIVIDER, ["v(mid)", "V(in)", "i(v1)"], name="divider")
    assert set(res.vectors) == {"v(mid)", "v(in)", "i(v1)"}
    assert res.vectors["v(mid)"][0] == pytest.approx(2.0, abs=1e-12)
    assert res.vectors["i(v1)"][0] == pytest.approx(-1e-3, abs=1e-15)
    assert res.elapsed > 0 and "ngspice" in res.log


@pytest.mark.spice
@requires_ngspice
def test_tran_rc_matches_analytic():
    res = run_ngspice(RC, ["time", "v(out)"], name="rc")
    t, v = res.vectors["time"], res.vectors["v(out)"]
    assert np.all(np.diff(t) > 0) and t[-1] == pytest.approx(5e-3)
    np.testing.assert_allclose(v, 1 - np.exp(-t / 1e-3), atol=5e-5)  # measured 3e-6


def _one_line(exc):
    msg = str(exc.value)
    assert "\n" not in msg
    return msg


def test_missing_ngspice(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    assert not ngspice_available()
    with pytest.raises(SpiceclError) as exc:
        run_ngspice(DIVIDER, ["v(mid)"])
    assert "sudo apt-get install -y ngspice libngspice0-dev" in _one_line(exc)


@pytest.mark.parametrize("argv", [
    ["oscillators", "--edges", "2", "--bias", "2.5", "--samples", "10", "--seed", "1"],
    ["validate", "dc", "--network", "exp16", "--seed", "1"],
])
def test_every_command_names_the_same_install_command_without_ngspice(capsys, monkeypatch,
                                                                      tmp_path, argv):
    # oscillators said "apt-get install -y ngspice", the other commands (and make setup)
    # "ngspice libngspice0-dev"
    from spicecl.cli import main

    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.rstrip().endswith("install it with: sudo apt-get install -y ngspice "
                                 "libngspice0-dev")


@pytest.mark.spice
@requires_ngspice
def test_nonconvergent_deck_names_deck_and_quotes_log(monkeypatch, tmp_path):
    import tempfile

    import spicecl.spice.runner as runner

    monkeypatch.setattr(runner, "KEEP_DIR", None)  # the default place, under the temp dir
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    deck = "loop\nV1 a 0 1\nV2 a 0 2\nR1 a 0 1k\n.op\n"
    with pytest.raises(SpiceclError) as exc:
        run_ngspice(deck, ["v(a)"], name="voltage_loop")
    msg = _one_line(exc)
    assert "voltage_loop" in msg and "did not converge" in msg
    assert "aborted" in msg or "Timestep too small" in msg
    # the failed deck outlives its temporary directory, to be re-run by hand
    kept = tmp_path / f"spicecl-failed-{os.getuid()}" / "voltage_loop.cir"
    assert msg.endswith(f"(deck and log kept as {kept} and .log)")
    assert kept.read_text().startswith(deck) and ".control" in kept.read_text()
    assert "Timestep too small" in kept.with_suffix(".log").read_text()
    assert kept.parent.stat().st_mode & 0o077 == 0  # private: /tmp is shared
    # a directory of that name that is a symlink (another user's trap) is not written to
    other = tmp_path / "elsewhere"
    other.mkdir()
    kept.with_suffix(".log").unlink()
    kept.unlink()
    kept.parent.rmdir()
    kept.parent.symlink_to(other)
    with pytest.raises(SpiceclError) as exc:
        run_ngspice(deck, ["v(a)"], name="voltage_loop")
    assert "kept as" not in _one_line(exc) and not list(other.iterdir())


@pytest.mark.spice
@requires_ngspice
def test_more_vectors_than_one_ngspice_write_takes():
    """ngspice's `write` refuses 1000 or more vectors ("too many args", which ended as "wrote
    no results"); the runner writes them in chunks. A 1,200-node divider chain: node k sits at
    (k + 1) / 1201 V, and the transient's scale comes with every chunk."""
    n = 1200
    lines = ["chain", "V1 n0 0 DC 1"] + [f"R{k} n{k} n{k + 1} 1k" for k in range(n)]
    lines += [f"R{n} n{n} 0 1k"]
    names = [f"v(n{k})" for k in range(1, n + 1)]
    res = run_ngspice("\n".join(lines + [".op"]), names, name="chain")
    got = np.array([res.vectors[v][0] for v in names])
    np.testing.assert_allclose(got, 1 - np.arange(1, n + 1) / (n + 1), rtol=0, atol=1e-12)
    res = run_ngspice("\n".join(lines + [".tran 1u 5u"]), ["time"] + names, name="chain_tran")
    assert len(res.vectors["time"]) == len(res.vectors[names[-1]]) > 2


@pytest.mark.spice
@requires_ngspice
def test_many_vectors_are_saved_before_the_run_not_looked_up_by_write(monkeypatch):
    """`write` with the names looked each one up among all of the plot's vectors: asking for
    4,000 node voltages of a 4,000-node chain took 4.4 s against 0.07 s for one (a 5000-edge
    twin deck's validate dc: 476 s, of which ~400 s in `write`). The runner `save`s them before
    the run and `write`s what was saved. (Speed itself is not asserted here: the deck is.)"""
    from spicecl.spice import runner

    decks, real = [], subprocess.Popen

    def spy(args, **kw):
        if "-b" in args:
            decks.append((Path(kw["cwd"]) / args[-1]).read_text())
        return real(args, **kw)

    monkeypatch.setattr(runner.subprocess, "Popen", spy)
    n = 4000
    lines = ["chain", "V1 n0 0 DC 1"] + [f"R{k} n{k} n{k + 1} 1k" for k in range(n)]
    deck = "\n".join(lines + [f"R{n} n{n} 0 1k", ".op"])
    names = [f"v(n{k})" for k in range(1, n + 1)]
    res = run_ngspice(deck, names, name="all")
    assert res.vectors[names[-1]][0] == pytest.approx(1 / (n + 1), rel=1e-9)
    assert res.vectors[names[0]][0] == pytest.approx(n / (n + 1), rel=1e-9)
    control = decks[-1][decks[-1].index(".control"):].splitlines()
    saves = [ln.split()[1:] for ln in control if ln.startswith("save ")]
    assert sum(saves, []) == names and control.index("run") > max(
        i for i, ln in enumerate(control) if ln.startswith("save "))
    assert [ln for ln in control if ln.startswith("write")] == ["write out0.raw"]


@pytest.mark.spice
@requires_ngspice
def test_a_differential_vector_is_still_written():
    # (ngspice's `save` drops v(a,b) without a word)
    res = run_ngspice(DIVIDER, ["v(in,mid)", "v(mid)"], name="diff")
    assert res.vectors["v(in,mid)"][0] == pytest.approx(1.0, abs=1e-12)  # 3 V - 2 V
    assert res.vectors["v(mid)"][0] == pytest.approx(2.0, abs=1e-12)


@pytest.mark.parametrize("script, match", [
    ('echo "Error: something broke"; kill -SEGV $$', "ngspice crashed (signal 11) on deck "
                                                     "fake: Error: something broke"),
    ('echo "Error: no such file"; exit 3', "ngspice failed (exit status 3) on deck fake: "
                                           "Error: no such file"),
    ("exit 0", "ngspice wrote no results on deck fake: (it printed nothing)"),
])
def test_ngspice_that_crashes_or_fails_is_one_line(monkeypatch, tmp_path, script, match):
    fake = tmp_path / "ngspice"
    fake.write_text("#!/bin/sh\n" + script + "\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(SpiceclError) as exc:
        run_ngspice(DIVIDER, ["v(mid)"], name="fake")
    assert match in _one_line(exc)


def _fake_ngspice(monkeypatch, tmp_path, script):
    fake = tmp_path / "bin" / "ngspice"
    fake.parent.mkdir()
    fake.write_text("#!/bin/sh\n" + script + "\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", str(fake.parent))


def test_an_interrupted_run_closes_the_pipe_of_ngspice_output(monkeypatch, tmp_path):
    # Ctrl-C, or SIGTERM raised as an exception, while ngspice ran: ngspice was killed and
    # reaped, but the pipe of its output stayed open until the Popen was collected ("unclosed
    # file" ResourceWarning of `spicecl solve` stopped by SIGTERM, seen with -X dev)
    _fake_ngspice(monkeypatch, tmp_path, "exec /bin/sleep 60")
    started = []

    class Interrupted(subprocess.Popen):
        def communicate(self, *args, **kwargs):
            started.append(self)
            raise KeyboardInterrupt

    monkeypatch.setattr(subprocess, "Popen", Interrupted)
    with pytest.raises(KeyboardInterrupt):
        run_ngspice(DIVIDER, ["v(mid)"], name="fake")
    (proc,) = started
    assert proc.returncode == -9  # killed and reaped
    assert proc.stdout.closed


def test_an_empty_raw_file_is_a_failed_run_not_bad_input(monkeypatch, tmp_path):
    # a full temporary directory: ngspice exits 0 with an empty raw file (was "raw file
    # /tmp/...: empty", exit status 2, naming a path already removed)
    _fake_ngspice(monkeypatch, tmp_path, ": > out0.raw")
    with pytest.raises(SimulationError) as exc:
        run_ngspice(DIVIDER, ["v(mid)"], name="fake")
    assert exc.value.exit_status == 1
    assert "ngspice wrote an unreadable raw file for deck fake (empty; disk full?)" in \
        _one_line(exc)


@pytest.mark.parametrize("how", ["missing", "none usable", "full"])
def test_a_temporary_directory_that_cannot_take_the_run_is_one_line(monkeypatch, tmp_path,
                                                                     how):
    """No writable temporary directory, TMPDIR missing, or one too full for the deck: a
    one-line error with exit status 1 (were tracebacks, and a full one "cannot write standard
    output")."""
    import errno
    import tempfile

    from spicecl.errors import RunError
    from spicecl.spice import runner

    _fake_ngspice(monkeypatch, tmp_path, "exit 0")
    if how == "missing":
        monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "missing"))
        want = f"in {tmp_path / 'missing'}: No such file or directory; set TMPDIR"
    elif how == "none usable":
        def none_usable():
            raise FileNotFoundError(errno.ENOENT, "No usable temporary directory found in "
                                                  "['/tmp']")
        monkeypatch.setattr(tempfile, "gettempdir", none_usable)
        want = "No usable temporary directory found in ['/tmp']; set TMPDIR"
    else:
        real = Path.write_text

        def full(self, *args, **kwargs):
            if self.suffix == ".cir":
                raise OSError(errno.ENOSPC, "No space left on device")
            return real(self, *args, **kwargs)
        monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
        monkeypatch.setattr(Path, "write_text", full)
        want = (f"cannot write deck fake for ngspice into the temporary directory {tmp_path} "
                f"(TMPDIR): No space left on device")
    monkeypatch.setattr(runner, "_SWEPT", set())
    with pytest.raises(RunError) as exc:
        run_ngspice(DIVIDER, ["v(mid)"], name="fake")
    assert exc.value.exit_status == 1
    assert want in _one_line(exc)
    if how != "full":
        assert "cannot make a run directory for ngspice (deck fake)" in _one_line(exc)


@pytest.mark.spice
@requires_ngspice
def test_a_failed_simulation_exits_1_and_refused_input_2(capsys, tmp_path):
    """Exit status 1 when ngspice fails on a deck the command accepted, 2 for input it refuses
    (both were 2)."""
    from spicecl.cli import main
    from spicecl.errors import SimulationError

    assert issubclass(SimulationError, SpiceclError) and SimulationError.exit_status == 1
    models = tmp_path / "models"
    models.mkdir()
    for f in ("comparator.lib", "digipot.lib", "decision_cell.lib", "oscillator.lib"):
        (models / f).write_text("* empty\n")
    assert main(["validate", "dc", "--network", "exp16", "--seed", "1", "--models",
                 str(models)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "ngspice" in err and "on deck validate-dc-exp16" in err
    assert main(["validate", "dc", "--network", "exp16", "--seed", "1", "--timeout", "0"]) == 2


def test_timeout_python_cannot_wait_for_is_refused_before_ngspice_starts():
    with pytest.raises(SpiceclError) as exc:
        run_ngspice("t\nR1 a 0 1k\nV1 a 0 1\n.op\n", ["v(a)"], timeout=1e7)
    assert "timeout must be in (0, 1e+06], got 10000000.0" in _one_line(exc)


@pytest.mark.spice
@requires_ngspice
def test_timeout_kills_ngspice():
    deck = "slow\nV1 a 0 SIN(0 1 1meg)\nR1 a 0 1\n.tran 1p 10m\n"
    with pytest.raises(SpiceclError) as exc:
        run_ngspice(deck, ["v(a)"], name="slow", timeout=0.5)
    assert "timed out after 0.5 s on deck slow" in _one_line(exc)


@pytest.mark.spice
@requires_ngspice
def test_unknown_subckt_and_missing_vector():
    with pytest.raises(SpiceclError, match="unknown subckt"):
        run_ngspice("t\nX1 a 0 nosuch\nR1 a 0 1\n.op\n", ["v(a)"], name="nosub")
    with pytest.raises(SpiceclError, match="no such vector"):
        run_ngspice(DIVIDER, ["v(nowhere)"], name="novec")


def test_deck_and_vector_checks():
    with pytest.raises(SpiceclError, match="control"):
        run_ngspice("t\nR1 a 0 1\n.op\n.control\nshell ls\n.endc\n", ["v(a)"])
    for bad in ["v(a) ; shell", "v(a)\nshell", "", ".include"]:
        with pytest.raises(SpiceclError, match="not allowed"):
            run_ngspice(DIVIDER, [bad])


def test_import_starts_nothing_and_skips_pyspice():
    code = ("import sys, spicecl.spice.runner, spicecl.netlist, spicecl.variation;"
            "print('PySpice' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == "False"


def test_raw_reader_refuses_negative_counts(tmp_path):
    # "No. Points: -5" moved the read position back to the header: read_raw looped for ever
    # and grew without bound (24 GB in a few minutes) instead of raising
    path = tmp_path / "neg.raw"
    _write_raw(path, ["time", "v(a)"], np.arange(10.0).reshape(5, 2))
    for old, new in ((b"No. Points: 5", b"No. Points: -5"),
                     (b"No. Variables: 2", b"No. Variables: 0")):
        path.write_bytes(path.read_bytes().replace(old, new))
        with pytest.raises(SpiceclError, match="announces"):
            read_raw(path)
        _write_raw(path, ["time", "v(a)"], np.arange(10.0).reshape(5, 2))


@pytest.mark.spice
@requires_ngspice
def test_ng_script_title_is_refused(tmp_path):
    # '*ng_script' on the first line makes ngspice run every line as a command
    flag = tmp_path / "ran"
    with pytest.raises(SpiceclError, match="ng_script"):
        run_ngspice(f"*ng_script\nshell touch {flag}\n", ["v(a)"], name="script")
    # and a '*#' line anywhere is run as a command (leading blanks allowed), not skipped
    for line in (f"*# shell touch {flag}", f"\t*#shell touch {flag}"):
        with pytest.raises(SpiceclError, match="'\\*#' line"):
            run_ngspice(f"t\n{line}\nV1 a 0 1\nR1 a 0 1\n.op\n", ["v(a)"], name="starhash")
    assert not flag.exists()


@pytest.mark.spice
@requires_ngspice
def test_deck_named_like_an_option_runs():
    assert run_ngspice(DIVIDER, ["v(mid)"], name="-r").vectors["v(mid)"][0] == \
        pytest.approx(2.0, abs=1e-9)


@pytest.mark.spice
@requires_ngspice
def test_interrupt_kills_ngspice():
    # Ctrl-C while ngspice runs (it has its own session, so the terminal's SIGINT misses it)
    code = """
import os, signal, subprocess, threading, time
from spicecl.spice import runner
pids = []
real = subprocess.Popen
def spy(*a, **k):
    p = real(*a, **k)
    if "-b" in a[0]:  # (ngspice, not setpriv's probe)
        pids.append(p.pid)
    return p
runner.subprocess.Popen = spy
threading.Timer(1.0, lambda: os.kill(os.getpid(), signal.SIGINT)).start()
try:
    runner.run_ngspice("slow\\nV1 a 0 SIN(0 1 1meg)\\nR1 a 0 1\\n.tran 1p 10m\\n", ["v(a)"],
                       timeout=60)
except KeyboardInterrupt:
    pass
time.sleep(0.2)
try:
    os.kill(pids[0], 0)
    print("alive")
except ProcessLookupError:
    print("gone")
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60).stdout.strip()
    assert out == "gone"


@pytest.mark.spice
@requires_ngspice
def test_a_terminated_worker_kills_its_ngspice_and_removes_its_temp_dir(tmp_path):
    # a worker leaves with os._exit (spicecl.sweep._exit_now): its ngspice (own session) and
    # the TemporaryDirectory the runner made were left behind
    code = """
import os, subprocess, threading, time
from spicecl.spice import runner
from spicecl import sweep
pids = []
real = subprocess.Popen
def spy(*a, **k):
    p = real(*a, **k)
    if "-b" in a[0]:  # (ngspice, not setpriv's probe)
        pids.append(p.pid); print(p.pid, flush=True)
    return p
runner.subprocess.Popen = spy
deck = "slow\\nV1 a 0 SIN(0 1 1meg)\\nR1 a 0 1\\n.tran 1p 10m\\n"
threading.Thread(target=runner.run_ngspice, args=(deck, ["v(a)"]), kwargs={"timeout": 60},
                 daemon=True).start()
while not runner._RUNNING:
    time.sleep(0.05)
sweep._exit_now(15)
"""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, env={**os.environ, "TMPDIR": str(tmp_path)})
    assert proc.returncode == 128 + 15, proc.stderr
    pid = int(proc.stdout.split()[0])
    deadline = time.monotonic() + 5
    while os.path.exists(f"/proc/{pid}") and _state(pid) != "Z":
        assert time.monotonic() < deadline, "ngspice left running"
        time.sleep(0.05)
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith("spicecl-ngspice")]


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "gone"


@pytest.mark.spice
@requires_ngspice
def test_ngspice_dies_with_a_sigkilled_parent(tmp_path):
    # SIGKILL (OOM killer, kill -9, a scheduler's hard limit) runs no clean-up in Python, and
    # ngspice runs in its own session. In a transient it writes progress to stderr every
    # 0.25 s and dies of SIGPIPE once its pipe's reader is gone; but while it reads a large
    # deck, solves an operating point or writes the raw file it writes nothing, and ran on.
    # Here: a large resistor grid's .op (~11 s of silent work on an idle 2-core machine; an
    # 80 x 80 grid took only ~1 s, less than the 3 s the test waits, and passed unfixed).
    from spicecl.spice import runner

    if not runner._launcher():  # (the runner's documented fallback: ngspice starts plainly)
        pytest.skip("no setpriv --pdeathsig here (not Linux, or util-linux < 2.33)")
    code = """
import subprocess
from spicecl.spice import runner
real = subprocess.Popen
def spy(args, **k):
    p = real(args, **k)
    if "-b" in args:  # (ngspice, not setpriv's probe)
        print(p.pid, flush=True)
    return p
runner.subprocess.Popen = spy
n, lines = 120, ["grid", "V1 n0_0 0 1", "R0 n119_119 0 1k"]
for i in range(n):
    for j in range(n):
        if i + 1 < n:
            lines.append(f"Ra{i}_{j} n{i}_{j} n{i + 1}_{j} 1k")
        if j + 1 < n:
            lines.append(f"Rb{i}_{j} n{i}_{j} n{i}_{j + 1} 1k")
runner.run_ngspice("\\n".join(lines + [".op"]), ["v(n0_0)"], timeout=60)
"""
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "TMPDIR": str(tmp_path)})
    pid = None
    try:
        pid = int(proc.stdout.readline())
        deadline = time.monotonic() + 5  # ngspice itself (not a launcher) is running
        while "ngspice" not in _cmdline(pid).split(" ")[0] and time.monotonic() < deadline:
            time.sleep(0.02)
        assert "ngspice" in _cmdline(pid).split(" ")[0] and _state(pid) not in ("Z", "gone")
        proc.kill()
        proc.wait(10)
        deadline = time.monotonic() + 3
        while _state(pid) not in ("Z", "gone"):
            assert time.monotonic() < deadline, "ngspice outlived its killed parent"
            time.sleep(0.05)
    finally:  # a failure must not leave ngspice running
        proc.kill()
        proc.wait(10)
        proc.stdout.close()
        if pid is not None and _state(pid) not in ("Z", "gone") and "ngspice" in _cmdline(pid):
            os.kill(pid, 9)


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


@pytest.mark.spice
@requires_ngspice
def test_a_setpriv_without_pdeathsig_is_not_used(tmp_path, monkeypatch):
    # util-linux before 2.33 has no --pdeathsig: ngspice then starts without it
    fake = tmp_path / "setpriv"
    fake.write_text("#!/bin/sh\necho 'setpriv: unrecognized option' >&2\nexit 1\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    from spicecl.spice import runner

    assert run_ngspice(DIVIDER, ["v(mid)"]).vectors["v(mid)"][0] == pytest.approx(2.0)
    assert runner._launcher() == []


@pytest.mark.spice
@requires_ngspice
def test_a_run_removes_temp_dirs_of_dead_processes(tmp_path, monkeypatch):
    # a process killed outright (SIGKILL) leaves its spicecl-ngspice-PID-* directory for ever
    import tempfile

    from spicecl.results import host_tag as _host_tag
    from spicecl.spice.runner import _tmp_prefix

    dead = subprocess.Popen(["true"])
    dead.wait()
    root = tmp_path / "tmp"
    root.mkdir()
    stale = root / f"{_tmp_prefix(dead.pid)}abc"
    (stale / "sub").mkdir(parents=True)
    (stale / "sub" / "x.raw").write_text("x")
    live = root / f"{_tmp_prefix(os.getppid())}abc"  # a live process's run: kept
    live.mkdir()
    target = tmp_path / "elsewhere"  # a symbolic link is neither followed nor removed
    target.mkdir()
    (target / "keep").write_text("x")
    link = root / f"{_tmp_prefix(dead.pid)}lnk"
    link.symlink_to(target)
    plain = root / f"{_tmp_prefix(dead.pid)}file"  # not a directory
    plain.write_text("x")
    # a pid names a process only on its host (a TMPDIR can be shared between hosts or
    # containers): another host's run, and one from before the host was in the name, stay
    elsewhere = "0badc0de" if _host_tag() != "0badc0de" else "ffffffff"
    there = root / f"spicecl-ngspice-{dead.pid}-{elsewhere}-abc"
    old = root / f"spicecl-ngspice-{dead.pid}-abc"
    there.mkdir()
    old.mkdir()
    kept = [live, link, plain, target / "keep", there, old]
    if os.getuid() == 0:  # another user's directory: kept
        other = root / f"{_tmp_prefix(dead.pid)}other"
        other.mkdir()
        os.chown(other, 65534, 65534)
        kept.append(other)
    monkeypatch.setattr(tempfile, "tempdir", str(root))
    assert run_ngspice(DIVIDER, ["v(mid)"]).vectors["v(mid)"][0] == pytest.approx(2.0)
    assert not stale.exists()
    assert all(os.path.lexists(p) for p in kept)


def _which_on(monkeypatch, tmp_path, name, script):
    """A fake executable ``name`` alone on PATH."""
    bin_dir = tmp_path / f"bin-{name}"
    bin_dir.mkdir()
    fake = bin_dir / name
    fake.write_text("#!/bin/sh\n" + script + "\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", str(bin_dir))


def test_ngspice_version_is_that_of_the_ngspice_on_path_now(monkeypatch, tmp_path):
    # the version was cached once per process, whatever ngspice PATH named later: a session
    # whose PATH came to name another ngspice (or a test with a fake one) recorded the first
    # one's version in its manifests, and a version with no ngspice at all
    from spicecl.spice.runner import ngspice_version

    path = os.environ["PATH"]
    here = ngspice_version()
    _which_on(monkeypatch, tmp_path, "ngspice", "echo '** ngspice-99.9 : fake'")
    assert ngspice_version() == "99.9"
    monkeypatch.setenv("PATH", str(tmp_path))  # none
    assert ngspice_version() is None
    monkeypatch.setenv("PATH", path)
    assert ngspice_version() == here


def test_the_launcher_is_probed_for_the_setpriv_on_path_now(monkeypatch, tmp_path):
    # one PATH without setpriv (a test's fake-ngspice PATH) left "no setpriv" cached for the
    # process: every later ngspice started without a parent-death signal (and the SIGKILL
    # test skipped itself)
    from spicecl.spice import runner

    path = os.environ["PATH"]
    here = runner._launcher()
    monkeypatch.setenv("PATH", str(tmp_path))  # no setpriv
    assert runner._launcher() == []
    monkeypatch.setenv("PATH", path)
    assert runner._launcher() == here
    if shutil.which("setpriv") and shutil.which("true") and sys.platform.startswith("linux"):
        _which_on(monkeypatch, tmp_path, "setpriv", "exit 1")  # one without --pdeathsig
        monkeypatch.setenv("PATH", f"{os.environ['PATH']}{os.pathsep}{path}")
        assert runner._launcher() == []
        monkeypatch.setenv("PATH", path)
        assert runner._launcher() == here
