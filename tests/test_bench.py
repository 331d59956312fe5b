"""The benchmarks run and compute what they time (no timing asserted): learning against its
baseline, oscillators (fast method and full transient) at a small size, precision recounted
network by network."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from spicecl.bench import bench_learning
from spicecl.cli import main


def test_bench_learning_reports_ratios_and_agrees_with_its_baseline():
    out = bench_learning(min_time=0.02, tasks=4)
    for key in ("speedup_vs_baseline", "ratio_to_floor", "batched_task_steps_per_s",
                "spicecl_steps_per_s", "baseline_steps_per_s", "floor_time_us"):
        assert out[key] > 0
    assert out["edges"] == 143 and out["examples"] == 20
    assert out["baseline_max_abs_diff_ohm"] < 1e-9  # measured 5e-12
    # the discrete rule: timed alike, and its baseline moves every tap as the trainer does
    for key in ("discrete_steps_per_s", "discrete_baseline_steps_per_s",
                "discrete_speedup_vs_baseline", "discrete_ratio_to_floor",
                "discrete_floor_time_us", "discrete_batched_task_steps_per_s",
                "discrete_batched_ratio_to_floor"):
        assert out[key] > 0
    assert out["discrete_volts"] == 5.0 and out["discrete_sigma_max"] == 0.05
    assert out["discrete_baseline_taps_differ"] == 0


def test_discrete_baseline_step_is_the_trainers_step():
    """bench learning's discrete baseline (sparse LUs per example, Eq. 10 summed over the
    batch) gives the trainer's taps after a step with the same sigma draws, and differs when
    sigma or eta differ (so the agreement is not that of a step every tap takes alike)."""
    from spicecl.bench import baseline_discrete_step
    from spicecl.learning import LearningConfig, Trainer
    from spicecl.network import load_network
    from spicecl.tasks import make_task

    net = load_network("disordered143")
    task = make_task(net, "regression", np.random.default_rng(4), n_train=20, volts=5.0)
    cfg = LearningConfig(rule="discrete")
    tr = Trainer(net, [task], [cfg], [np.random.default_rng(5)])
    taps0 = tr.taps[0].copy()
    sigma = np.random.default_rng(5).random((20, net.n_edges)) * cfg.sigma_max
    tr.step()
    assert np.array_equal(baseline_discrete_step(net, task, taps0, cfg, sigma), tr.taps[0])
    assert 0 < np.count_nonzero(tr.taps[0] > taps0) < net.n_edges
    assert not np.array_equal(baseline_discrete_step(net, task, taps0, cfg, 0 * sigma),
                              tr.taps[0])
    eta = LearningConfig(rule="discrete", eta=0.3)
    assert not np.array_equal(baseline_discrete_step(net, task, taps0, eta, sigma), tr.taps[0])


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


def test_bench_text_output_is_one_key_and_value_per_line(capsys, monkeypatch):
    """Without --json, nested results (bench solver's per-size dicts, the versions) came out as
    one Python repr per key ("sizes  [{'network': ...}]"); now one dotted key per value."""
    import spicecl.bench as bench

    monkeypatch.setattr(bench, "bench_solver", lambda args: {
        "benchmark": "solver",
        "sizes": [{"network": "disordered:1000:2500", "factor_solve_s": 0.0034980343},
                  {"network": "disordered:5000:12500", "factor_solve_s": 0.0208849}]})
    assert main(["bench", "solver"]) == 0
    lines = capsys.readouterr().out.splitlines()
    rows = dict(line.split(None, 1) for line in lines)
    assert rows["benchmark"] == "solver"
    assert rows["sizes[0].network"] == "disordered:1000:2500"
    assert rows["sizes[1].factor_solve_s"] == "0.02088"
    assert "ngspice" in "".join(k for k in rows if k.startswith("versions."))
    assert not any("{" in line or "[{" in line for line in lines)


def test_bench_precision_reports_what_the_solver_and_its_check_do():
    """bench precision's figures (README, "Precision.") recounted network by network: the
    checked solve's voltages against the exact ones, and its refusals against the estimate."""
    from spicecl.bench import bench_precision, precision_cases
    from spicecl.solver import PRECISION_LIMIT, estimate_precision, exact_voltages, solve_fixed

    out = bench_precision(decades=(12, 20, 30), draws=7, values=1000)
    assert out["seed"] == 0 and out["precision_limit"] == PRECISION_LIMIT
    for row in out["decades"]:
        cases = list(precision_cases(row["decades"], 7, 0))
        assert row["networks"] == len(cases) == 21
        estimates = [estimate_precision(net, r, list(fixed)) for net, r, fixed in cases]
        accepted = [np.max(np.abs(solve_fixed(net, r, fixed) - exact_voltages(net, r, fixed)))
                    for (net, r, fixed), e in zip(cases, estimates) if e <= PRECISION_LIMIT]
        assert row["refused"] == len(cases) - len(accepted)
        assert row["max_error_accepted"] == max(accepted) <= PRECISION_LIMIT
        assert row["max_error"] >= row["max_error_accepted"]
        assert 0 <= row["refused_within_limit"] <= row["refused"] - row["broke_down"]
        assert 0 < row["max_error_over_estimate"] < math.inf
    assert out["max_error_over_estimate"] == max(r["max_error_over_estimate"]
                                                 for r in out["decades"])
    # (the draws cover every outcome: refused at 20 and 30 decades, broken down and wrong
    # without the check at 30)
    assert [r["refused"] > 0 for r in out["decades"]] == [False, True, True]
    assert [r["broke_down"] > 0 for r in out["decades"]] == [False, False, True]
    assert out["decades"][2]["max_error"] > PRECISION_LIMIT


def test_bench_precision_counts_numpy_results_unlike_the_c_library():
    from spicecl.bench import simd_rounding

    out = simd_rounding(1000, seed=3)
    x = np.random.default_rng(3).random(1000)
    pairs = {"power": (np.power(2.0, -x), [math.pow(2.0, -v) for v in x]),
             "exp": (np.exp(x), [math.exp(v) for v in x]),
             "log": (np.log(1.0 + x), [math.log(1.0 + v) for v in x])}
    for name, (ours, libm) in pairs.items():
        differ = sum(a != b for a, b in zip(ours.tolist(), libm))
        assert out[f"{name}_differ"] == differ and type(differ) is int
        assert (out[f"{name}_max_ulps"] == 0) == (differ == 0)
    assert out["values"] == 1000


@pytest.mark.skipif(np.lib.NumpyVersion(np.__version__) < "1.26.0",
                    reason="numpy < 1.26 has no show_config(mode='dicts')")
def test_bench_precision_names_the_simd_extensions_numpy_found():
    from spicecl.bench import simd_rounding

    assert simd_rounding(10, seed=3)["simd_extensions"] == \
        np.show_config(mode="dicts")["SIMD Extensions"]


def test_bench_precision_runs_with_a_numpy_before_its_config_dicts(monkeypatch):
    from spicecl.bench import simd_rounding

    def show_config():  # numpy 1.25's: no mode argument
        print("config")

    monkeypatch.setattr(np, "show_config", show_config)
    assert simd_rounding(10, seed=3)["simd_extensions"] == "unknown"


def test_bench_precision_is_a_bench_command(capsys, monkeypatch):
    import spicecl.bench as bench

    real = bench.bench_precision
    monkeypatch.setattr(bench, "bench_precision",
                        lambda args: real(args, decades=(4,), draws=1, values=10))
    assert main(["bench", "precision", "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["benchmark"] == "precision" and printed["decades"][0]["networks"] == 3


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


@pytest.mark.spice
def test_bench_oscillators_at_a_small_size(capsys):
    """Both methods on the same 2-edge bank (the default 16 x 300 takes ~4 min); each stage is
    announced on stderr."""
    assert main(["bench", "oscillators", "--edges", "2", "--samples", "5", "--json"]) == 0
    cap = capsys.readouterr()
    out = json.loads(cap.out)
    # (named like the other benchmarks' JSON: bench learning and bench solver say which)
    assert out["benchmark"] == "oscillators" and out["edges"] == 2 and out["samples"] == 5
    assert out["fast_seconds"] > 0 and out["transient_seconds"] > 0
    assert out["fast_vs_transient_speedup"] == pytest.approx(
        out["transient_seconds"] / out["fast_seconds"])
    for p in (out["fast_p_mean"], out["transient_p_mean"]):
        assert 0 <= p <= 1 and p * 10 == round(p * 10)  # a mean of 2 x 5 bits
    assert "bench oscillators: fast method, 2 edges x 5 samples" in cap.err
    assert "bench oscillators: transient method" in cap.err


@pytest.mark.parametrize("argv, match", [
    (["learning", "--edges", "4"], "--edges and --samples are options of bench oscillators"),
    (["oscillators", "--samples", "1"], "--samples must be in [2, 1000000], got 1"),
    (["oscillators", "--edges", "0"], "--edges must be in [1, 10000], got 0"),
])
def test_bench_size_options_are_checked(capsys, argv, match):
    assert main(["bench"] + argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and match in err


def test_bench_out_replaces_a_bench_result_and_nothing_else(tmp_path, capsys):
    """--out FILE: another bench result is replaced; any other file (a run's manifest.json,
    a network) is refused rather than overwritten."""
    run = tmp_path / "run"
    run.mkdir()
    man = run / "manifest.json"
    man.write_text(json.dumps({"command": "spicecl train", "versions": {"spicecl": "0"}}))
    net = tmp_path / "net.json"
    net.write_text("{}")
    nested = tmp_path / "nested.json"
    nested.write_text("[" * 100_000)  # (json's RecursionError was a traceback)
    for out in (man, net, nested):
        before = out.read_bytes()
        assert main(["bench", "oscillators", "--edges", "2", "--samples", "3", "--out",
                     str(out)]) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"spicecl: error: --out {out}: exists and is not a spicecl bench "
                              f"result") and err.count("\n") == 1
        assert out.read_bytes() == before
    out = tmp_path / "b.json"
    out.touch()  # an empty file (mktemp) is no one's
    for _ in range(2):
        assert main(["bench", "oscillators", "--edges", "2", "--samples", "3", "--out",
                     str(out)]) == 0
    assert json.loads(out.read_text())["edges"] == 2


def test_bench_out_dash_is_refused_not_a_file_named_dash(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["bench", "solver", "--out", "-"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("spicecl: error: --out -: --json prints") and err.count("\n") == 1
    assert not (tmp_path / "-").exists()


def test_bench_solver_times_both_orderings_and_they_agree():
    from spicecl.bench import bench_solver

    out = bench_solver(sizes=((200, 500), (400, 1000)), min_time=0.02)
    assert out["benchmark"] == "solver" and [r["nodes"] for r in out["sizes"]] == [200, 400]
    for row in out["sizes"]:
        assert row["factor_solve_s"] > 0 and row["baseline_mmd_factor_solve_s"] > 0
        assert row["speedup_vs_mmd"] == pytest.approx(row["baseline_mmd_factor_solve_s"]
                                                      / row["factor_solve_s"])
        assert row["max_abs_diff_volts"] < 1e-9
