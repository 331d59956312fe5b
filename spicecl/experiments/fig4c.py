"""Fig. 4C: 16-edge network, discrete rule (Eq. 10/11), 25 allosteric tasks, final error vs p.

Two-input two-output allostery (one fixed input pattern and its desired outputs, one ground
node) on ``exp16``. Input voltages are drawn in [0.5, 1] x ``volts`` with volts = 5 V (a 5 V
digipot supply); at 1 V the comparator bias sigma ~ U[0, 0.05] V dominates the drop
differences and little is learnt. Every p runs ``budget / p`` steps (equal expected updates).
"""

from __future__ import annotations

from spicecl.experiments import Plan, settings
from spicecl.experiments.common import P_GRID, TaskSpec, config_dict, count, plot_title
from spicecl.experiments.discrete import (RULE_SETTABLE, Group, by_p_summary, discrete_config,
                                          mean_curve, rule_settings, sweep_chunks, trend)
from spicecl.experiments.plots import plot_final_vs_p
from spicecl.learning import MAX_STEPS, MAX_TASKS

TASK = TaskSpec(kind="allostery", n_in=2, n_out=2, n_ground=1, volts=5.0)
PAPER = dict(tasks=25, p=[1.0, 0.7, 0.5, 0.3, 0.2, 0.1], budget=1000)
QUICK = dict(tasks=6, p=[1.0, 0.5, 0.2], budget=150)
#: what `reproduce fig4c --set KEY=VALUE` may change
SETTABLE = {"tasks": count(1, MAX_TASKS), "p": P_GRID, "budget": count(1, MAX_STEPS),
            **RULE_SETTABLE}
KEY = "train_error"  # allostery: the one example is the test


def plan(name: str, quick: bool, seed: int, overrides: dict | None = None) -> Plan:
    s = settings(name, PAPER, QUICK, SETTABLE, quick, overrides)
    rule = rule_settings(s)
    groups = [Group("exp16", "exp16", TASK, s["tasks"], chunk=25)]
    chunks, total = sweep_chunks(groups, s["p"], s["budget"], seed, rule=rule)
    config = {"figure": name, "quick": quick, "network": "exp16", "task": TASK.__dict__,
              "learning": config_dict(discrete_config(1.0, **rule)), "n_tasks": s["tasks"],
              "p": s["p"], "budget_steps_times_p": s["budget"], "steps_rule": "ceil(budget / p)"}
    return Plan(name, config, chunks, task_steps=total)


def analyze(plan: Plan, results: dict, out_dir) -> dict:
    ps = plan.config["p"]
    final = by_p_summary(plan.chunks, results, "exp16", ps, KEY)
    curves = {p: mean_curve(plan.chunks, results, "exp16", p, KEY) for p in ps}
    plot_final_vs_p(out_dir, "fig4c", {"exp16, allostery 2-2": final}, curves,
                    "final scaled error", out_dir / "final_errors.csv",
                    title=plot_title(plan.figure, plan.config))
    return {"final_error_by_p": final, "trend": trend(final),
            "paper_claim": "final scaled error decreases as p decreases",
            "hyperparameters": {"learning": plan.config["learning"], "task": TASK.__dict__,
                                "budget_steps_times_p": plan.config["budget_steps_times_p"]}}
