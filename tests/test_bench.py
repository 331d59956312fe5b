"""The learning benchmark runs and its baseline computes the same step (no timing asserted)."""

from __future__ import annotations

import json

from spicecl.bench import bench_learning
from spicecl.cli import main


def test_bench_learning_reports_ratios_and_agrees_with_its_baseline():
    out = bench_learning(min_time=0.02, tasks=4)
    for key in ("speedup_vs_baseline", "ratio_to_floor", "batched_task_steps_per_s",
                "spicecl_steps_per_s", "baseline_steps_per_s", "floor_time_us"):
        assert out[key] > 0
    assert out["edges"] == 143 and out["examples"] == 20
    assert out["baseline_max_abs_diff_ohm"] < 1e-9  # measured 5e-12


def test_bench_cli_prints_json_and_writes_it(tmp_path, capsys, monkeypatch):
    import spicecl.bench as bench

    monkeypatch.setattr(bench, "_timeit",
                        lambda fns, *a, **k: {name: (fn(), 1e-3)[1] for name, fn in fns.items()})
    path = tmp_path / "b.json"
    assert main(["bench", "learning", "--json", "--out", str(path)]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["ratio_to_floor"] == 1.0
    assert json.loads(path.read_text())["benchmark"] == "learning"
    assert "ngspice" in printed["versions"]


def test_bench_empty_out_is_a_usage_error(capsys):
    # An empty --out used to be taken as "no --out": the benchmark ran and wrote nothing.
    import pytest

    with pytest.raises(SystemExit) as exc:
        main(["bench", "learning", "--out", ""])
    assert exc.value.code == 2
    assert capsys.readouterr().err == ("spicecl bench: error: argument --out: expected a path, "
                                       "got an empty string\n")


def test_bench_out_in_an_unwritable_place_names_the_file(tmp_path, capsys):
    # the message named only the directory ("--out /proc: ..."), not the --out given
    blocker = tmp_path / "file"
    blocker.write_text("")
    out = blocker / "b.json"
    assert main(["bench", "learning", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"spicecl: error: --out {out}: its directory {blocker}: ")
    assert err.count("\n") == 1
