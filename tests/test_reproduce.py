"""`spicecl reproduce`: every --quick figure writes its files and sensible numbers; bad input."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from conftest import replace_zip_entry
from spicecl.cli import main

FIGURES = ("fig1", "fig2a", "fig2b", "fig4c", "fig4d", "fig4e", "scaling")
REQUIRED = {
    "fig1": ("final_error_by_p", "collapse_spread_steps_p", "collapse_spread_steps"),
    "fig2a": ("exponent_p", "exponent_b", "exponent_pb", "diffusion", "collapse_exponent",
              "collapse_r2", "exponent_p_vs_noise", "exponent_b_vs_noise", "exponent_pb_vs_noise",
              "convergence"),
    "fig2b": ("exponent_pbar", "exponent_bbar", "exponent_pbbar", "collapse_exponent",
              "exponent_pbar_vs_noise", "collapse_all_modes"),
    "fig4c": ("final_error_by_p",),
    "fig4d": ("final_error_by_outputs_and_p",),
    "fig4e": ("final_error_by_p",),
    "scaling": ("final_error_by_edges_and_p",),
}


@pytest.fixture(scope="module")
def quick_all(tmp_path_factory):
    out = tmp_path_factory.mktemp("results")
    t0 = time.monotonic()
    status = main(["reproduce", "all", "--quick", "--out", str(out)])
    assert status == 0
    return out, time.monotonic() - t0


@pytest.mark.parametrize("figure", FIGURES)
def test_quick_figure_writes_its_files(quick_all, figure):
    out, _ = quick_all
    d = out / figure
    assert (d / f"{figure}.png").stat().st_size > 5000
    assert list(d.glob("*.csv"))
    summary = json.loads((d / "summary.json").read_text())
    for key in REQUIRED[figure]:
        assert key in summary, key
    assert summary["quick"] is True
    manifest = json.loads((d / "manifest.json").read_text())
    assert "reproduce" in manifest["command"] and manifest["status"] == "done"
    assert manifest["config_hash"] and manifest["config"]["seed"] == summary["seed"]


def _finite_errors(by_p: dict) -> None:
    assert by_p
    for v in by_p.values():
        assert math.isfinite(v["mean"]) and math.isfinite(v["sem"]) and 0 <= v["mean"] < 2


def test_fig1_quick_collapses_against_steps_times_p(quick_all):
    s = json.loads((quick_all[0] / "fig1" / "summary.json").read_text())
    assert s["collapse_spread_steps_p"] < 0.5 * s["collapse_spread_steps"]
    _finite_errors(s["final_error_by_p"])
    # it learns: the p = 1 runs end well below their initial error
    assert s["final_error_by_p"]["1"]["mean"] < 0.5


def test_fig2a_quick_exponents_positive_and_finite(quick_all):
    s = json.loads((quick_all[0] / "fig2a" / "summary.json").read_text())
    for key in ("exponent_p", "exponent_b", "exponent_pb"):
        assert math.isfinite(s[key]) and s[key] > 0, (key, s[key])
    # the distance grows from the smallest to the largest 1 - p for every mode
    for mode, d in s["mean_l2_ohm"].items():
        vals = list(d.values())
        assert vals[-1] > vals[0], mode
    assert all(t >= 0 for t in s["diffusion"]["trace_deff"])


def test_fig2_convergence_check_takes_the_distances_a_third_into_every_run(quick_all):
    from spicecl.experiments import fig2
    from spicecl.experiments.common import run_train_chunk

    plan = fig2.plan("fig2a", True, 1)
    for chunk in (plan.chunks[0], plan.chunks[-1]):  # the reference (diffusion snapshots), pb
        res = run_train_chunk(chunk.spec)
        steps = res["snapshot_steps"]
        assert steps[-1] == chunk.spec.steps
        assert abs(steps[(len(steps) - 1) // fig2.CHECK] - chunk.spec.steps / fig2.CHECK) <= 1
    s = json.loads((quick_all[0] / "fig2a" / "summary.json").read_text())["convergence"]
    assert s["steps_at_rate_1"] == [fig2.QUICK["steps"] // 3, fig2.QUICK["steps"]]
    for mode in ("p", "b", "pb"):
        assert len(s[f"mean_l2_{mode}_ohm"]) == len(fig2.QUICK["one_minus_x"])
    assert 0 < s["max_relative_change_of_mean_l2"] < 10


def test_fig2_draws_are_independent_and_averaged_per_task(quick_all):
    import csv

    from spicecl.experiments import fig2

    s = json.loads((quick_all[0] / "fig2a" / "summary.json").read_text())
    with (quick_all[0] / "fig2a" / "distances.csv").open() as f:
        rows = list(csv.DictReader(f))
    by = {}
    for r in rows:
        by.setdefault((r["mode"], r["one_minus_x"]), {}).setdefault(int(r["task"]), {})[
            int(r["draw"])] = float(r["l2_ohm"])
    n_draws = fig2.QUICK["draws"]
    assert n_draws >= 2 and s["config"]["draws"] == n_draws
    for (mode, one), tasks in by.items():
        assert len(tasks) == fig2.QUICK["tasks"]
        assert all(sorted(d) == list(range(n_draws)) for d in tasks.values())
        # other random draws give other solutions for (almost) every task
        assert sum(d[0] != d[1] for d in tasks.values()) >= len(tasks) - 1, (mode, one)
        # the summary's mean distance is the mean over tasks and draws
        mean = np.mean([v for d in tasks.values() for v in d.values()])
        assert s["mean_l2_ohm"][mode][f"{float(one):.4f}"] == pytest.approx(mean, rel=1e-9)
    for mode in ("p", "b", "pb"):
        assert len(s[f"exponent_{mode}_by_draw"]) == n_draws
        assert len(set(s[f"exponent_{mode}_by_draw"])) == n_draws


def test_fig2_quick_noise_and_collapse(quick_all):
    out = quick_all[0]
    for fig in ("fig2a", "fig2b"):
        s = json.loads((out / fig / "summary.json").read_text())
        assert math.isfinite(s["collapse_exponent"]) and s["collapse_exponent"] > 0
        assert 0 <= s["collapse"]["rms_log10_residual"] < 2
        # the integrated noise grows with 1 - x for every mode
        for mode, n in s["mean_noise_variance_ohm2"].items():
            vals = list(n.values())
            assert 0 < vals[0] < vals[-1], mode
        header = (out / fig / "distances.csv").read_text().splitlines()[0].split(",")
        assert header[-1] == "noise_variance_ohm2"
    # fig2b found fig2a's runs of the same configuration: the six-mode collapse
    s = json.loads((out / "fig2b" / "summary.json").read_text())
    assert s["collapse_all_modes"]["n_points"] == 2 * s["collapse"]["n_points"]
    assert set(s["collapse_all_modes"]["modes"]) == {"p", "b", "pb", "pbar", "bbar", "pbbar"}


def test_discrete_quick_summaries(quick_all):
    out = quick_all[0]
    for fig in ("fig4c", "fig4e"):
        _finite_errors(json.loads((out / fig / "summary.json").read_text())["final_error_by_p"])
    d = json.loads((out / "fig4d" / "summary.json").read_text())
    assert set(d["final_error_by_outputs_and_p"]) == {"2", "6", "10"}
    for by_p in d["final_error_by_outputs_and_p"].values():
        _finite_errors(by_p)
    s = json.loads((out / "scaling" / "summary.json").read_text())
    assert set(s["final_error_by_edges_and_p"]) == {"143", "570"}


def test_rerun_resumes_without_recomputing(quick_all, capsys):
    out, _ = quick_all
    assert main(["reproduce", "fig4c", "--quick", "--out", str(out)]) == 0
    assert "re-analysed" in capsys.readouterr().out
    s = json.loads((out / "fig4c" / "summary.json").read_text())
    assert "reanalyzed" in s["run"]  # nothing recomputed; the first run's timing is kept
    assert s["run"]["chunks_computed"] == 3


def test_each_figure_prints_a_headline_from_its_summary(quick_all, capsys):
    # the command printed only where each figure went and how long it took
    out, _ = quick_all
    assert main(["reproduce", "all", "--quick", "--out", str(out)]) == 0
    lines = capsys.readouterr().out.splitlines()
    for figure in FIGURES:
        s = json.loads((out / figure / "summary.json").read_text())
        at = next(i for i, line in enumerate(lines) if line.startswith(f"{figure}: "))
        line = lines[at + 1]
        assert line.startswith("  ")
        if figure == "fig1":
            expected = [f"spread {s['collapse_spread_steps_p']:.3f} decades against steps x p",
                        f"{s['final_error_by_p']['1']['mean']:.3g} at p = 1"]
        elif figure in ("fig2a", "fig2b"):
            keys = ("p", "b", "pb") if figure == "fig2a" else ("pbar", "bbar", "pbbar")
            expected = [f"{s[f'exponent_{k}']:.2f} [{s[f'exponent_{k}_ci95'][0]:.2f}, "
                        f"{s[f'exponent_{k}_ci95'][1]:.2f}]" for k in keys]
        elif figure in ("fig4c", "fig4e"):
            by_p = s["final_error_by_p"]
            low = by_p[min(by_p, key=float)]
            expected = [f"{by_p['1']['mean']:.3f} ± {by_p['1']['sem']:.3f} at p = 1",
                        f"{low['tasks_below_p1']} of {low['n']} tasks lower than at p = 1"]
        else:
            rows = s["final_error_by_outputs_and_p" if figure == "fig4d"
                     else "final_error_by_edges_and_p"]
            expected = [f": {by_p[min(by_p, key=float)]['tasks_below_p1']} of "
                        f"{by_p[min(by_p, key=float)]['n']}, " for by_p in rows.values()]
        for text in expected:
            assert text in line, (figure, text, line)


def test_progress_bar_on_request_and_not_in_a_pipe(tmp_path, capsys):
    """--progress draws a bar sized by the jobs' cost (tasks x steps), in task-steps (it said
    "job", for task-steps), cleared at the end; without it, and stderr not a terminal, stderr
    stays empty."""
    from tqdm import tqdm

    from spicecl.experiments import make_plan

    plan = make_plan("fig4c", True, 0, None)
    total = tqdm.format_sizeof(round(sum(c.cost for c in plan.chunks)))
    assert main(["reproduce", "fig4c", "--quick", "--progress", "--out",
                 str(tmp_path / "a")]) == 0
    err = capsys.readouterr().err
    assert "fig4c:   0%|" in err and f"| 0.00/{total} [" in err and "task-step/s" in err
    assert "job" not in err
    assert err.endswith("\r") and "\n" not in err  # redrawn in place, then cleared
    assert main(["reproduce", "fig4c", "--quick", "--out", str(tmp_path / "b")]) == 0
    assert capsys.readouterr().err == ""


def test_other_configuration_in_out_dir_is_refused(quick_all, capsys):
    out, _ = quick_all
    assert main(["reproduce", "fig4c", "--quick", "--seed", "5", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert "another configuration" in err and len(err.splitlines()) == 1


def test_unknown_figure(tmp_path, capsys):
    assert main(["reproduce", "fig9", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert "unknown figure 'fig9'" in err and len(err.splitlines()) == 1
    assert not any(tmp_path.iterdir())


def test_unreachable_scheduler(tmp_path, capsys):
    t0 = time.monotonic()
    status = main(["reproduce", "fig4c", "--quick", "--scheduler", "tcp://127.0.0.1:1",
                   "--out", str(tmp_path)])
    assert status == 2
    assert time.monotonic() - t0 < 20
    err = capsys.readouterr().err.strip()
    assert "cannot connect" in err and len(err.splitlines()) == 1


def test_more_workers_than_jobs(tmp_path, capsys):
    # --workers 2147483648 was handed to the process pool, whose semaphore raised
    # "OverflowError: Python int too large to convert to C int" (a traceback); the pool has
    # no more processes than jobs
    assert main(["reproduce", "fig1", "--quick", "--set", "tasks=1", "--set", "steps=10",
                 "--set", "p=[1, 0.5]", "--workers", "2147483648", "--out",
                 str(tmp_path)]) == 0
    assert capsys.readouterr().out.startswith(f"fig1: {tmp_path}/fig1/ in ")
    assert json.loads((tmp_path / "fig1" / "manifest.json").read_text())["status"] == "done"


def test_bad_workers(tmp_path, capsys):
    assert main(["reproduce", "fig4c", "--quick", "--workers", "0", "--out", str(tmp_path)]) == 2
    assert "--workers" in capsys.readouterr().err
    # --workers with --scheduler would be ignored (the cluster's workers run the jobs)
    assert main(["reproduce", "fig4c", "--quick", "--workers", "2", "--scheduler",
                 "tcp://127.0.0.1:1", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("spicecl: error: --workers is for local processes") and \
        err.count("\n") == 1
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize("args, words", [
    (["fig2a", "--set", "tau=3"], ("fig2a has no setting 'tau'", "gamma", "one_minus_x")),
    (["all", "--set", "tasks=2"], ("scaling has no setting 'tasks'",)),
    (["fig2a", "--set", "gamma"], ("expected KEY=VALUE",)),
    (["fig2a", "--set", "gamma=fast"], ("gamma=\"fast\" for fig2a", "finite number")),
    (["fig2a", "--set", "gamma=1e10 fast"], ("VALUE must be a number, true/false, a JSON list "
                                             "or a name",)),
    (["fig2a", "--set", "network=./net.graphml"], ("VALUE must be",)),
    (["fig2a", "--set", "network=disordered:9:16\n"], ("VALUE must be",)),
    (["fig1", "--set", "p=" + "[" * 100000 + "]" * 100000], ("--set p: VALUE is nested too deeply",)),
    (["fig2a", "--set", "network=net.graphml"], ("expected a built-in network",)),
    (["fig2a", "--set", "network_seed=2"], ("network_seed for fig2a", "exp16 is not drawn")),
    (["fig2a", "--set", "network=disordered:4:5"], ("4 nodes, the task needs 5",)),
    (["fig2b", "--set", "network=disordered:9:17"], ("17 edges", "multiple of 16")),
    (["fig2a", "--set", "gamma=1e10", "--set", "gamma=2e10"], ("given twice",)),
    (["fig2a", "--set", "gamma=-1"], ("gamma=-1 for fig2a", "> 0")),
    (["fig2a", "--set", "eta=NaN"], ("eta=NaN", "finite")),
    (["fig2a", "--set", "steps=2"], ("steps=2", ">= 3")),
    (["fig2a", "--set", "one_minus_x=[1, 16]"], ("1..15",)),
    (["fig1", "--set", "tasks=2.5"], ("whole number",)),
    # (a huge count planned its job list until the memory ran out)
    (["fig4c", "--set", "tasks=99999999999999999999"], ("<= 100,000",)),
    (["fig1", "--set", "steps=10000000000000"], ("<= 1,000,000,000,000",)),
    (["fig2a", "--set", "draws=1000000"], ("draws=1000000", "<= 100,000")),
    (["fig1", "--set", "p=[1, 0]"], ("(0, 1]",)),
    (["fig1", "--set", "p=0.5"], ("list of at least 2",)),
    (["fig4c", "--set", "p=[0.5, 0.5]"], ("must differ",)),
    (["fig4c", "--set", "p=[0.0001, 0.0002]"], ("must differ to 3 decimals",)),
    # (the discrete sweeps space their learning streams 100 apart per group)
    (["fig4d", "--set", f"p={[1 - i / 200 for i in range(101)]}"], ("at most 100 values",)),
    (["fig4d", "--set", "outputs=[2, 40]"], ("O = 40 needs 100 nodes",)),
    (["fig4e", "--set", "sigma_max=-0.01"], ("sigma_max=-0.01 for fig4e", ">= 0")),
    (["scaling", "--set", "eta=0"], ("eta=0 for scaling", "(0, 1]")),
])
def test_bad_settings_are_one_line_errors_before_any_work(tmp_path, capsys, args, words):
    assert main(["reproduce", *args, "--quick", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    for w in words:
        assert w in err, err
    assert not any(tmp_path.iterdir())


def test_settings_reach_the_jobs_and_the_configuration():
    from spicecl.experiments import fig2
    from spicecl.results import config_hash

    default = fig2.plan("fig2a", True, 1)
    assert "overrides" not in default.config  # the paper's runs keep their configuration hash
    assert default.config["learning"]["gamma"] == fig2.GAMMA
    plan = fig2.plan("fig2a", True, 1, {"gamma": 1e10, "eta": 0.25, "tasks": 2,
                                         "one_minus_x": [2, 4], "draws": 1, "steps": 30})
    cfgs = [c for chunk in plan.chunks for c in chunk.spec.configs]
    assert cfgs and all(c.gamma == 1e10 and c.eta == 0.25 for c in cfgs)
    assert plan.config["x"] == [1 - 2 / 16, 1 - 4 / 16] and plan.config["n_tasks"] == 2
    # ref once; p, b at 1/rate; p = b at 1/rate^2, one draw of two tasks each
    assert plan.task_steps == 2 * (30 + 2 * sum(math.ceil(30 / x) for x in plan.config["x"])
                                   + sum(math.ceil(30 / x ** 2) for x in plan.config["x"]))
    assert config_hash(plan.config) != config_hash(default.config)



def test_fig2_scale_steps_false_gives_every_run_the_same_steps():
    """--set scale_steps=false: every run (ref, p, b, p = b at every x) takes `steps` steps,
    the same tasks and draws as the scaled plan, and the configuration says so."""
    from spicecl.experiments import make_plan

    over = {"tasks": 2, "one_minus_x": [2, 8], "draws": 1, "steps": 30}
    scaled = make_plan("fig2a", True, 1, over)
    fixed = make_plan("fig2a", True, 1, {**over, "scale_steps": False})
    assert {c.spec.steps for c in fixed.chunks} == {30}
    assert len({c.spec.steps for c in scaled.chunks}) > 1
    assert fixed.task_steps == 2 * 30 * (1 + 3 * 2)
    def seeds(plan):
        return [[(s.entropy, s.spawn_key) for s in c.spec.task_seeds + c.spec.run_seeds]
                for c in plan.chunks]
    assert seeds(fixed) == seeds(scaled)
    assert "not scaled" in fixed.config["steps_rule"]
    assert fixed.config["overrides"]["scale_steps"] is False


@pytest.mark.parametrize("figure", ["fig2a", "fig2b"])
def test_fig2_runs_shorter_than_their_records_are_analysed(tmp_path, capsys, figure):
    """--set steps=5 (allowed: at least CHECK): the reference run records fewer errors than the
    longer gated runs, and the analysis stacked them into one array (a ValueError traceback).
    It needs only each run's first and last error."""
    over = ["--set", "steps=5", "--set", "tasks=2", "--set", "one_minus_x=[2, 8]"]
    assert main(["reproduce", figure, "--quick", *over, "--out", str(tmp_path)]) == 0
    summary = json.loads((tmp_path / figure / "summary.json").read_text())
    errs = summary["final_train_scaled_error"]
    values = [errs.pop("ref")] + [v for by_x in errs.values() for v in by_x.values()]
    assert len(values) == 1 + 2 * len(errs) and all(math.isfinite(v) for v in values)


def test_discrete_sweeps_never_share_learning_streams():
    """stream 2000 + 100 ig + ip: 100 p values fit, two groups' runs never share a stream;
    101 (possible only through the library, --set stops at 100) is refused."""
    from spicecl.errors import SpiceclError
    from spicecl.experiments.common import TaskSpec
    from spicecl.experiments.discrete import Group, sweep_chunks

    groups = [Group(n, "exp16", TaskSpec(kind="allostery"), 2) for n in ("a", "b")]
    chunks, _ = sweep_chunks(groups, [1 - i / 200 for i in range(100)], 10, 1)
    keys = [s.spawn_key for c in chunks for s in c.spec.run_seeds]
    assert len(keys) == 2 * 100 * 2 == len(set(keys))
    with pytest.raises(SpiceclError, match="at most 100 p values"):
        sweep_chunks(groups, [1 - i / 200 for i in range(101)], 10, 1)


def test_fig2_network_setting_puts_every_job_on_that_network(tmp_path):
    """--set network / network_seed (another 16-edge layout): every job trains on that
    network, the configuration and the plot title say so, and the same tasks seeds are used."""
    from spicecl.experiments import make_plan

    over = {"tasks": 2, "one_minus_x": [2, 8], "draws": 1, "steps": 30}
    default = make_plan("fig2a", True, 1, over)
    assert {(c.spec.network, c.spec.network_seed) for c in default.chunks} == {("exp16", 0)}
    other = make_plan("fig2a", True, 1, {**over, "network": "disordered:9:16",
                                         "network_seed": 3})
    assert {(c.spec.network, c.spec.network_seed) for c in other.chunks} == {
        ("disordered:9:16", 3)}
    assert (other.config["network"], other.config["network_seed"]) == ("disordered:9:16", 3)
    assert [c.name for c in other.chunks] == [c.name for c in default.chunks]
    alias = make_plan("fig2a", True, 1, {**over, "network": "disordered:09:016",
                                         "network_seed": 3})
    assert alias.config["network"] == "disordered:9:16"  # one spelling of the network
    assert {c.spec.network for c in alias.chunks} == {"disordered:9:16"}
    assert main(["reproduce", "fig2a", "--quick", "--set", "tasks=3", "--set",
                 "network=disordered:9:16", "--set", "network_seed=3", "--out",
                 str(tmp_path)]) == 0
    summary = json.loads((tmp_path / "fig2a" / "summary.json").read_text())
    assert summary["config"]["network"] == "disordered:9:16"
    assert np.isfinite(summary["exponent_p"])


@pytest.mark.parametrize("figure", ["fig4c", "fig4d", "fig4e", "scaling"])
def test_discrete_rule_settings_reach_every_job(figure):
    """--set sigma_max / eta change the rule of every job of a discrete figure, and the
    configuration records them; unset, the rule is the paper's sigma ~ U[0, 0.05] V."""
    from spicecl.experiments import make_plan

    default = make_plan(figure, True, 1)
    cfgs = [c for chunk in default.chunks for c in chunk.spec.configs]
    assert cfgs and all(c.sigma_max == 0.05 and c.eta == 0.5 and c.rule == "discrete"
                        for c in cfgs)
    plan = make_plan(figure, True, 1, {"sigma_max": 0.0, "eta": 1.0})
    cfgs = [c for chunk in plan.chunks for c in chunk.spec.configs]
    assert cfgs and all(c.sigma_max == 0.0 and c.eta == 1.0 for c in cfgs)
    assert plan.config["learning"]["sigma_max"] == 0.0 and plan.config["learning"]["eta"] == 1.0
    # the same tasks and draws: only the rule differs
    def seeds(p):
        return [(s.entropy, s.spawn_key) for c in p.chunks
                for s in c.spec.task_seeds + c.spec.run_seeds]

    assert seeds(plan) == seeds(default)


def test_a_set_run_is_its_own_configuration(tmp_path, capsys):
    args = ["reproduce", "fig4c", "--quick", "--out", str(tmp_path), "--set", "tasks=2",
            "--set", "p=[1, 0.25]"]
    assert main(args) == 0
    s = json.loads((tmp_path / "fig4c" / "summary.json").read_text())
    assert sorted(float(p) for p in s["final_error_by_p"]) == [0.25, 1.0]
    assert s["config"]["n_tasks"] == 2
    assert s["config"]["overrides"] == {"tasks": 2, "p": [1, 0.25]}
    capsys.readouterr()
    # the same directory with another setting (or none) is another configuration: refused
    assert main(args[:5]) == 2
    assert "another configuration (it differs in --set p, --set tasks)" in capsys.readouterr().err
    assert main(args[:5] + ["--set", "tasks=3", "--set", "p=[1, 0.25]"]) == 2
    assert "(it differs in --set tasks)" in capsys.readouterr().err
    assert main(args) == 0  # the same settings resume (here: re-analyse)
    assert "re-analysed" in capsys.readouterr().out
    # the same settings in another order, or a number written another way, are the same
    # configuration (they were refused: another hash)
    swapped = args[:5] + ["--set", "p=[1.0, 2.5e-1]", "--set", "tasks=2"]
    assert main(swapped) == 0 and "re-analysed" in capsys.readouterr().out


def test_a_figure_of_jobs_computed_with_two_sets_of_versions_records_both(tmp_path, capsys,
                                                                         monkeypatch):
    """A resumed figure whose jobs were computed with other versions (another machine or
    code) claimed this run's versions for them all; after a second resume not even the
    warning said otherwise. Its manifest and summary name the sets and their jobs."""
    from spicecl import results

    args = ["reproduce", "fig4c", "--quick", "--out", str(tmp_path), "--set", "tasks=1",
            "--set", "p=[1, 0.25]"]
    fig = tmp_path / "fig4c"
    assert main(args) == 0  # one set: the manifest and summary as ever
    assert "versions_of_jobs" not in json.loads((fig / "manifest.json").read_text())
    assert "versions_of_jobs" not in json.loads((fig / "summary.json").read_text())
    real = results.numerics()
    with monkeypatch.context() as other:
        other.setattr(results, "numerics", lambda: {**real, "numpy": "0.0.1"})
        (fig / "jobs" / "exp16_p0.250_t000.npz").unlink()
        assert main(args) == 0
    capsys.readouterr()
    expected = [{"versions": real, "jobs": ["exp16_p1.000_t000"]},
                {"versions": {**real, "numpy": "0.0.1"}, "jobs": ["exp16_p0.250_t000"]}]
    (fig / "jobs" / "exp16_p1.000_t000.npz").unlink()
    for _ in range(2):  # (the first recomputes a job, the second re-analyses)
        assert main(args) == 0
        assert "(numpy 0.0.1 there, " in capsys.readouterr().err
        assert json.loads((fig / "manifest.json").read_text())["versions_of_jobs"] == expected
        assert json.loads((fig / "summary.json").read_text())["versions_of_jobs"] == expected


def _foreign(arrays: dict, damage: str) -> dict:
    """A job's arrays with one changed as a job of other code (or written by hand) may have it."""
    arrays = dict(arrays)
    if damage == "missing":
        del arrays["steps"]
    elif damage == "shape":
        arrays["train_error"] = arrays["train_error"][:, :-1]
    elif damage == "nan":
        arrays["train_error"] = np.full_like(arrays["train_error"], np.nan)
    else:
        arrays["updates"] = arrays["updates"].astype(np.float64)
    return arrays


@pytest.mark.parametrize("damage", ["missing", "shape", "nan", "dtype"])
def test_a_job_file_of_foreign_contents_is_recomputed(tmp_path, capsys, damage):
    """A job file that is a valid NPZ but not what its job returns (a key missing, an array of
    another shape or dtype, NaN) ended the analysis in a traceback (KeyError 'steps', a shape
    ValueError, "cannot convert float NaN"): it is recomputed, as a damaged file is."""
    args = ["reproduce", "fig4c", "--quick", "--out", str(tmp_path), "--set", "tasks=1",
            "--set", "p=[1, 0.25]"]
    fig = tmp_path / "fig4c"
    assert main(args) == 0
    clean = json.loads((fig / "summary.json").read_text())
    job = fig / "jobs" / "exp16_p0.250_t000.npz"
    with np.load(job) as z:
        np.savez(job, **_foreign({k: z[k] for k in z.files}, damage))
    assert main(args) == 0
    again = json.loads((fig / "summary.json").read_text())
    assert again["run"]["chunks_computed"] == 1 and again["run"]["chunks_loaded"] == 1
    assert {k: v for k, v in again.items() if k != "run"} == \
        {k: v for k, v in clean.items() if k != "run"}


def test_a_job_file_entry_that_is_no_array_is_recomputed(tmp_path, capsys):
    """A job file entry that is no .npy file (its bytes replaced, the zip's CRC made anew):
    np.load hands out its bytes, and TrainChunk.holds ended in AttributeError 'bytes' object
    has no attribute 'dtype'. It is recomputed, as a damaged file is."""
    args = ["reproduce", "fig4c", "--quick", "--out", str(tmp_path), "--set", "tasks=1",
            "--set", "p=[1, 0.25]"]
    fig = tmp_path / "fig4c"
    assert main(args) == 0
    clean = json.loads((fig / "summary.json").read_text())
    replace_zip_entry(fig / "jobs" / "exp16_p0.250_t000.npz", "steps.npy", b"text")
    assert main(args) == 0
    again = json.loads((fig / "summary.json").read_text())
    assert again["run"]["chunks_computed"] == 1 and again["run"]["chunks_loaded"] == 1
    assert {k: v for k, v in again.items() if k != "run"} == \
        {k: v for k, v in clean.items() if k != "run"}


RESULTS = Path(__file__).resolve().parents[1] / "results"
REPRODUCED = sorted(str(m.parent.relative_to(RESULTS)) for m in RESULTS.glob("**/manifest.json")
                    if "figure" in json.loads(m.read_text()).get("config", {}))


def test_every_figure_has_committed_results():
    assert set(FIGURES) <= set(REPRODUCED)


@pytest.mark.slow
def test_fig4c_at_paper_scale_reproduces_the_committed_numbers(tmp_path, capsys):
    """The whole chain (seeds, networks, tasks, the discrete rule, gating, the analysis)
    still gives the committed paper-scale fig4c (25 tasks x 7 p, ~15 s with 2 workers).

    The same bytes with the committed run's numpy, scipy and BLAS kernels
    (conftest.other_numerics). Another CPU rounds in the last bit: with OpenBLAS's
    Sandybridge, Nehalem and Prescott kernels the tasks' final errors moved by at most
    1.8e-14 (relative) and the file kept its bytes, but a printed 10th digit can flip; there
    the numbers are held to one unit of that digit (rel 1e-9), the rest of the file exactly."""
    import csv
    import io

    from conftest import OTHER_NUMERICS_TOL, other_numerics

    assert main(["reproduce", "fig4c", "--workers", "2", "--out", str(tmp_path)]) == 0
    got = (tmp_path / "fig4c" / "final_errors.csv").read_text()
    want = (RESULTS / "fig4c" / "final_errors.csv").read_text()
    other = other_numerics(json.loads((RESULTS / "fig4c" / "manifest.json").read_text()))
    if other is None:
        assert got == want
        return
    got, want = (list(csv.DictReader(io.StringIO(text))) for text in (got, want))
    assert len(got) == len(want) and got[0].keys() == want[0].keys(), other
    for g, w in zip(got, want):
        for k in g:
            if k in ("mean", "sem", "median"):
                assert float(g[k]) == pytest.approx(
                    float(w[k]), rel=OTHER_NUMERICS_TOL["printed_rel"]), (k, g, other)
            else:
                assert g[k] == w[k], (k, g, other)


def test_committed_fig1_final_errors_reproduce():
    """Two tasks of the committed fig1 (p = 0.1, 20,000 steps), recomputed from the
    manifest's configuration, end on the committed final errors (final_errors.csv, 10
    digits): the continuous learning step, gating draws and seeds have not changed under the
    headline figure. (The job files are not committed; checked bit for bit by hand.) Another
    CPU's BLAS kernels round in the last bit: with OpenBLAS's Sandybridge, Nehalem and Prescott
    kernels these two moved by at most 9.3e-12, 100 times inside the tolerance."""
    import csv
    import dataclasses

    from spicecl.experiments import make_plan

    cfg = json.loads((RESULTS / "fig1" / "manifest.json").read_text())["config"]
    plan = make_plan(cfg["figure"], cfg["quick"], cfg["seed"], cfg.get("overrides"))
    chunk = {c.name: c for c in plan.chunks}["p0.100_t000"]
    sp = chunk.spec
    got = chunk.func(dataclasses.replace(sp, task_seeds=sp.task_seeds[:2],
                                         configs=sp.configs[:2], run_seeds=sp.run_seeds[:2]))
    with (RESULTS / "fig1" / "final_errors.csv").open() as fh:
        want = {int(r["task"]): float(r["final_test_scaled_error"])
                for r in csv.DictReader(fh) if float(r["p"]) == 0.1}
    scaled = got["test_error"][:, -1] / got["test_error"][:, 0]
    assert scaled == pytest.approx([want[0], want[1]], rel=1e-9)


def test_power_law_fit_and_mean_sem_on_known_data():
    from spicecl.experiments.common import mean_sem, power_law_fit

    x = np.arange(1, 9) / 16
    y = 3.7 * x ** (2 / 3)
    a, c = power_law_fit(np.r_[x, 0.5, 0.0, 0.3], np.r_[y, np.nan, 1.0, 0.0])  # NaN, 0: skipped
    assert a == pytest.approx(2 / 3, rel=1e-12) and c == pytest.approx(3.7, rel=1e-12)
    assert all(np.isnan(power_law_fit([1.0], [2.0])))  # one point: no fit
    assert power_law_fit([1.0, 2.0], [0.5, 0.25]) == pytest.approx((-1.0, 0.5), rel=1e-12)
    mean, sem = mean_sem(np.array([[1.0, 10.0], [2.0, 10.0], [3.0, 10.0], [4.0, 10.0]]))
    assert mean.tolist() == [2.5, 10.0]
    assert sem == pytest.approx([np.sqrt(5 / 3) / 2, 0.0])  # sample std / sqrt(n)
    mean, sem = mean_sem(np.array([[1.0], [3.0]]))  # two samples: std sqrt(2), sem 1
    assert mean.tolist() == [2.0] and sem == pytest.approx([1.0])
    mean, sem = mean_sem(np.array([[1.0, 3.0]]))  # one: no spread to estimate
    assert mean.tolist() == [1.0, 3.0] and sem.tolist() == [0.0, 0.0]


@pytest.mark.parametrize("where", [w for w in REPRODUCED if w.endswith(("fig2a", "fig2b"))])
def test_committed_fig2_exponents_follow_from_their_distances(where):
    """The exponents in summary.json are the log-log least-squares slopes of the mean L2 over
    tasks and draws against 1 - x, recomputed here from distances.csv without the library."""
    import csv

    with (RESULTS / where / "distances.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    summary = json.loads((RESULTS / where / "summary.json").read_text())
    modes = sorted({r["mode"] for r in rows})
    assert len(modes) == 3
    for mode in modes:
        xs = sorted({float(r["one_minus_x"]) for r in rows if r["mode"] == mode})
        mean_l2 = [np.mean([float(r["l2_ohm"]) for r in rows
                            if r["mode"] == mode and float(r["one_minus_x"]) == x]) for x in xs]
        design = np.column_stack([np.log(xs), np.ones(len(xs))])
        slope, log_c = np.linalg.lstsq(design, np.log(mean_l2), rcond=None)[0]
        assert summary[f"exponent_{mode}"] == pytest.approx(slope, rel=1e-8, abs=1e-8), mode


@pytest.mark.parametrize("where", REPRODUCED)
def test_committed_results_match_the_code(where):
    """results/WHERE (a figure, or a study made with --set) was computed by this code's
    configuration: `spicecl reproduce` re-analyses it instead of refusing the directory, and
    the README's numbers are current."""
    from spicecl.experiments import make_plan
    from spicecl.results import config_hash

    committed = json.loads((RESULTS / where / "manifest.json").read_text())
    cfg = committed["config"]
    plan = make_plan(cfg["figure"], cfg["quick"], cfg["seed"], cfg.get("overrides"))
    assert config_hash(plan.config) == committed["config_hash"], (
        f"results/{where} is stale: re-run {committed['command']!r}")


def test_fig2_warns_when_its_runs_diverged_or_did_not_converge(tmp_path, capsys):
    """A learning rate so large that training raised the error gave exponents of about 0 and
    no word; and `convergence` now says whether the runs converged."""
    assert main(["reproduce", "fig2a", "--quick", "--set", "gamma=1e30", "--out",
                 str(tmp_path)]) == 0
    err = capsys.readouterr().err
    s = json.loads((tmp_path / "fig2a" / "summary.json").read_text())
    assert s["convergence"]["converged"] is False
    assert len(s["warnings"]) == 2 and "gamma = 1e+30 is too large" in s["warnings"][0]
    assert "fig2a: training raised the mean training error" in err
    assert "fig2a: the runs had not converged" in err


@pytest.mark.parametrize("figure", ["fig2a", "fig2b"])
def test_an_overflowing_learning_rate_is_a_one_line_error(tmp_path, capsys, figure):
    # the training stays finite (resistances clipped to their bounds) but the update
    # statistics overflow: an error naming gamma, not NaN exponents or a LinAlgError
    assert main(["reproduce", figure, "--quick", "--set", "gamma=1e300", "--out",
                 str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert "gamma = 1e+300 is too large" in err and len(err.splitlines()) == 1


def test_a_learning_rate_too_small_to_move_is_a_one_line_error(tmp_path, capsys):
    # every distance is 0: no power law to fit (it was a ValueError from the plot)
    assert main(["reproduce", "fig2a", "--quick", "--set", "gamma=1e-300", "--out",
                 str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert "nothing learned" in err and "gamma = 1e-300" in err and len(err.splitlines()) == 1


def test_a_failed_pool_job_prints_one_line_and_nothing_else(tmp_path):
    # a real process (the warning comes from the resource tracker at interpreter exit):
    # the terminated workers used to leave tqdm's semaphores behind, and the tracker printed
    # a two-line "leaked semaphore" UserWarning after the error
    proc = subprocess.run([sys.executable, "-m", "spicecl", "reproduce", "fig2a", "--quick",
                           "--workers", "2", "--set", "gamma=1e300", "--out", str(tmp_path)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.splitlines() == [
        "spicecl: error: the updates dR are not finite numbers: learning rate gamma = 1e+300 "
        "is too large"], proc.stderr


def test_all_checks_every_out_dir_before_any_work(tmp_path, capsys):
    # a later figure's directory of another configuration was found only after the figures
    # before it had run
    (tmp_path / "fig2a").mkdir()
    (tmp_path / "fig2a" / "manifest.json").write_text('{"config_hash": "0123"}')
    assert main(["reproduce", "all", "--quick", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert "fig2a holds results of another configuration" in err and len(err.splitlines()) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fig2a"]


def test_an_out_holding_another_commands_run_names_it(tmp_path, capsys):
    # said "another configuration (config hash ..., this run ...)" for a train run
    assert main(["train", "--network", "exp16", "--steps", "2", "--out",
                 str(tmp_path / "fig4c")]) == 0
    capsys.readouterr()
    assert main(["reproduce", "fig4c", "--quick", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (f"spicecl: error: --out {tmp_path / 'fig4c'} holds the results of another "
                   f"command (spicecl train); use another --out or remove it")


def _children(pid: int) -> list[int]:
    kids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid and fields[0] != "Z":
            kids.append(int(stat.parent.name))
    return kids


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")
def test_sigterm_stops_the_workers_with_one_line(tmp_path):
    # SIGTERM (kill PID, a batch system's time limit) killed the parent alone: no message,
    # and the pool's workers stayed behind for ever, blocked on a pipe nobody reads
    import signal

    proc = subprocess.Popen([sys.executable, "-m", "spicecl", "reproduce", "fig1", "--quick",
                             "--set", "steps=1000000", "--workers", "2", "--out",
                             str(tmp_path)], stderr=subprocess.PIPE, text=True)
    workers: list[int] = []
    try:
        deadline = time.monotonic() + 90
        while len(workers) < 2:  # the two workers (and the resource tracker) started
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.2)
            workers = [k for k in _children(proc.pid)
                       if "spawn_main" in Path(f"/proc/{k}/cmdline").read_text()]
        time.sleep(1.0)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
        assert proc.returncode == 143
        assert len(err.splitlines()) == 1 and err.startswith("spicecl: terminated"), err
        deadline = time.monotonic() + 10
        while _children(proc.pid) or any(Path(f"/proc/{w}").exists() for w in workers):
            assert time.monotonic() < deadline, "workers left behind"
            time.sleep(0.1)
    finally:
        proc.kill()
        for w in workers:
            try:
                os.kill(w, signal.SIGKILL)
            except OSError:
                pass


def test_files_half_written_by_a_run_killed_outright_are_removed_by_the_resume(tmp_path,
                                                                            capsys):
    """kill -9 while the figure's files were written (its summary, plot, CSVs, manifest) left
    their temporary files (.summary.json.XXXX.tmp) in the figure directory for good: only
    jobs/ was cleaned when the sweep resumed."""
    code = ("import os, signal, sys\n"
            "from spicecl import results\n"
            "from spicecl.cli import main\n"
            "real = os.replace\n"
            "def replace(a, b):\n"
            "    if str(b).endswith('summary.json'):\n"
            "        os.kill(os.getpid(), signal.SIGKILL)\n"
            "    return real(a, b)\n"
            "results.os.replace = replace\n"
            f"main(['reproduce', 'fig4c', '--quick', '--out', {str(tmp_path)!r}])\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=120)
    assert proc.returncode == -9, proc.stderr
    fig = tmp_path / "fig4c"
    assert [p.name for p in fig.glob(".summary.json.*.tmp")]  # (what the kill left)
    assert main(["reproduce", "fig4c", "--quick", "--out", str(tmp_path)]) == 0
    assert "3 chunks resumed" in capsys.readouterr().out  # (nothing recomputed)
    assert json.loads((fig / "manifest.json").read_text())["status"] == "done"
    assert not [p.name for p in fig.rglob(".*")]


def test_a_second_sigterm_within_a_second_is_the_same_kill(monkeypatch):
    # `timeout` signals the process and then its group: the second SIGTERM must not kill at
    # once (a test sending two signals back to back cannot show it: they coalesce)
    import signal

    from spicecl import cli as rp
    from spicecl.errors import Terminated

    now = [100.0]
    kills = []
    monkeypatch.setattr(rp.time, "monotonic", lambda: now[0])
    monkeypatch.setattr(rp.os, "kill", lambda pid, sig: kills.append(sig))
    # (a fresh state: the handler notes the signal, and left set, every later ordinary error
    # in the process outside cli.main was taken by stopping_signal for this SIGTERM)
    monkeypatch.setattr(rp, "_stop", rp._Stop())
    previous = signal.getsignal(signal.SIGTERM)
    try:
        with pytest.raises(Terminated):
            rp._on_sigterm(signal.SIGTERM, None)
        now[0] += 0.5
        assert rp._on_sigterm(signal.SIGTERM, None) is None and kills == []
        now[0] += 1.0
        rp._on_sigterm(signal.SIGTERM, None)
        assert kills == [signal.SIGTERM]
    finally:
        signal.signal(signal.SIGTERM, previous)


def test_every_committed_csv_has_one_field_per_column():
    """A series label holding a comma ("exp16, allostery 2-2") split its rows: fig4c's
    final_errors.csv had 7 fields under 6 columns. write_csv quotes such fields now."""
    import csv

    files = sorted(RESULTS.glob("**/*.csv"))
    assert files
    for f in files:
        with open(f, newline="") as fh:
            rows = list(csv.reader(fh))
        assert rows and all(len(r) == len(rows[0]) for r in rows), f


def test_write_csv_quotes_fields_holding_a_comma(tmp_path):
    import csv

    from spicecl.experiments.common import write_csv

    write_csv(tmp_path / "x.csv", ["series", "p"], [["exp16, allostery 2-2", 0.5]])
    with open(tmp_path / "x.csv", newline="") as fh:
        assert list(csv.reader(fh)) == [["series", "p"], ["exp16, allostery 2-2", "0.5"]]


def test_ctrl_c_says_how_to_resume(tmp_path, capsys, monkeypatch):
    """Ctrl-C printed a bare "spicecl: interrupted" (SIGTERM said how to go on)."""
    from spicecl import experiments

    def interrupted(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(experiments, "run_figure", interrupted)
    assert main(["reproduce", "fig4c", "--quick", "--out", str(tmp_path)]) == 130
    assert capsys.readouterr().err == (f"spicecl: interrupted; the same command resumes from "
                                       f"the jobs finished in {tmp_path}/\n")


def test_setting_checkers_take_their_range_ends_and_refuse_past_them():
    from spicecl.experiments.common import boolean, count, fraction, nonnegative, positive

    assert count()(1) == 1 and count(2, 5)(5) == 5
    for check, bad in ((count(), 0), (count(2, 5), 6), (positive, 0), (positive, -1.0),
                       (nonnegative, -1e-9), (fraction, 0.0), (fraction, 1.5), (boolean, 1),
                       (boolean, "true"), (positive, True), (positive, float("inf"))):
        with pytest.raises(ValueError):
            check(bad)
    assert positive(1e-300) == 1e-300 and nonnegative(0) == 0.0 and fraction(1) == 1.0
    assert boolean(True) is True and boolean(False) is False
    from spicecl.experiments.common import grid

    three = grid(positive, max_len=3)
    assert three([1, 2, 3]) == [1.0, 2.0, 3.0]
    for bad in ([1], [1, 2, 3, 4], [1, 1.0], (1, 2)):
        with pytest.raises(ValueError):
            three(bad)


def test_check_network_takes_a_network_just_big_enough_for_the_task():
    from spicecl.errors import SpiceclError
    from spicecl.experiments.common import TaskSpec, check_network

    task = TaskSpec(n_in=2, n_out=2, n_ground=1)  # 5 roles
    s = {"network": "disordered:5:7", "network_seed": 0}
    assert check_network("figX", s, {}, task) == ("disordered:5:7", 0)  # 7 edges: any count
    with pytest.raises(SpiceclError, match="4 nodes, the task needs 5"):
        check_network("figX", {"network": "disordered:4:5", "network_seed": 0}, {}, task)
    with pytest.raises(SpiceclError, match="7 edges; the fixed fractions of figX need a "
                                           "multiple of 2"):
        check_network("figX", s, {}, task, edges_multiple_of=2)
    with pytest.raises(SpiceclError, match=r'^--set network="disordered:5:100" for figX: '):
        check_network("figX", {"network": "disordered:5:100", "network_seed": 0}, {}, task)


def test_a_damaged_summary_or_manifest_of_a_finished_run_does_not_stop_a_rerun(tmp_path,
                                                                              capsys):
    """A rerun re-analyses the saved jobs; a summary.json or manifest "versions" of another
    shape (a list, a number, a run record whose seconds are text, nesting deeper than json
    goes) is not used. Each was a traceback (AttributeError, ValueError, RecursionError)."""
    assert main(["reproduce", "fig1", "--quick", "--out", str(tmp_path)]) == 0
    d = tmp_path / "fig1"
    damaged = ["[]", "3", '{"run": {"chunks_computed": 3, "seconds": "x"}}', "[" * 100_000]
    for text in damaged:
        (d / "summary.json").write_text(text)
        capsys.readouterr()
        assert main(["reproduce", "fig1", "--quick", "--out", str(tmp_path)]) == 0
        assert "re-analysed from its saved jobs" not in capsys.readouterr().out
    man = json.loads((d / "manifest.json").read_text())
    (d / "manifest.json").write_text(json.dumps({**man, "versions": "x"}))
    assert main(["reproduce", "fig1", "--quick", "--out", str(tmp_path)]) == 0
    assert json.loads((d / "summary.json").read_text())["run"]["chunks_loaded"] == 3


@pytest.mark.parametrize("text", ["[]", '{"config": 5}', "[" * 100_000])
def test_fig2b_does_not_reuse_a_damaged_fig2a_summary(tmp_path, text):
    """fig2b reuses fig2a's distances from the sibling directory only when its summary.json
    holds the same configuration; one of another shape is not reused (was a TypeError,
    AttributeError or RecursionError traceback)."""
    from spicecl.experiments.fig2 import _sibling_fig2a

    (tmp_path / "fig2a").mkdir()
    (tmp_path / "fig2a" / "summary.json").write_text(text)
    np.savez(tmp_path / "fig2a" / "distances.npz", r_ref=np.ones(3))
    plan = SimpleNamespace(config={"figure": "fig2b", "modes": []})
    assert _sibling_fig2a(plan, tmp_path / "fig2b", np.ones(3)) is None
