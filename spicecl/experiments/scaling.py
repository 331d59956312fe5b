"""Scaling (beyond the paper): does the benefit of desynchronization grow with network size?

Discrete rule, two-input two-output regression (inputs uniform in [0, 5] V, full batch of 20
examples), final test scaled error against p on disordered networks of about 143, 570, 2,000
and 10,000 edges (``disordered:N:E`` with N = E / 2.23). Each p runs ``budget / p`` steps.
Networks above 700 free nodes use the solver's sparse path, so the largest sizes run fewer
tasks.
"""

from __future__ import annotations

from spicecl.experiments import Plan, settings
from spicecl.experiments.common import P_GRID, TaskSpec, config_dict, count, plot_title
from spicecl.experiments.discrete import (RULE_SETTABLE, Group, by_p_summary, discrete_config,
                                          rule_settings, sweep_chunks, trend)
from spicecl.experiments.plots import plot_final_vs_p
from spicecl.learning import MAX_STEPS

TASK = TaskSpec(kind="regression", n_in=2, n_out=2, n_ground=1, n_train=20, n_test=50,
                volts=5.0)
PAPER = dict(sizes=[(64, 143, 10), (256, 570, 8), (897, 2000, 4), (4484, 10000, 2)],
             p=[1.0, 0.5, 0.2], budget=300)
QUICK = dict(sizes=[(64, 143, 3), (256, 570, 2)], p=[1.0, 0.3], budget=60)
#: what `reproduce scaling --set KEY=VALUE` may change
SETTABLE = {"p": P_GRID, "budget": count(1, MAX_STEPS), **RULE_SETTABLE}


def plan(name: str, quick: bool, seed: int, overrides: dict | None = None) -> Plan:
    s = settings(name, PAPER, QUICK, SETTABLE, quick, overrides)
    rule = rule_settings(s)
    groups = [Group(f"E{e}", f"disordered:{n}:{e}", TASK, k, chunk=10) for n, e, k in s["sizes"]]
    chunks, total = sweep_chunks(groups, s["p"], s["budget"], seed, rule=rule)
    config = {"figure": name, "quick": quick, "task": TASK.__dict__,
              "networks": [f"disordered:{n}:{e}" for n, e, _ in s["sizes"]],
              "tasks_per_size": [k for _, _, k in s["sizes"]],
              "learning": config_dict(discrete_config(1.0, **rule)), "p": s["p"],
              "budget_steps_times_p": s["budget"], "steps_rule": "ceil(budget / p)"}
    return Plan(name, config, chunks, task_steps=total)


def analyze(plan: Plan, results: dict, out_dir) -> dict:
    ps = plan.config["p"]
    labels = [f"E{net.rsplit(':', 1)[1]}" for net in plan.config["networks"]]
    finals = {lab: by_p_summary(plan.chunks, results, lab, ps) for lab in labels}
    plot_final_vs_p(out_dir, "scaling", {f"{lab[1:]} edges": finals[lab] for lab in labels},
                    None, "final test scaled error", out_dir / "final_errors.csv",
                    title=plot_title(plan.figure, plan.config))
    return {"final_error_by_edges_and_p": {lab[1:]: finals[lab] for lab in labels},
            "trend_by_edges": {lab[1:]: trend(finals[lab]) for lab in labels},
            "hyperparameters": {"learning": plan.config["learning"], "task": TASK.__dict__,
                                "budget_steps_times_p": plan.config["budget_steps_times_p"]}}
