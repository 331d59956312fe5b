"""The figure analyses, sweep bookkeeping and small helpers on inputs with known answers.

From a mutation check of spicecl/experiments, sweep, netio, network and bench: the quick-figure
tests saw summaries that exist, are finite and have the right sign; these see their values.
"""

from __future__ import annotations

import csv

import numpy as np
import pytest

from spicecl.errors import SpiceclError
from spicecl.experiments import fig1, fig4d, fig4e, make_plan, run_figure


def _fig1_results(plan, error_of):
    res = {}
    for c in plan.chunks:
        p, tasks = c.spec.meta["p"], np.array(c.spec.meta["tasks"])
        steps = np.linspace(0, c.spec.steps, c.spec.n_records + 1).round().astype(int)
        err = error_of(tasks[:, None], steps[None, :], p)
        res[c.name] = {"steps": steps, "test_error": err, "train_error": err}
    return res


def test_fig1_analysis_on_curves_that_collapse_exactly(tmp_path):
    """error = (a + 1) exp(-a t p / 300), a = 1 + task / 10: a function of steps x p alone."""
    plan = make_plan("fig1", True, 0)

    def err(task, steps, p):
        a = 1.0 + 0.1 * task
        return (a + 1.0) * np.exp(-a * steps * p / 300.0)

    s = fig1.analyze(plan, _fig1_results(plan, err), tmp_path)
    assert s["collapse_x_max"] == 300  # min over p of steps x p
    assert s["collapse_spread_steps_p"] < 1e-3 < 0.1 < s["collapse_spread_steps"]
    want = np.mean(np.exp(-(1.0 + 0.1 * np.arange(plan.config["n_tasks"]))))
    for v in s["mean_error_at_common_steps_p"].values():
        assert v == pytest.approx(want, abs=1e-3)


def test_fig1_plot_survives_tasks_that_end_on_the_same_error(tmp_path):
    # the mean of equal finals can round a hair outside [min, max]: matplotlib refused
    # negative error bars (a traceback after the whole run)
    plan = make_plan("fig1", True, 0)
    s = fig1.analyze(plan, _fig1_results(
        plan, lambda task, steps, p: np.where(steps == 0, 1.0, 0.1 * (1 + p)) + 0 * task),
        tmp_path)
    assert (tmp_path / "fig1.png").stat().st_size > 5000
    assert s["final_error_by_p"]["1"]["mean"] == pytest.approx(0.2)


def _discrete_results(plan, target):
    """Final scaled error target(group, p): errors 2, 1.5, 1, 2 x target."""
    res = {}
    for c in plan.chunks:
        k = len(c.spec.meta["tasks"])
        f = target(c.spec.meta["group"], c.spec.meta["p"])
        err = np.tile([2.0, 1.5, 1.0, 2.0 * f], (k, 1))
        res[c.name] = {"steps": np.arange(4), "train_error": err, "test_error": err}
    return res


def test_fig4d_and_fig4e_analyses_on_known_finals(tmp_path):
    plan = make_plan("fig4d", True, 0)
    s = fig4d.analyze(plan, _discrete_results(
        plan, lambda g, p: 0.1 * int(g[1:]) * (1.0 if p == 1.0 else 0.5)), tmp_path)
    assert s["final_error_by_outputs_and_p"]["2"]["1"]["mean"] == pytest.approx(0.2, abs=1e-12)
    assert all(v == pytest.approx(0.5) for v in s["ratio_lowest_p_to_p1_by_outputs"].values())
    plan = make_plan("fig4e", True, 0)
    s = fig4e.analyze(plan, _discrete_results(
        plan, lambda g, p: (0.2 if g == "full" else 0.4) * (1.0 if p == 1.0 else 0.5)),
        tmp_path)
    assert s["final_error_by_p"]["1"]["mean"] == pytest.approx(0.2, abs=1e-12)  # full batch
    assert s["final_error_by_p_single_example"]["1"]["mean"] == pytest.approx(0.4, abs=1e-12)


def test_paired_comparison_with_p1_sees_what_the_mean_hides(tmp_path):
    """fig4e with one unlearnable task: at p < 1 every other task ends 10x lower, the bad
    task 2x higher, so the mean rises while the pairs show the effect."""
    plan = make_plan("fig4e", True, 0)
    res = {}
    for c in plan.chunks:
        tasks, p = np.array(c.spec.meta["tasks"]), c.spec.meta["p"]
        final = np.where(tasks == 0, 0.9, 0.05)
        if p != 1.0:
            final = np.where(tasks == 0, 1.8, 0.005)
        err = np.column_stack([np.full(len(tasks), 2.0), 2.0 * final])
        res[c.name] = {"steps": np.arange(2), "train_error": err, "test_error": err}
    s = fig4e.analyze(plan, res, tmp_path)
    n = plan.config["n_tasks"]
    low = s["final_error_by_p"]["0.3"]
    assert low["mean"] > s["final_error_by_p"]["1"]["mean"]
    assert low["tasks_below_p1"] == n - 1
    assert low["geomean_ratio_to_p1"] == pytest.approx(np.exp(((n - 1) * np.log(0.1)
                                                               + np.log(2.0)) / n))
    assert "tasks_below_p1" not in s["final_error_by_p"]["1"]


def test_fig4d_plots_any_number_of_p_values(tmp_path, capsys):
    # a fixed table of 6 colours: KeyError after all the jobs had run
    from spicecl.cli import main

    assert main(["reproduce", "fig4d", "--quick", "--set", "p=[1,0.9,0.8,0.7,0.6,0.5,0.4]",
                 "--set", "budget=2", "--set", "tasks=1", "--set", "outputs=[2]", "--out",
                 str(tmp_path)]) == 0
    assert (tmp_path / "fig4d" / "fig4d.png").stat().st_size > 5000


def test_trend_and_diffusion_helpers_on_known_data():
    from spicecl.experiments.common import diffusion_spectrum, diffusion_traces
    from spicecl.experiments.discrete import trend

    t = trend({"1": {"mean": 0.5}, "0.5": {"mean": 0.25}, "0.2": {"mean": 0.1}})
    assert t["slope_per_p"] == pytest.approx(0.5) and t["ratio_lowest_to_p1"] == pytest.approx(0.2)
    _, t_sgd, _ = diffusion_traces(np.tile(np.arange(1.0, 5.0), (6, 1)))
    assert abs(t_sgd) < 1e-12  # identical examples: no between-example variance
    dr = np.array([3.0, -1.0, 2.0, 0.5])
    want = np.sort(np.linalg.eigvalsh(np.diag(dr ** 2) / 4 - np.outer(dr, dr) / 16))[::-1]
    np.testing.assert_allclose(diffusion_spectrum(dr), want, atol=1e-12)  # descending


def test_the_chunks_diffusion_spectrum_is_taken_at_the_final_state():
    from spicecl.experiments.common import (TrainChunk, cached_network, diffusion_spectrum,
                                            draw_task, run_train_chunk, update_vectors)
    from spicecl.experiments.fig2 import TASK, mode_config

    cfg, _ = mode_config("p", 0.75)
    spec = TrainChunk("exp16", 0, TASK, (5,), (cfg,), (6,), 40, n_records=5, n_snapshots=3,
                      diffusion=True)
    out = run_train_chunk(spec)
    net = cached_network("exp16", 0)
    per = update_vectors(net, draw_task(net, TASK, 5), cfg, out["final_resistance"][0])
    np.testing.assert_allclose(out["spectrum_deff"][0], diffusion_spectrum(per.sum(axis=0)),
                               rtol=1e-9, atol=0)


def test_fig2a_summary_numbers_follow_from_its_files(tmp_path):
    """A tiny fig2a (5 tasks, 60 steps, three points): the collapse and noise exponents, the
    bootstrap intervals and the final training errors recomputed from distances.csv and the
    job files."""
    out = tmp_path
    s = run_figure("fig2a", quick=True, out=out, overrides={
        "tasks": 5, "draws": 1, "steps": 60, "one_minus_x": [2, 4, 8]})
    d = out / "fig2a"
    with (d / "distances.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    modes = ["p", "b", "pb"]
    ones = sorted({float(r["one_minus_x"]) for r in rows})

    def col(mode, key):
        return np.array([[float(r[key]) for r in rows if r["mode"] == mode
                          and float(r["one_minus_x"]) == o] for o in ones])  # (X, tasks)

    def slope(x, y):
        return np.polyfit(np.log(x), np.log(y), 1)[0]

    l2 = {m: col(m, "l2_ohm") for m in modes}
    noise = {m: col(m, "noise_variance_ohm2") for m in modes}
    a = slope(np.concatenate([np.sqrt(noise[m].mean(1)) for m in modes]),
              np.concatenate([l2[m].mean(1) for m in modes]))
    assert s["collapse_exponent"] == pytest.approx(a, abs=1e-6)
    rng = np.random.default_rng(0)  # the bootstrap: modes in order, 500 resamples of tasks
    for m in modes:
        assert s[f"sqrt_noise_exponent_{m}"] == pytest.approx(
            slope(ones, np.sqrt(noise[m].mean(1))), abs=1e-6)
        n = l2[m].shape[1]
        boot = [slope(ones, l2[m][:, rng.integers(n, size=n)].mean(1)) for _ in range(500)]
        np.testing.assert_allclose(s[f"exponent_{m}_ci95"],
                                   [np.percentile(boot, 2.5), np.percentile(boot, 97.5)],
                                   rtol=1e-9)
        for o in (2, 4, 8):
            x = 1 - o / 16
            e = np.concatenate([np.load(f)["train_error"] for f in
                                sorted((d / "jobs").glob(f"{m}_{x:.4f}_d0_*.npz"))])
            assert s["final_train_scaled_error"][m][f"{x:g}"] == pytest.approx(
                float(np.mean(e[:, -1] / e[:, 0])), rel=1e-12)


@pytest.mark.parametrize("figure", ["fig1", "fig4d"])
def test_every_run_of_a_figure_has_its_own_learning_seed(figure):
    plan = make_plan(figure, True, 0)
    keys = [tuple(s.spawn_key) for c in plan.chunks for s in c.spec.run_seeds]
    assert len(keys) > 1 and len(set(keys)) == len(keys)


def test_sweep_accounting_refusal_and_partial_resume(tmp_path):
    from spicecl.sweep import Chunk, run_sweep

    chunks = [Chunk(f"c{i}", dict, [("v", np.array([float(i)]))], cost=10 * (i + 1))
              for i in range(4)]
    run_sweep(chunks[:2], tmp_path / "s", {"a": 1}, 0)
    st = run_sweep(chunks, tmp_path / "s", {"a": 1}, 0)["__stats__"]
    assert st["computed_cost"] == 70.0  # only c2 and c3 ran now
    (tmp_path / "t" / "jobs").mkdir(parents=True)
    (tmp_path / "t" / "jobs" / "c0.npz").write_bytes(b"x")  # job files of an unknown run
    with pytest.raises(SpiceclError):
        run_sweep(chunks[:1], tmp_path / "t", {"a": 1}, 0)
    out = tmp_path / "r"
    run_figure("fig4c", quick=True, out=out, overrides={"tasks": 1, "budget": 3})
    sorted((out / "fig4c" / "jobs").glob("*.npz"))[0].unlink()
    s = run_figure("fig4c", quick=True, out=out, overrides={"tasks": 1, "budget": 3})
    assert s["run"]["chunks_computed"] == 1 and "reanalyzed" not in s["run"]


def test_network_inputs_with_known_answers(tmp_path):
    from spicecl.netio import read_network_file
    from spicecl.network import Network, load_network

    (tmp_path / "t.txt").write_text("3 3 1.0\n0 0\n1 0\n0 2\n0 1\n1 2\n2 0\n")
    assert read_network_file(tmp_path / "t.txt").positions.tolist() == [[0, 0], [1, 0], [0, 2]]
    (tmp_path / "u.txt").write_text("3 3 1.0\n0 0\n1 0\n0 2\n0 1\n1 2\n2 0\n1 0\n")
    with pytest.raises(SpiceclError):
        read_network_file(tmp_path / "u.txt")
    with pytest.raises(SpiceclError):  # (0, 1) and (1, 0) are one resistor twice
        Network("x", ("0", "1", "2"), np.array([(0, 1), (1, 0), (1, 2)]), np.zeros((3, 2)))
    with pytest.raises(SpiceclError):
        Network("x", ("0", "1"), np.array([(0, 1)]), np.zeros((2, 2)), np.array([0.0]))
    a, b = load_network("disordered:40:90", 0), load_network("disordered:40:90", 3)
    assert not np.array_equal(a.positions, b.positions)


def test_bench_ratios_and_train_files_name_the_right_things(tmp_path, capsys):
    from spicecl.bench import bench_learning
    from spicecl.cli import main
    from spicecl.network import exp16

    b = bench_learning(min_time=0.02, tasks=4)
    assert b["speedup_vs_baseline"] == pytest.approx(
        b["baseline_step_time_us"] / b["step_time_us"], rel=1e-9)
    assert b["batched_speedup_vs_baseline"] == pytest.approx(
        b["baseline_step_time_us"] * 1e-6 * b["batched_task_steps_per_s"], rel=1e-9)
    assert main(["train", "--network", "exp16", "--steps", "5", "--out", str(tmp_path / "r")]) == 0
    capsys.readouterr()
    rows = [ln.split(",") for ln in
            (tmp_path / "r" / "final_resistance.csv").read_text().splitlines()[1:]]
    net = exp16()
    assert [(r[1], r[2]) for r in rows] == [(net.node_ids[a], net.node_ids[b])
                                             for a, b in net.edges]


def test_plot_titles_name_the_settings_of_a_study():
    from spicecl.experiments.common import plot_title

    assert plot_title("fig4e", make_plan("fig4e", True, 0).config) == "fig4e"
    cfg = make_plan("fig4e", True, 0, {"sigma_max": 0.0, "tasks": 2}).config
    assert plot_title("fig4e", cfg) == "fig4e (sigma_max=0.0, tasks=2)"
    # written as --set takes them (false, not Python's False)
    cfg = make_plan("fig2a", True, 0, {"scale_steps": False, "one_minus_x": [1, 2]}).config
    assert plot_title("fig2a", cfg) == "fig2a (scale_steps=false, one_minus_x=[1, 2])"


def test_fig1_plot_names_a_studys_settings(tmp_path, monkeypatch, capsys):
    """fig1's PNG did not name its --set overrides (the other figures' did)."""
    from spicecl.cli import main
    from spicecl.experiments import fig1

    titles = []
    real = fig1.atomic_savefig

    def keep_title(fig, path):
        titles.append(fig._suptitle.get_text() if fig._suptitle else None)
        return real(fig, path)

    monkeypatch.setattr(fig1, "atomic_savefig", keep_title)
    assert main(["reproduce", "fig1", "--quick", "--set", "tasks=2", "--out",
                 str(tmp_path)]) == 0
    assert titles == ["fig1 (tasks=2)"]
    capsys.readouterr()


def test_fig4e_right_panel_says_which_batch_its_curves_are(tmp_path, monkeypatch, capsys):
    """fig4e's right panel plotted the full-batch curves only, without saying so."""
    from spicecl.cli import main
    from spicecl.experiments import plots

    titles = []
    real = plots.atomic_savefig

    def keep_titles(fig, path):
        titles.append([ax.get_title() for ax in fig.axes])
        return real(fig, path)

    monkeypatch.setattr(plots, "atomic_savefig", keep_titles)
    assert main(["reproduce", "fig4e", "--quick", "--set", "tasks=2", "--out",
                 str(tmp_path)]) == 0
    assert titles[0][1] == "learning curves: batch = full"
    capsys.readouterr()
