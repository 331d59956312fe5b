"""Package hygiene: cheap imports, the CLI builds, one-line usage errors."""

from __future__ import annotations

import math
import subprocess
import sys

import pytest

from spicecl.cli import build_parser, main


def test_import_starts_nothing_heavy():
    code = ("import sys, spicecl, spicecl.cli, spicecl.network, spicecl.solver, "
            "spicecl.learning, spicecl.tasks; spicecl.cli.build_parser(); "
            "bad = [m for m in ('PySpice', 'matplotlib', 'dask', 'distributed') "
            "if m in sys.modules]; print(','.join(bad))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_every_module_imports_first():
    """Each module imports in a fresh interpreter as the first spicecl import: an import
    cycle that only works in one order (netlist.twin <-> oscbank.design, once) fails here."""
    from pathlib import Path

    import spicecl

    root = Path(spicecl.__file__).parent
    names = sorted("spicecl." + ".".join(p.relative_to(root).with_suffix("").parts)
                   for p in root.rglob("*.py") if p.name not in ("__init__.py", "__main__.py"))
    code = ("import importlib, sys\nfor name in sys.argv[1:]:\n"
            "    for m in [m for m in sys.modules if m.startswith('spicecl')]:\n"
            "        del sys.modules[m]\n"
            "    importlib.import_module(name)\n")
    out = subprocess.run([sys.executable, "-c", code, *names], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]
    assert len(names) > 30


def test_every_command_registers_and_has_help(capsys):
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    assert {"train", "solve", "network", "bench"} <= set(sub.choices)
    for name in sub.choices:
        with pytest.raises(SystemExit) as exc:
            main([name, "--help"])
        assert exc.value.code == 0
    assert "usage" in capsys.readouterr().out


def test_no_command_lists_the_commands(capsys):
    assert main([]) == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: spicecl") and "reproduce" in err and "oscillators" in err


def test_unknown_command_is_a_one_line_error(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["frobnicate"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "invalid choice" in err


@pytest.mark.parametrize("argv,hint", [
    # argparse (before Python 3.14) lists the choices but does not say which was meant
    (["trian", "--network", "exp16"], "maybe you meant 'train'?"),
    (["network", "exprt", "exp16"], "maybe you meant 'export'?"),
    (["validate", "DC", "--network", "exp16", "--seed", "1"], "maybe you meant 'dc'?"),
    (["bench", "learnng"], "maybe you meant 'learning'?"),
    (["train", "--network", "exp16", "--rule", "Discrete"], "maybe you meant 'discrete'?"),
    (["train", "--network", "exp16", "--stepz", "5"], "(maybe you meant --steps?)"),
    (["train", "--network", "exp16", "--gama=1e10"], "(maybe you meant --gamma?)"),
    (["solve", "--network", "exp16", "--fix", "0=1", "-json"], "(maybe you meant --json?)"),
    (["oscillators", "--edges", "2", "--bias", "2.5", "--samples", "10", "--seed", "1",
      "--tolerence", "0.1"], "(maybe you meant --tolerance?)"),
])
def test_a_mistyped_name_gets_a_hint(capsys, monkeypatch, tmp_path, argv, hint):
    monkeypatch.chdir(tmp_path)  # nothing may be written, but never into the checkout
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and hint in err


@pytest.mark.parametrize("argv,prog,typed,option", [
    # argparse said only "the following arguments are required: --network"
    (["train", "--netwrok", "exp16"], "spicecl train", "--netwrok", "--network"),
    (["compare", "--netwrok", "exp16", "--task", "allostery", "--p", "1", "--tasks", "1",
      "--steps", "1", "--seed", "1"], "spicecl compare", "--netwrok", "--network"),
    (["netlist", "twin", "--network", "exp16", "--sed", "1", "-o", "never.cir"],
     "spicecl netlist twin", "--sed", "--seed"),
    # and "one of the arguments --edges --network is required"
    (["oscillators", "--edgs", "2", "--bias", "2.5", "--samples", "10", "--seed", "1"],
     "spicecl oscillators", "--edgs", "--edges"),
])
def test_a_mistyped_required_option_is_named_as_mistyped(capsys, monkeypatch, tmp_path, argv,
                                                          prog, typed, option):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err == f"{prog}: error: unrecognized arguments: {typed} (maybe you meant {option}?)\n"
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize("argv,hint", [
    (["reproduce", "FIG1", "--quick", "--out", "never"], "(maybe you meant fig1?)"),
    (["train", "--network", "EXP16"], "(maybe you meant exp16?)"),
    (["solve", "--network", "disordered134", "--fix", "0=1"], "(maybe you meant disordered143?)"),
])
def test_a_mistyped_figure_or_network_name_gets_a_hint(capsys, monkeypatch, tmp_path, argv,
                                                       hint):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.rstrip().endswith(hint)
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize("argv,prog", [
    (["solve", "--network", "exp16", "--fix", "0=1", "--bogus"], "spicecl solve"),
    (["netlist", "twin", "--network", "exp16", "--seed", "1", "-o", "x.cir", "--zzz"],
     "spicecl netlist twin"),
    (["network", "export", "exp16", "--xx", "1"], "spicecl network export"),
    (["train", "--network", "exp16", "stray"], "spicecl train"),
])
def test_an_unknown_option_names_its_subcommand(capsys, argv, prog):
    # argparse said "spicecl: error: unrecognized arguments", as if the top level had them
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"{prog}: error: unrecognized arguments: ")


@pytest.mark.parametrize("argv,option", [
    # argparse took a prefix of another option: oscillators --steps 100 set --steps-per-period
    # silently, compare --tolerance 0.05 read a spec file "0.05"
    (["oscillators", "--edges", "2", "--bias", "2.5", "--samples", "10", "--seed", "1",
      "--steps", "100"], "--steps"),
    (["compare", "--network", "exp16", "--task", "allostery", "--p", "1", "--tasks", "1",
      "--steps", "1", "--seed", "1", "--tolerance", "0.05"], "--tolerance"),
    (["reproduce", "fig1", "--quick", "--work", "2", "--out", "never"], "--work"),
])
def test_a_prefix_of_an_option_is_not_taken_for_it(capsys, monkeypatch, tmp_path, argv, option):
    monkeypatch.chdir(tmp_path)  # nothing may be written, but never into the checkout
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "unrecognized arguments: " in err and option in err
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize("argv", [
    ["network", "export", "disordered143", "--seed", "-1"],
    ["solve", "--network", "disordered143", "--network-seed", "-1", "--fix", "0=1"],
    ["train", "--network", "exp16", "--seed", "-1"],
    ["netlist", "twin", "--network", "exp16", "--seed", "-1", "-o", "never.cir"],
    ["validate", "dc", "--network", "exp16", "--seed", "-1"],
    ["oscillators", "--edges", "2", "--bias", "2.5", "--samples", "10", "--seed", "-1"],
    ["reproduce", "fig1", "--quick", "--seed", "-1", "--out", "never"],
    ["cosim", "--network", "exp16", "--steps", "1", "--seed", "-1"],
    ["compare", "--network", "exp16", "--task", "allostery", "--p", "1", "--tasks", "1",
     "--steps", "1", "--seed", "-1"],
    ["demo", "--seed", "-1", "--out", "never"],
    ["train", "--network", "exp16", "--seed", "x"],
])
def test_negative_or_non_integer_seed_is_a_one_line_usage_error(capsys, monkeypatch, tmp_path,
                                                                argv):
    monkeypatch.chdir(tmp_path)  # nothing may be written, but never into the checkout
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "argument --" in err and "seed" in err
    assert "Traceback" not in err


@pytest.mark.parametrize("argv, option", [
    # float() and int() read '1_0' as 10 and other scripts' digits as digits: a typo or a
    # look-alike set another number (solve --fix 0=1_0 held node 0 at 10 V)
    (["solve", "--network", "exp16", "--fix", "0=1_0"], "--fix"),
    (["solve", "--network", "exp16", "--fix", "0=\u0661"], "--fix"),
    (["solve", "--network", "exp16", "--fix", "0=1", "--resistance", "1_000"], "--resistance"),
    (["train", "--network", "exp16", "--steps", "1_0"], "--steps"),
    (["train", "--network", "exp16", "--steps", "\u0661\u0660"], "--steps"),
    (["train", "--network", "exp16", "--seed", "1_0"], "--seed"),
    (["network", "export", "disordered143", "--seed", "\uff11"], "--seed"),
    (["oscillators", "--edges", "2", "--bias", "\uff12.5", "--samples", "10", "--seed", "1"],
     "--bias"),
    (["compare", "--network", "exp16", "--task", "allostery", "--p", "1", "0.2_5", "--tasks",
      "1", "--steps", "1", "--seed", "1"], "--p"),
    (["reproduce", "fig1", "--quick", "--workers", "1_0", "--out", "never"], "--workers"),
])
def test_a_number_not_written_in_ascii_digits_is_refused(capsys, monkeypatch, tmp_path, argv,
                                                          option):
    monkeypatch.chdir(tmp_path)  # nothing may be written, but never into the checkout
    try:
        status = main(argv)
    except SystemExit as exc:
        status = exc.code
    assert status == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and option in err and "Traceback" not in err
    assert not any(tmp_path.iterdir())


def test_numbers_in_ascii_read_as_float_and_int_read_them():
    from spicecl.commands.core import integer_arg, real_arg, seed_arg

    texts = ["1e3", "0.5", "-2", ".5", "5.", "+1", "1E-3", " 2 ", "inf", "-Infinity"]
    assert [real_arg(t) for t in texts] == [float(t) for t in texts]
    assert math.isnan(real_arg("nan"))
    texts = ["0", "-3", "+7", "007", " 12 "]
    assert [integer_arg(t) for t in texts] == [int(t) for t in texts]
    assert seed_arg("42") == 42


@pytest.mark.parametrize("argv", [
    ["train", "--network", "exp16", "--steps", "5", "--out", "{bad}"],
    ["compare", "--network", "exp16", "--task", "allostery", "--p", "1", "--tasks", "1",
     "--steps", "5", "--seed", "1", "--out", "{bad}"],
    ["oscillators", "--edges", "2", "--bias", "2.5", "--samples", "10", "--seed", "1",
     "--out", "{bad}"],
    ["demo", "--out", "{bad}"],
    ["bench", "learning", "--out", "{bad}/bench.json"],
    ["bench", "learning", "--out", "{dir}"],
])
def test_a_bad_output_path_fails_before_the_run(capsys, tmp_path, argv):
    (tmp_path / "file").write_text("")
    (tmp_path / "dir").mkdir()
    argv = [a.format(bad=tmp_path / "file" / "sub", dir=tmp_path / "dir") for a in argv]
    assert main(argv) == 2
    out = capsys.readouterr()
    # one line naming the option and the path, and nothing ran (no stage or progress output)
    assert out.err.count("\n") == 1 and out.err.startswith("spicecl: error: --out ")
    assert "directory" in out.err and out.out == ""
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dir", "file"]
    assert not any((tmp_path / "dir").iterdir())


@pytest.mark.parametrize("argv", [
    ["network", "export", "exp16", "-o", "{bad}"],
    ["train", "--network", "exp16", "--steps", "5", "--out", "{bad}"],
    ["bench", "learning", "--out", "{bad}"],
    ["netlist", "oscillators", "--network", "exp16", "--seed", "1", "-o", "{bad}"],
    ["netlist", "twin", "--network", "exp16", "--seed", "1", "--output", "{bad}"],
    ["oscillators", "--edges", "2", "--bias", "2.5", "--samples", "10", "--seed", "1",
     "--out", "{bad}"],
    ["compare", "--network", "exp16", "--task", "allostery", "--p", "1", "--tasks", "1",
     "--steps", "5", "--seed", "1", "--out", "{bad}"],
    ["demo", "--out", "{bad}"],
    ["reproduce", "fig1", "--quick", "--out", "{bad}"],
])
@pytest.mark.parametrize("bad", ["a\nb", "a\tb", "a\x7fb", "a\x85b", ""])
def test_an_output_path_with_a_control_character_is_a_usage_error(capsys, monkeypatch,
                                                                  tmp_path, argv, bad):
    # a newline split the "wrote ..." lines (and cannot go into a deck's .include path);
    # an empty path meant "no output" (train, oscillators) or standard output (export)
    monkeypatch.chdir(tmp_path)
    option = argv[argv.index("{bad}") - 1]
    with pytest.raises(SystemExit) as exc:
        main([bad if a == "{bad}" else a for a in argv])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "error: argument " in err and option in err
    assert not any(tmp_path.iterdir())


def test_out_of_memory_is_a_one_line_error_exit_2(capsys, monkeypatch):
    import spicecl.tasks

    def huge(*a, **k):
        raise MemoryError("Unable to allocate 1.46 TiB for an array with shape (100000000000, 2)")

    monkeypatch.setattr(spicecl.tasks, "make_task", huge)
    assert main(["train", "--network", "exp16", "--steps", "2",
                 "--train-examples", "100000000000"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("spicecl: error: out of memory (Unable")


def test_a_full_standard_output_is_a_one_line_error_exit_2(capsys, monkeypatch):
    import errno

    class Full:
        def write(self, text):
            raise OSError(errno.ENOSPC, "No space left on device")

        def flush(self):
            pass

    monkeypatch.setattr(sys, "stdout", Full())
    assert main(["solve", "--network", "exp16", "--fix", "0=1", "--json"]) == 2
    err = capsys.readouterr().err
    assert err == "spicecl: error: cannot write standard output: No space left on device\n"


@pytest.mark.parametrize("argv", [
    ["network", "export", "disordered:2000:4000"],  # streamed piece by piece
    ["network", "info", "exp16"], ["network", "info", "disordered:2000:4000", "--json"],
    ["solve", "--network", "exp16", "--fix", "0=1"],
    # exit 0: argparse ignores a failed write
    ["--help"], ["--version"], ["train", "--help"],
    ["train", "--network", "exp16", "--steps", "2", "--json"],
    pytest.param(["validate", "dc", "--network", "exp16", "--seed", "1"],
                 marks=pytest.mark.spice),
])
def test_a_closed_standard_output_ends_the_command_quietly_with_status_141(tmp_path, argv):
    # `spicecl ... | head -1`: exit status 1 said "failed" (a validate FAIL, a failed
    # simulation); a tool stopped by SIGPIPE gives 128 + 13 and says nothing
    import os

    # standard output buffered, as a pipe's is unless PYTHONUNBUFFERED is set: --version's
    # line reached the pipe only at the interpreter's exit ("Exception ignored ...", 120)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    read, write = os.pipe()
    os.close(read)  # no reader: every write to standard output fails with EPIPE
    try:
        out = subprocess.run([sys.executable, "-m", "spicecl", *argv], stdout=write,
                             stderr=subprocess.PIPE, text=True, cwd=tmp_path, env=env)
    finally:
        os.close(write)
    assert (out.returncode, out.stderr) == (141, "")


@pytest.mark.parametrize("argv, status", [
    # --help went to stderr and exited 0; the JSON an AttributeError traceback
    (["--help"], 2), (["--version"], 2), (["train", "--help"], 2),
    (["solve", "--network", "exp16", "--fix", "0=1", "--json"], 2),
    (["network", "export", "exp16"], 2),
    (["network", "info", "exp16"], 2),
    (["network", "export", "exp16", "-o", "{tmp}/net.graphml"], 0),  # no standard output
])
def test_a_command_started_without_standard_output_says_so_when_it_writes(tmp_path, argv,
                                                                           status):
    # `spicecl ... >&-`: the process starts with descriptor 1 closed (sys.stdout is None)
    import os

    err = tmp_path / "stderr"
    argv = [word.format(tmp=tmp_path) for word in argv]
    with open(err, "w") as f:
        pid = os.posix_spawn(sys.executable, [sys.executable, "-m", "spicecl", *argv],
                             os.environ,
                             file_actions=[(os.POSIX_SPAWN_CLOSE, 1),
                                           (os.POSIX_SPAWN_DUP2, f.fileno(), 2)])
        returned = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
    said = err.read_text()
    if status == 0:
        assert returned == 0 and said.startswith("wrote ")  # (on stderr)
    else:
        assert (returned, said) == (2, "spicecl: error: cannot write standard output: Bad "
                                       "file descriptor\n")


def test_ctrl_c_while_the_commands_import_is_an_interrupt_not_a_traceback(capsys, monkeypatch):
    # building the parser imports every command module (~1 s with scipy): a Ctrl-C there
    # was a KeyboardInterrupt traceback
    import spicecl.cli

    def interrupted():
        raise KeyboardInterrupt

    monkeypatch.setattr(spicecl.cli, "build_parser", interrupted)
    assert main(["network", "info", "exp16"]) == 130
    assert capsys.readouterr().err == "spicecl: interrupted\n"


@pytest.mark.parametrize("argv", [
    ["train", "--network", "exp16", "--steps", "2", "--seed", "1"],
    ["oscillators", "--edges", "4", "--bias", "2.5", "--samples", "50", "--seed", "1"],
])
def test_an_out_holding_another_commands_run_is_refused(capsys, tmp_path, argv):
    # train and oscillators overwrote another run's manifest and summary, mixing its files
    manifest = '{"command": "spicecl compare --p 1"}'
    (tmp_path / "manifest.json").write_text(manifest)
    assert main([*argv, "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err == (f"spicecl: error: --out {tmp_path} holds the results of another command "
                   f"(spicecl compare); use another --out or remove it\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["manifest.json"]
    (tmp_path / "manifest.json").write_text(f'{{"command": "spicecl {argv[0]} --x"}}')
    assert main([*argv, "--out", str(tmp_path)]) == 0  # its own earlier run: overwritten


def test_check_count_names_the_parameter_and_its_limits():
    from spicecl.errors import SpiceclError, check_count

    assert check_count("--steps", 5, 1, 10) == 5
    with pytest.raises(SpiceclError, match=r"^--steps must be >= 1, got 0$"):
        check_count("--steps", 0, 1, 10)
    with pytest.raises(SpiceclError, match=r"^--tasks must be <= 100000, got 100001$"):
        check_count("--tasks", 100001, 1, 100000)
    with pytest.raises(SpiceclError, match=r"^--steps must be <= 1e\+12, got 1000000000001$"):
        check_count("--steps", 10**12 + 1, 1, 10**12)


def test_a_library_call_after_main_does_not_record_mains_command(tmp_path, capsys):
    """The command line main() ran is the manifests' command only while it runs."""
    from spicecl import results

    assert main(["network", "export", "exp16", "--format", "graphml", "-o",
                 str(tmp_path / "n.graphml")]) == 0
    assert "network export" not in results.command_line()
    assert results.manifest({}, 1)["command"] == results.command_line()


def test_sigterm_stops_any_command_as_ctrl_c_does(capsys, monkeypatch):
    # Only reproduce caught SIGTERM: for every other command the default action killed the
    # process alone, so the ngspice it waited for (in its own session) kept running with no
    # timeout, its temporary directory stayed and no message was printed
    import os
    import signal
    import time

    import spicecl.commands.core

    seen = []

    def killed(args):
        assert callable(signal.getsignal(signal.SIGTERM)), "SIGTERM would kill at once"
        try:
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(5)  # (the handler raises here)
        except BaseException as exc:
            seen.append(type(exc).__name__)  # what the ngspice runner's clean-up sees
            raise
        return 0

    monkeypatch.setattr(spicecl.commands.core, "cmd_solve", killed)
    previous = signal.getsignal(signal.SIGTERM)
    assert main(["solve", "--network", "exp16", "--fix", "0=1"]) == 143
    assert capsys.readouterr().err == "spicecl: terminated\n"
    assert seen == ["Terminated"]
    assert signal.getsignal(signal.SIGTERM) == previous  # restored after the command


@pytest.mark.spice
def test_sigterm_kills_the_ngspice_a_command_waits_for(tmp_path):
    # `kill PID` on spicecl oscillators (one process) left its ngspice running and its
    # temporary run directory behind
    import os
    import shutil
    import signal
    import time

    if shutil.which("ngspice") is None:
        pytest.skip("ngspice not installed")
    code = """
import os, signal, subprocess, sys, threading, time
import spicecl.commands.core
from spicecl.cli import main
from spicecl.spice import runner
real = subprocess.Popen
def spy(*a, **k):
    p = real(*a, **k)
    if "-b" in a[0]:  # (ngspice, not setpriv's probe)
        print(p.pid, flush=True)
    return p
runner.subprocess.Popen = spy
def slow(args):
    runner.run_ngspice("slow\\nV1 a 0 SIN(0 1 1meg)\\nR1 a 0 1\\n.tran 1p 10m\\n", ["v(a)"],
                       timeout=60)
    return 0
def term():
    while not runner._RUNNING:
        time.sleep(0.05)
    os.kill(os.getpid(), signal.SIGTERM)
spicecl.commands.core.cmd_solve = slow
threading.Thread(target=term, daemon=True).start()
sys.exit(main(["solve", "--network", "exp16", "--fix", "0=1"]))
"""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, env={**os.environ, "TMPDIR": str(tmp_path)})
    assert (proc.returncode, proc.stderr) == (143, "spicecl: terminated\n")
    pid = int(proc.stdout.split()[0])
    deadline = time.monotonic() + 5
    while os.path.exists(f"/proc/{pid}") and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        assert not os.path.exists(f"/proc/{pid}"), "ngspice left running"
    finally:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    assert not list(tmp_path.glob("spicecl-ngspice-*"))


@pytest.mark.parametrize("sig,status,what", [("SIGINT", 130, "interrupted"),
                                             ("SIGTERM", 143, "terminated")])
def test_an_extension_that_turns_the_interrupt_into_its_own_error_still_stops_in_one_line(
        capsys, monkeypatch, tmp_path, sig, status, what):
    # matplotlib's Agg renderer interrupted by Ctrl-C or SIGTERM while drawing raised
    # "ValueError: Invalid affine transformation matrix" in place of the interrupt: a
    # traceback and exit status 1 (seen with reproduce fig4d --quick, SIGTERM while plotting)
    import os
    import signal
    import time

    import spicecl.commands.core
    import spicecl.experiments

    def drawing(*args, **kwargs):
        try:
            os.kill(os.getpid(), getattr(signal, sig))
            time.sleep(5)
        except BaseException:
            raise ValueError("Invalid affine transformation matrix") from None

    monkeypatch.setattr(spicecl.commands.core, "cmd_solve", drawing)
    assert main(["solve", "--network", "exp16", "--fix", "0=1"]) == status
    assert capsys.readouterr().err == f"spicecl: {what}\n"
    monkeypatch.setattr(spicecl.experiments, "run_figure", drawing)
    assert main(["reproduce", "fig4c", "--quick", "--out", str(tmp_path)]) == status
    assert capsys.readouterr().err == (f"spicecl: {what}; the same command resumes from the "
                                       f"jobs finished in {tmp_path}/\n")
    # an error with no signal behind it is still a bug's traceback
    def broken(args):
        raise ValueError("a bug")

    monkeypatch.setattr(spicecl.commands.core, "cmd_solve", broken)
    with pytest.raises(ValueError, match="a bug"):
        main(["solve", "--network", "exp16", "--fix", "0=1"])


def test_an_interrupted_command_leaves_no_signal_behind(monkeypatch, capsys):
    """The CLI notes which signal stopped a command (to report an extension's own error after
    it as the interrupt); after main() returns, a later library call must not see it."""
    import os
    import signal
    import time

    import spicecl.commands.core as core
    from spicecl import cli

    def interrupted(args):
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(5)  # (the handler raises before this ends)

    monkeypatch.setattr(core, "cmd_train", interrupted)
    assert cli.main(["train", "--network", "exp16"]) == 130
    assert capsys.readouterr().err == "spicecl: interrupted\n"
    assert cli.stopping_signal(RuntimeError("a later, real error")) is None
