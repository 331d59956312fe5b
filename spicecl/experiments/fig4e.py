"""Fig. 4E: 143-edge network, discrete rule, 10 regression tasks, final test error vs p.

Two-input two-output regression (20 training, 50 test examples, inputs uniform in
[0, 5] V). Two versions of the rule's batch are run, both reported: ``full`` (the decision of
Eq. 10 is the sign of the margins summed over the 20 examples, Eq. 7-like) and ``single``
(one random example per step, as the hardware is shown one example at a time). Each p runs
``budget / p`` steps. The paper: the final test error decreases monotonically as p decreases.
"""

from __future__ import annotations

from spicecl.experiments import Plan, settings
from spicecl.experiments.common import P_GRID, TaskSpec, config_dict, count, plot_title
from spicecl.experiments.discrete import (RULE_SETTABLE, Group, by_p_summary, discrete_config,
                                          mean_curve, rule_settings, sweep_chunks, trend)
from spicecl.experiments.plots import plot_final_vs_p
from spicecl.learning import MAX_STEPS, MAX_TASKS

NETWORK = "disordered143"
TASK = TaskSpec(kind="regression", n_in=2, n_out=2, n_ground=1, n_train=20, n_test=50,
                volts=5.0)
PAPER = dict(tasks=10, p=[1.0, 0.8, 0.6, 0.4, 0.2, 0.1], budget=1000)
QUICK = dict(tasks=4, p=[1.0, 0.3], budget=150)
#: what `reproduce fig4e --set KEY=VALUE` may change
SETTABLE = {"tasks": count(1, MAX_TASKS), "p": P_GRID, "budget": count(1, MAX_STEPS),
            **RULE_SETTABLE}
BATCHES = ("full", "single")


def plan(name: str, quick: bool, seed: int, overrides: dict | None = None) -> Plan:
    s = settings(name, PAPER, QUICK, SETTABLE, quick, overrides)
    rule = rule_settings(s)
    chunks, total = [], 0
    for batch in BATCHES:
        g = Group(f"{batch}", NETWORK, TASK, s["tasks"], chunk=10)
        c, t = sweep_chunks([g], s["p"], s["budget"], seed, batch=batch, rule=rule)
        chunks += c
        total += t
    config = {"figure": name, "quick": quick, "network": NETWORK, "task": TASK.__dict__,
              "learning": config_dict(discrete_config(1.0, **rule)), "batches": list(BATCHES),
              "n_tasks": s["tasks"], "p": s["p"], "budget_steps_times_p": s["budget"],
              "steps_rule": "ceil(budget / p)"}
    return Plan(name, config, chunks, task_steps=total)


def analyze(plan: Plan, results: dict, out_dir) -> dict:
    ps = plan.config["p"]
    finals = {b: by_p_summary(plan.chunks, results, b, ps) for b in BATCHES}
    curves = {p: mean_curve(plan.chunks, results, "full", p) for p in ps}
    plot_final_vs_p(out_dir, "fig4e", {f"batch = {b}": finals[b] for b in BATCHES}, curves,
                    "final test scaled error", out_dir / "final_errors.csv",
                    title=plot_title(plan.figure, plan.config),
                    curves_label="learning curves: batch = full")
    return {"final_error_by_p": finals["full"], "final_error_by_p_single_example":
            finals["single"], "trend": {b: trend(finals[b]) for b in BATCHES},
            "paper_claim": "final test error decreases monotonically as p decreases",
            "hyperparameters": {"learning": plan.config["learning"], "task": TASK.__dict__,
                                "batches": list(BATCHES),
                                "budget_steps_times_p": plan.config["budget_steps_times_p"]}}
