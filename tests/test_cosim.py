"""ngspice in the loop (spicecl cosim), spicecl compare and its variation-file input, and the
registration of the co-simulation and demo commands."""

import json

import numpy as np
import pytest

from spicecl.cli import main
from spicecl.variation_file import write_variation


def _variation(path, n_edges, biases=(2.5,), samples=64, seed=0):
    """A small synthetic variation file (the format of spicecl oscillators --out)."""
    rng = np.random.default_rng(seed)
    j = len(biases)
    updates = rng.random((j, samples, n_edges)) < 0.5
    arrays = {
        "updates": updates, "bias_volts": np.array(biases, float), "draw": np.zeros(j, int),
        "p_edge": updates.mean(axis=1), "period": np.full((j, n_edges), 4.6e-4),
        "duty": np.full((j, n_edges), 0.5), "pearson": np.zeros((j, n_edges, n_edges)),
        "lag1": np.zeros((j, n_edges)), "rt": np.full((1, n_edges), 33e3),
        "ct": np.full((1, n_edges), 10e-9), "kh": np.ones((1, n_edges, 3)),
        "voff_osc": np.zeros((1, n_edges)), "voff_bias": np.zeros((1, n_edges)),
        "v0": np.full((1, n_edges), 2.5)}
    write_variation(path, arrays, {"seed": seed, "config": {}})
    return path / "variation.npz"


def _compare(args, capsys):
    status = main(["compare", "--network", "exp16", "--task", "allostery", "--tasks", "2",
                   "--steps", "30", "--seed", "3", "--json"] + args)
    out = capsys.readouterr()
    return status, out


@pytest.mark.parametrize("task", ["allostery", "regression"])
def test_compare_with_overflowing_volts_is_a_one_line_error(capsys, task):
    status = main(["compare", "--network", "exp16", "--task", task, "--tasks", "2", "--steps",
                   "5", "--seed", "3", "--p", "1", "--volts", "1e300", "--no-imperfections",
                   "--no-clock-free", "--json"])
    out = capsys.readouterr()
    assert status == 2 and out.out == ""
    assert out.err.count("\n") == 1 and "training diverged" in out.err


@pytest.mark.spice
def test_cosim_exp16_agrees_with_the_fast_loop(capsys):
    status = main(["cosim", "--network", "exp16", "--steps", "3", "--seed", "1", "--json"])
    assert status == 0
    out = json.loads(capsys.readouterr().out)
    assert out["steps"] == 3
    assert out["decision_agreement"] >= 0.99
    assert out["taps_identical"] is True
    assert out["first_divergence_step"] is None
    assert out["max_abs_voltage_error_volts"] < 1e-6
    assert out["final_taps_spice"] == out["final_taps_fast"]


def test_compare_json_has_both_pictures(capsys, tmp_path):
    status, out = _compare(["--p", "1", "0.5", "--no-imperfections", "--out",
                            str(tmp_path / "cmp")], capsys)
    assert status == 0, out.err
    d = json.loads(out.out)
    assert set(d["idealized"]) == {"1", "0.5"} and set(d["hardware"]) == {"1", "0.5"}
    assert all(np.isfinite(v) and v > 0 for v in d["hardware"].values())
    assert "clock_free" in d["stats"] and "ideal_discrete" in d["stats"]
    for f in ("summary.md", "summary.json", "final_errors.csv", "curves.csv",
              "learning_curves.png", "final_vs_p.png", "manifest.json"):
        assert (tmp_path / "cmp" / f).stat().st_size > 0, f
    assert "spicecl compare --network exp16" in (tmp_path / "cmp" / "summary.md").read_text()


def test_compare_replays_a_variation_file(capsys, tmp_path):
    npz = _variation(tmp_path / "var", 16)
    status, out = _compare(["--p", "0.5", "--no-imperfections", "--no-clock-free",
                            "--variation", str(npz)], capsys)
    assert status == 0, out.err
    d = json.loads(out.out)
    assert d["gating"]["0.5"] == "replay"
    assert d["variation_file"] == str(npz)


def test_compare_refuses_a_variation_file_of_another_network(capsys, tmp_path):
    npz = _variation(tmp_path / "var5", 5)
    status, out = _compare(["--p", "0.5", "--variation", str(npz)], capsys)
    assert status == 2
    err = out.err.strip()
    assert len(err.splitlines()) == 1
    assert "5 edges" in err and "16" in err and "variation" in err


@pytest.mark.parametrize("damage", ["corrupt", "truncated"])
def test_compare_refuses_a_damaged_variation_file(capsys, tmp_path, damage):
    npz = _variation(tmp_path / "var", 16)
    data = npz.read_bytes()
    npz.write_bytes(b"not a zip file at all" * 10 if damage == "corrupt" else data[:len(data) // 2])
    status, out = _compare(["--p", "0.5", "--variation", str(npz)], capsys)
    assert status == 2
    err = out.err.strip()
    assert len(err.splitlines()) == 1
    assert str(npz) in err


def test_compare_bad_p_is_a_one_line_error(capsys):
    status, out = _compare(["--p", "1.5"], capsys)
    assert status == 2
    assert len(out.err.strip().splitlines()) == 1 and "--p" in out.err


def test_commands_are_registered_once(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    text = capsys.readouterr().out
    for name in ("cosim", "compare", "demo"):
        assert f"    {name} " in text or f"    {name}\n" in text
    with pytest.raises(SystemExit) as exc:
        main(["demo", "--help"])
    assert exc.value.code == 0
    assert "--out" in capsys.readouterr().out


def test_divergence_reasons_name_ties():
    from spicecl.cosim import _reason

    assert _reason(True, True, 3e-7, 1e-5).startswith("tie")
    assert _reason(False, False, 1e-2, 1e-5).startswith("follows")
    assert "model difference" in _reason(False, True, 1e-2, 1e-5)


def test_cosim_bad_p_is_a_one_line_error(capsys):
    assert main(["cosim", "--network", "exp16", "--steps", "2", "--seed", "1", "--p", "0"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--p" in err


@pytest.mark.parametrize("timeout", ["0", "-5", "nan", "inf"])
def test_cosim_bad_timeout_is_a_one_line_error(capsys, timeout):
    assert main(["cosim", "--network", "exp16", "--steps", "1", "--seed", "1",
                 "--timeout", timeout]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--timeout must be in (0, inf)" in err


def test_cosim_timeout_beyond_what_python_can_wait_is_a_one_line_error(capsys):
    assert main(["cosim", "--network", "exp16", "--steps", "1", "--seed", "1",
                 "--timeout", "1e7"]) == 2
    err = capsys.readouterr().err
    assert err == "spicecl: error: --timeout must be <= 1e+06 s, got 1e+07\n"


@pytest.mark.parametrize("argv, match", [
    (["--steps", "0"], "--steps must be >= 1, got 0"),
    (["--samples", "1"], "--samples must be >= 2, got 1"),
    (["--tasks", "1"], "--tasks must be >= 2, got 1"),
])
def test_demo_bad_input_stops_before_any_stage_runs(capsys, tmp_path, argv, match):
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), *argv]) == 2
    err = capsys.readouterr().err
    assert err == f"spicecl: error: {match}\n" and not out.exists()
