"""Package hygiene: cheap imports, the CLI builds, one-line usage errors."""

from __future__ import annotations

import subprocess
import sys

from spicecl.cli import build_parser, main


def test_import_starts_nothing_heavy():
    code = ("import sys, spicecl, spicecl.cli, spicecl.network, spicecl.solver, "
            "spicecl.learning, spicecl.tasks; spicecl.cli.build_parser(); "
            "bad = [m for m in ('PySpice', 'matplotlib', 'dask', 'distributed') "
            "if m in sys.modules]; print(','.join(bad))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_every_command_registers_and_has_help(capsys):
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    assert {"train", "solve", "network", "bench"} <= set(sub.choices)
    for name in sub.choices:
        try:
            main([name, "--help"])
        except SystemExit as exc:
            assert exc.code == 0
    assert "usage" in capsys.readouterr().out


def test_unknown_command_is_a_one_line_error(capsys):
    try:
        main(["frobnicate"])
    except SystemExit as exc:
        assert exc.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "invalid choice" in err
