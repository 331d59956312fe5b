"""Fig. 4D: 143-edge network, discrete rule, allostery with O outputs, O inputs, O/2 grounds.

For O = 2, 4, 6, 8, 10 and several p, the final scaled error averaged over 20 tasks per
point. The paper: the advantage of low p shrinks as O grows, and the curves of different p
collapse for large O. Input voltages in [0.5, 1] x 5 V; each p runs ``budget / p`` steps.
"""

from __future__ import annotations

from spicecl.experiments import Plan, settings
from spicecl.experiments.common import (P_GRID, TaskSpec, cached_network, config_dict, count, grid,
                                        p_colors, plot_title, styled, write_csv)
from spicecl.experiments.discrete import (RULE_SETTABLE, Group, by_p_summary, discrete_config,
                                          rule_settings, sweep_chunks)
from spicecl.learning import MAX_STEPS, MAX_TASKS
from spicecl.results import atomic_savefig, subplots

NETWORK = "disordered143"
VOLTS = 5.0
PAPER = dict(tasks=20, outputs=[2, 4, 6, 8, 10], p=[1.0, 0.5, 0.2, 0.1], budget=500)
QUICK = dict(tasks=3, outputs=[2, 6, 10], p=[1.0, 0.3], budget=100)
KEY = "train_error"


def task_for(o: int) -> TaskSpec:
    return TaskSpec(kind="allostery", n_in=o, n_out=o, n_ground=max(1, o // 2), volts=VOLTS)


def _outputs(o) -> int:
    """O outputs need O inputs and O/2 grounds, all distinct nodes of the network."""
    o = count()(o)
    nodes = cached_network(NETWORK, 0).n_nodes
    if 2 * o + max(1, o // 2) > nodes:
        raise ValueError(f"O = {o} needs {2 * o + max(1, o // 2)} nodes; {NETWORK} has {nodes}")
    return o


#: what `reproduce fig4d --set KEY=VALUE` may change
SETTABLE = {"tasks": count(1, MAX_TASKS), "outputs": grid(_outputs, min_len=1), "p": P_GRID,
            "budget": count(1, MAX_STEPS), **RULE_SETTABLE}


def plan(name: str, quick: bool, seed: int, overrides: dict | None = None) -> Plan:
    s = settings(name, PAPER, QUICK, SETTABLE, quick, overrides)
    rule = rule_settings(s)
    groups = [Group(f"O{o}", NETWORK, task_for(o), s["tasks"], chunk=20) for o in s["outputs"]]
    chunks, total = sweep_chunks(groups, s["p"], s["budget"], seed, rule=rule)
    config = {"figure": name, "quick": quick, "network": NETWORK,
              "tasks": {f"O{o}": task_for(o).__dict__ for o in s["outputs"]},
              "learning": config_dict(discrete_config(1.0, **rule)), "n_tasks": s["tasks"],
              "outputs": s["outputs"], "p": s["p"], "budget_steps_times_p": s["budget"],
              "steps_rule": "ceil(budget / p)"}
    return Plan(name, config, chunks, task_steps=total)


@styled
def analyze(plan: Plan, results: dict, out_dir) -> dict:
    cfg = plan.config
    ps, outs = cfg["p"], cfg["outputs"]
    table = {f"{o}": by_p_summary(plan.chunks, results, f"O{o}", ps, KEY) for o in outs}
    rows = [(o, float(p), v["mean"], v["sem"], v["median"], v["n"])
            for o in outs for p, v in table[f"{o}"].items()]
    write_csv(out_dir / "final_errors.csv", ["outputs", "p", "mean", "sem", "median", "n_tasks"],
              rows)
    # Advantage of the lowest p over p = 1 at each O (ratio < 1: low p is better).
    lo = f"{min(ps):g}"
    advantage = {f"{o}": table[f"{o}"][lo]["mean"] / table[f"{o}"]["1"]["mean"]
                 for o in outs} if 1.0 in ps else {}
    # The same per task: geometric mean over tasks of final(p) / final(p = 1).
    paired = {f"{o}": {f"{p:g}": table[f"{o}"][f"{p:g}"]["geomean_ratio_to_p1"]
                       for p in ps if p != 1.0} for o in outs} if 1.0 in ps else {}
    ncol = 2 if paired and len(ps) > 1 else 1
    fig, axes = subplots(1, ncol, figsize=(4.2 * ncol, 3.3), squeeze=False)
    ax = axes[0, 0]
    colors = dict(zip(ps, p_colors(ps)))  # any number of p values (6 fixed colours crashed)
    for p in ps:
        m = [table[f"{o}"][f"{p:g}"]["mean"] for o in outs]
        e = [table[f"{o}"][f"{p:g}"]["sem"] for o in outs]
        ax.errorbar(outs, m, yerr=e, marker="o", ms=4, capsize=2, color=colors[p],
                    label=f"p = {p:g}")
    ax.set_xlabel("number of outputs O (O inputs, O/2 grounds)")
    ax.set_ylabel("final scaled error (mean +- s.e.m.)")
    ax.set_title(plot_title("fig4d: 143 edges, discrete, allostery", plan.config), fontsize=9)
    ax.legend(fontsize=7)
    if ncol == 2:
        ax2 = axes[0, 1]
        for p in ps:
            if p != 1.0:
                ax2.plot(outs, [paired[f"{o}"][f"{p:g}"] for o in outs], marker="o", ms=4,
                         color=colors[p], label=f"p = {p:g}")
        ax2.axhline(1.0, color="k", ls="--", lw=0.8)
        ax2.set_yscale("log")
        ax2.set_xlabel("number of outputs O")
        ax2.set_ylabel("final error / same task's at p = 1\n(geometric mean over tasks)")
        ax2.set_title("below 1: low p learns better", fontsize=9)
        ax2.legend(fontsize=7)
    fig.tight_layout()
    atomic_savefig(fig, out_dir / "fig4d.png")
    return {"final_error_by_outputs_and_p": table,
            "ratio_lowest_p_to_p1_by_outputs": advantage,
            "paper_claim": "low-p advantage shrinks as O grows; p curves collapse at large O",
            "hyperparameters": {"learning": cfg["learning"], "volts": VOLTS,
                                "budget_steps_times_p": cfg["budget_steps_times_p"]}}
